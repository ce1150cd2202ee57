// Child processes for `watch` (a handler run on every change, the JSON on its stdin) and
// `lock` (the command run while the lock is held). ChildProcess is the seam: the commands
// start children through Environment::start_child, which the binary binds to
// StartChildProcess and tests to scripted children, so neither command's loop needs a real
// process to be tested.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace muster::cli {

struct ChildSpec {
  std::vector<std::string> argv;                               // argv[0] is looked up on PATH
  std::vector<std::pair<std::string, std::string>> extra_env;  // on top of the CLI's own
  // Standard input: these bytes, or else the CLI's own stdin when inherit_stdin, or else
  // /dev/null (Go's exec.Cmd with a nil Stdin). Stdout and stderr are always the CLI's.
  std::optional<std::string> stdin_data;
  bool inherit_stdin = false;
};

struct ChildExit {
  int code = 0;    // the exit status, when it exited
  int signal = 0;  // the signal that ended it, else 0
  bool ok() const { return code == 0 && signal == 0; }
  // As Go's exec.ExitError reads: "exit status 3", "signal: terminated".
  std::string GoText() const;
};

class ChildProcess {
 public:
  virtual ~ChildProcess() = default;
  virtual int pid() const = 0;
  // How it ended, once it has; never blocks.
  virtual std::optional<ChildExit> Poll() = 0;
  virtual void Signal(int signal) = 0;
};

using ChildStarter = std::function<absl::StatusOr<std::unique_ptr<ChildProcess>>(const ChildSpec&)>;

// A real child (posix_spawnp); stdin_data is handed over through an in-memory file, so a child
// that never reads its input cannot block the CLI.
absl::StatusOr<std::unique_ptr<ChildProcess>> StartChildProcess(const ChildSpec& spec);

}  // namespace muster::cli
