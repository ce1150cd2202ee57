// Real child processes (see child_process.h): posix_spawnp with the CLI's environment plus the
// spec's variables, and stdin from a memfd, /dev/null, or the CLI's own.
#include "cmd/cli/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

extern char** environ;

namespace muster::cli {

std::string ChildExit::GoText() const {
  if (signal != 0) {
    std::string name = strsignal(signal);
    if (!name.empty()) name[0] = absl::ascii_tolower(static_cast<unsigned char>(name[0]));
    return absl::StrCat("signal: ", name);
  }
  return absl::StrCat("exit status ", code);
}

namespace {

class PosixChild : public ChildProcess {
 public:
  explicit PosixChild(pid_t pid) : pid_(pid) {}
  int pid() const override { return pid_; }
  std::optional<ChildExit> Poll() override {
    if (exit_) return exit_;
    int status = 0;
    pid_t rc = waitpid(pid_, &status, WNOHANG);
    if (rc == pid_) {
      ChildExit exit;
      if (WIFEXITED(status)) exit.code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
      exit_ = exit;
    } else if (rc < 0 && errno == ECHILD) {
      exit_ = ChildExit{1, 0};  // reaped elsewhere: it has ended, how is lost
    }
    return exit_;
  }
  void Signal(int signal) override {
    if (!exit_) kill(pid_, signal);
  }

 private:
  pid_t pid_;
  std::optional<ChildExit> exit_;
};

// An in-memory file holding `data`, positioned at its start.
absl::StatusOr<int> MemoryFile(const std::string& data) {
  int fd = memfd_create("muster-child-stdin", MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("memfd_create: ", std::strerror(errno)));
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return absl::InternalError(absl::StrCat("write stdin: ", std::strerror(errno)));
    }
    written += static_cast<size_t>(n);
  }
  lseek(fd, 0, SEEK_SET);
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> StartChildProcess(const ChildSpec& spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("no command to run");
  // The environment: ours, with the spec's variables replacing any of the same name.
  std::map<std::string, std::string> variables;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string text(*entry);
    size_t eq = text.find('=');
    if (eq != std::string::npos) variables[text.substr(0, eq)] = text.substr(eq + 1);
  }
  for (const auto& [name, value] : spec.extra_env) variables[name] = value;
  std::vector<std::string> env_strings;
  for (const auto& [name, value] : variables) env_strings.push_back(absl::StrCat(name, "=", value));
  std::vector<char*> envp;
  for (std::string& text : env_strings) envp.push_back(text.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = spec.argv;
  std::vector<char*> argv;
  for (std::string& text : argv_strings) argv.push_back(text.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  int stdin_fd = -1;
  if (spec.stdin_data) {
    absl::StatusOr<int> fd = MemoryFile(*spec.stdin_data);
    if (!fd.ok()) {
      posix_spawn_file_actions_destroy(&actions);
      return fd.status();
    }
    stdin_fd = *fd;
    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
  } else if (!spec.inherit_stdin) {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (stdin_fd >= 0) close(stdin_fd);
  if (rc != 0) return absl::UnavailableError(absl::StrCat("fork/exec ", spec.argv[0], ": ", std::strerror(rc)));
  return std::make_unique<PosixChild>(pid);
}

}  // namespace muster::cli
