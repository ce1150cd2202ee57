// What a command touches outside itself: its two output streams, the environment variables,
// stdin and files (for `kv put k -` and `kv put k @file`), the HTTP transport to the agent, and,
// for the commands that wait and run children (watch, lock), the clock, sleeping, child
// processes and interrupts. The binary passes the real ones (cli.cc); tests pass strings, a
// canned transport, a fake clock and scripted children.
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cmd/cli/child_process.h"
#include "cmd/cli/http_client.h"

namespace muster::cli {

struct Environment {
  std::ostream* out = nullptr;  // results (Consul's UI.Output / UI.Info)
  std::ostream* err = nullptr;  // errors (UI.Error)
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  std::function<absl::StatusOr<std::string>()> read_stdin;
  std::function<absl::StatusOr<std::string>(const std::string& path)> read_file;
  HttpTransport* transport = nullptr;

  std::function<absl::Time()> now;
  std::function<void(absl::Duration)> sleep;
  ChildStarter start_child;
  // From this call on, SIGINT and SIGTERM are caught rather than fatal (lock: so it can stop
  // its child and give the lock back first); `interrupted` then says whether one came. Tests
  // use `interrupted` to end a loop that would otherwise run forever.
  std::function<void()> catch_interrupts;
  std::function<bool()> interrupted;
};

}  // namespace muster::cli
