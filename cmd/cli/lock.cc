// `muster lock [-n=N] [-name=S] [-timeout=D] [-monitor-retry=N] [-pass-stdin] [-shell=false]
// [-child-exit-code] [-verbose] PREFIX CHILD...`, as Consul's: holds the lock PREFIX/.lock
// (or, with -n above 1, a slot of the semaphore at PREFIX; see kv_lock.h) while CHILD runs
// (`sh -c "CHILD..."`, with CONSUL_LOCK_HELD=true), then gives it back and deletes the lock's
// key if nobody else holds it. If the lock is lost or an interrupt comes, the child gets
// SIGTERM, then SIGKILL after kKillGracePeriod. Exit 0 once the lock is given back, whatever
// the child did, or 2 when it failed and -child-exit-code asks; 1 when the lock could not be
// had or given back. Progress lines (-verbose) go to stdout, as Consul's UI.Info.
#include <signal.h>

#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"
#include "cmd/cli/kv_lock.h"
#include "core/base/go_duration.h"

namespace muster::cli {
namespace {

constexpr std::string_view kLockHelp = R"(Usage: muster lock [options] prefix child...

  Acquires a lock or semaphore at a given path, and invokes a child process
  when successful. The child process can assume the lock is held while it
  executes. If the lock is lost or communication is disrupted the child
  process will be sent a SIGTERM signal and given time to gracefully exit.
  After the grace period expires the process will be hard terminated.

  When -n=1, only a single lock holder or leader exists providing mutual
  exclusion. Setting a higher value switches to a semaphore allowing multiple
  holders to coordinate.

  The prefix provided must have write privileges.
)";

// Consul's lockKillGracePeriod: between SIGTERM and SIGKILL, time for the child to clean up,
// well inside the 15s lock-delay that keeps others from the lock meanwhile.
constexpr absl::Duration kKillGracePeriod = absl::Seconds(5);
// A generated session name (Consul's "... lock for '<child>' at '<prefix>'") is cut to this: it
// is only a label, and the agent refuses names over 256 bytes, which a long child command
// would otherwise reach. A -name the user gives is sent as given.
constexpr size_t kGeneratedSessionNameBytesMax = 200;
// How often the running child is checked for having ended.
constexpr absl::Duration kChildPollInterval = absl::Milliseconds(50);

class LockCommand : public Command {
 public:
  LockCommand() {
    flags_.AddBool("child-exit-code", &child_exit_code_,
                   "Exit 2 if the child process exited with an error if this is true, otherwise this doesn't "
                   "propagate an error from the child. The default value is false.");
    flags_.AddUint64("n", &limit_,
                     "Optional limit on the number of concurrent lock holders. The underlying implementation "
                     "switches from a lock to a semaphore when the value is greater than 1. The default value is 1.");
    flags_.AddUint64("monitor-retry", &monitor_retry_,
                     "Number of times to retry if the agent returns a 500 error while monitoring the lock. This "
                     "allows riding out brief periods of unavailability without causing leader elections, but "
                     "increases the amount of time required to detect a lost lock in some cases. The default value "
                     "is 3, with a 1s wait between retries. Set this value to 0 to disable retires.");
    flags_.AddString("name", &name_,
                     "Optional name to associate with the lock session. It not provided, one is generated based on "
                     "the provided child command.");
    flags_.AddBool("pass-stdin", &pass_stdin_, "Pass stdin to the child process.");
    flags_.AddBool("shell", &shell_,
                   "Use a shell to run the command (can set a custom shell via the SHELL environment variable).");
    flags_.AddDuration("timeout", &timeout_,
                       "Maximum amount of time to wait to acquire the lock, specified as a duration like \"1s\" or "
                       "\"3h\". The default value is 0.");
    flags_.AddDuration("try", &timeout_, "DEPRECATED. Use -timeout instead.");
    flags_.AddBool("verbose", &verbose_, "Enable verbose (debugging) output.");
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Execute a command holding a lock"; }
  std::string Help() const override { return HelpWithFlags(kLockHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    if (limit_ == 0) return Fail(env, "Lock holder limit must be positive");
    const std::vector<std::string>& extra = flags_.args();
    if (extra.size() < 2) return Fail(env, "Key prefix and child command must be specified");
    std::string prefix = extra[0];
    if (!prefix.empty() && prefix[0] == '/') prefix.erase(0, 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();  // as Go's path.Join cleans it
    if (timeout_ < absl::ZeroDuration()) return Fail(env, "Timeout must be positive");
    const std::vector<std::string> child_args(extra.begin() + 1, extra.end());
    if (name_.empty()) {
      name_ = absl::StrCat("muster lock for '", absl::StrJoin(child_args, " "), "' at '", prefix, "'");
      if (name_.size() > kGeneratedSessionNameBytesMax) {
        size_t cut = kGeneratedSessionNameBytesMax - 3;
        while (cut > 0 && (static_cast<unsigned char>(name_[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 rune
        name_ = absl::StrCat(name_.substr(0, cut), "...");
      }
    }

    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) return Fail(env, absl::StrCat("Error connecting to muster agent: ", client.status().message()));
    if (absl::StatusOr<std::string> node = AgentNodeName(*client); !node.ok()) {
      return Fail(env, absl::StrCat("Error querying muster agent: ", node.status().message()));
    }
    if (limit_ > 1 && prefix.empty()) return Fail(env, "Lock setup failed: missing prefix");  // api.SemaphoreOpts
    KvLock lock(*client, env, KvLock::Options{prefix, limit_, name_, timeout_, monitor_retry_});
    if (limit_ == 1) {
      Info(env, absl::StrCat("Setting up lock at path: ", lock.LockKey()));
    } else {
      Info(env, absl::StrCat("Setting up semaphore (limit ", limit_, ") at prefix: ", prefix));
    }
    // From here an interrupt stops the wait or the child, and the lock is given back.
    if (env.catch_interrupts) env.catch_interrupts();
    Info(env, "Attempting lock acquisition");
    if (absl::Status acquired = lock.Acquire(); !acquired.ok()) {
      if (acquired.code() == KvLock::kNotAcquired)
        return Fail(env, "Shutdown triggered or timeout during lock acquisition");
      return Fail(env, absl::StrCat("Lock acquisition failed: ", acquired.message()));
    }

    int child_code = 0;
    if (Interrupted(env)) {
      *env.err << "Shutdown triggered during lock acquisition\n";
    } else {
      child_code = RunChild(child_args, lock, env);
    }

    if (absl::Status released = lock.Release(); !released.ok()) {
      return Fail(env, absl::StrCat("Lock release failed: ", released.message()));
    }
    if (absl::Status cleaned = lock.Cleanup(); !cleaned.ok()) {
      if (cleaned.code() != KvLock::kInUse) return Fail(env, absl::StrCat("Lock cleanup failed: ", cleaned.message()));
      Info(env, "Cleanup aborted, lock in use");
    } else {
      Info(env, "Cleanup succeeded");
    }
    return child_exit_code_ ? child_code : 0;
  }

 private:
  static int Fail(Environment& env, std::string_view line) {
    *env.err << line << "\n";
    return 1;
  }
  static bool Interrupted(Environment& env) { return env.interrupted && env.interrupted(); }
  void Info(Environment& env, std::string_view line) const {
    // Flushed at once: the child writes to the same stdout, and its lines must come after.
    if (verbose_) *env.out << line << "\n" << std::flush;
  }

  // Runs the child while the lock holds: 0 when it ended well, 2 when it failed (or could not
  // start), as Consul's childCode; a child stopped for a lost lock or an interrupt counts 0.
  int RunChild(const std::vector<std::string>& child_args, KvLock& lock, Environment& env) {
    Info(env, "Starting handler");
    ChildSpec spec;
    if (shell_) {
      std::string shell = env.getenv ? env.getenv("SHELL").value_or("") : "";
      if (shell.empty()) shell = "/bin/sh";
      spec.argv = {shell, "-c", absl::StrJoin(child_args, " ")};
    } else {
      spec.argv = child_args;
    }
    spec.extra_env = {{"CONSUL_LOCK_HELD", "true"}};
    if (pass_stdin_) {
      Info(env, "Stdin passed to handler process");
      spec.inherit_stdin = true;
    }
    env.err->flush();
    absl::StatusOr<std::unique_ptr<ChildProcess>> started = env.start_child(spec);
    if (!started.ok()) {
      *env.err << "Error starting handler: " << started.status().message() << "\n";
      Info(env, "Child terminated, releasing lock");
      return 2;
    }
    ChildProcess& child = **started;
    for (;;) {
      if (std::optional<ChildExit> exit = child.Poll()) {
        int code = 0;
        if (!exit->ok()) {
          *env.err << "Error running handler: " << exit->GoText() << "\n";
          code = 2;
        }
        Info(env, "Child terminated, releasing lock");
        return code;
      }
      if (Interrupted(env)) {
        Info(env, "Shutdown triggered, killing child");
        break;
      }
      if (!lock.StillHeld()) {
        Info(env, "Lock lost, killing child");
        break;
      }
      env.sleep(kChildPollInterval);
    }
    Kill(child, env);
    return 0;
  }

  // Consul's killChild: SIGTERM, the grace period, then SIGKILL.
  void Kill(ChildProcess& child, Environment& env) {
    Info(env, absl::StrCat("Terminating child pid ", child.pid()));
    child.Signal(SIGTERM);
    const absl::Time give_up = env.now() + kKillGracePeriod;
    while (env.now() < give_up) {
      if (child.Poll()) {
        Info(env, "Child terminated");
        return;
      }
      env.sleep(kChildPollInterval);
    }
    if (child.Poll()) {
      Info(env, "Child terminated");
      return;
    }
    Info(env, absl::StrCat("Child did not exit after grace period of ", FormatGoDuration(kKillGracePeriod)));
    Info(env, absl::StrCat("Killing child pid ", child.pid()));
    child.Signal(SIGKILL);
  }

  FlagSet flags_;
  HttpFlags http_;
  bool child_exit_code_ = false;
  uint64_t limit_ = 1;
  uint64_t monitor_retry_ = 3;
  std::string name_;
  bool pass_stdin_ = false;
  bool shell_ = true;
  absl::Duration timeout_ = absl::ZeroDuration();
  bool verbose_ = false;
};

}  // namespace

std::unique_ptr<Command> NewLockCommand() { return std::make_unique<LockCommand>(); }

}  // namespace muster::cli
