// `sim`: whole clusters of muster agents (the very AgentMachine the libuv agent runs) on the
// deterministic simulator, from the command line: servers and clients, a fault schedule drawn
// from the seed (partitions, kills, pauses, loss, duplication, delay, clock steps), a
// workload, every checker, then a liveness phase. One seed, or many (in parallel processes),
// or a swarm whose every parameter comes from the seed. A failure prints the violated
// property, the last events and one command line that replays it; every run ends with its
// fingerprint (the hash of every input delivered), so two runs of a seed can be compared.
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/agent_sim/generated_run.h"
#include "tests/agent_sim/unsafe_switches.h"

namespace muster::agent_sim {
namespace {

// Parallel runs: one process each; more than this is a typo.
constexpr int kJobsMax = 256;
// A cluster bigger than this is not a simulation anyone means to run from a shell.
constexpr int kAgentsMax = 200;

constexpr char kUsage[] =
    "usage: sim [--nodes N | --servers S --clients C] [--seed X] [--seeds K] [--jobs J]\n"
    "           [--duration D] [--settle-budget D] [--partition] [--kill[=plain|torn|wipe]] [--pause]\n"
    "           [--loss P] [--dup P] [--delay fixed:D|exp:FLOOR+MEAN|uniform:LO-HI] [--clock-skew]\n"
    "           [--bootstrap-expect N] [--workload kv|cas] [--rate R] [--swarm] [--trace off|short|full]\n"
    "           [--check-determinism] [--each] [--unsafe RULE]\n"
    "  --nodes N            N servers (default 3), no clients\n"
    "  --seeds K            K runs from --seed (default 1), a summary at the end; --jobs J processes\n"
    "  --duration D         the safety phase (faults on), simulated (default 20s); then liveness\n"
    "  --kill               crash and restart; =torn: unsynced writes torn; =wipe: some restarts\n"
    "                       with the data dir gone (a new member)\n"
    "  --bootstrap-expect N servers start staggered, each expecting N\n"
    "  --workload           kv: puts of fresh keys, reads in every mode, blocking watchers;\n"
    "                       cas: half of it read-then-cas rounds on four contended keys\n"
    "  --swarm              every parameter but the duration drawn from the seed\n"
    "  --trace              short: the faults and leaders as they happen (default for one seed);\n"
    "                       full: every agent's log too\n"
    "  --check-determinism  run each seed twice: the fingerprints must agree\n"
    "  --each               a summary line for every seed\n";

struct Flags {
  GeneratedConfig config;
  uint64_t seeds = 1;
  int jobs = 1;
  bool check_determinism = false;
  bool each = false;
  bool trace_given = false;
};

void RefuseUnknownUnsafe(const std::string& name) {
  std::fprintf(stderr, "unknown --unsafe %s; one of:\n", name.c_str());
  for (const UnsafeSwitch& u : UnsafeSwitches()) {
    std::fprintf(stderr, "  %-30s %s\n", std::string(u.name).c_str(), std::string(u.rule).c_str());
  }
}

bool ParseArgs(int argc, char** argv, Flags* f, std::string* error) {
  bool nodes_given = false, servers_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    const size_t eq = arg.find('=');
    if (eq != std::string::npos && arg.rfind("--", 0) == 0) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto need = [&](std::string* out) {
      if (has_value) {
        *out = value;
        return true;
      }
      if (i + 1 >= argc) {
        *error = absl::StrCat(arg, " needs a value");
        return false;
      }
      *out = argv[++i];
      return true;
    };
    auto number = [&](uint64_t* out) {
      std::string text;
      if (!need(&text)) return false;
      if (!absl::SimpleAtoi(absl::string_view(text), out)) {
        *error = absl::StrCat(arg, " needs a number, not ", text);
        return false;
      }
      return true;
    };
    auto fraction = [&](double* out) {
      std::string text;
      if (!need(&text)) return false;
      if (!absl::SimpleAtod(absl::string_view(text), out) || *out < 0 || *out > 1) {
        *error = absl::StrCat(arg, " needs a probability in [0, 1], not ", text);
        return false;
      }
      return true;
    };
    auto duration = [&](Duration* out) {
      std::string text;
      if (!need(&text)) return false;
      absl::Duration d;
      if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration()) {
        *error = absl::StrCat(arg, " needs a positive duration (20s, 1m30s), not ", text);
        return false;
      }
      *out = d;
      return true;
    };
    GeneratedConfig& c = f->config;
    uint64_t n = 0;
    std::string text;
    if (arg == "--help" || arg == "-h") {
      *error = "";
      return false;
    } else if (arg == "--nodes") {
      if (!number(&n)) return false;
      c.servers = static_cast<int>(n);
      c.clients = 0;
      nodes_given = true;
    } else if (arg == "--servers") {
      if (!number(&n)) return false;
      c.servers = static_cast<int>(n);
      servers_given = true;
    } else if (arg == "--clients") {
      if (!number(&n)) return false;
      c.clients = static_cast<int>(n);
      servers_given = true;
    } else if (arg == "--seed") {
      if (!number(&c.seed)) return false;
    } else if (arg == "--seeds") {
      if (!number(&f->seeds)) return false;
    } else if (arg == "--jobs") {
      if (!number(&n)) return false;
      f->jobs = static_cast<int>(std::min<uint64_t>(n, kJobsMax));
    } else if (arg == "--duration") {
      if (!duration(&c.duration)) return false;
    } else if (arg == "--settle-budget") {
      if (!duration(&c.settle_budget)) return false;
    } else if (arg == "--partition") {
      c.partition = true;
    } else if (arg == "--kill") {
      const std::string mode = has_value ? value : "plain";
      if (mode == "plain") {
        c.kill = KillMode::kPlain;
      } else if (mode == "torn") {
        c.kill = KillMode::kTorn;
      } else if (mode == "wipe") {
        c.kill = KillMode::kWipe;
      } else {
        *error = absl::StrCat("--kill=", mode, ": plain, torn or wipe");
        return false;
      }
    } else if (arg == "--pause") {
      c.pause = true;
    } else if (arg == "--loss") {
      if (!fraction(&c.loss)) return false;
    } else if (arg == "--dup") {
      if (!fraction(&c.dup)) return false;
    } else if (arg == "--delay") {
      if (!need(&text) || !ParseDelay(text, &c.delay, error)) return false;
    } else if (arg == "--clock-skew") {
      c.clock_skew = true;
    } else if (arg == "--bootstrap-expect") {
      if (!number(&n)) return false;
      c.bootstrap_expect = static_cast<int>(n);
    } else if (arg == "--workload") {
      if (!need(&text)) return false;
      if (text == "kv") {
        c.workload = WorkloadKind::kKv;
      } else if (text == "cas") {
        c.workload = WorkloadKind::kCas;
      } else {
        *error = absl::StrCat("--workload ", text, ": kv or cas (register, lock, events, mixed: not yet)");
        return false;
      }
    } else if (arg == "--rate") {
      if (!number(&n)) return false;
      c.rate = static_cast<int>(std::max<uint64_t>(1, std::min<uint64_t>(n, 1000)));
    } else if (arg == "--swarm") {
      c.swarm = true;
    } else if (arg == "--trace") {
      if (!need(&text)) return false;
      f->trace_given = true;
      if (text == "off") {
        c.trace = TraceLevel::kOff;
      } else if (text == "short") {
        c.trace = TraceLevel::kShort;
      } else if (text == "full") {
        c.trace = TraceLevel::kFull;
      } else {
        *error = "--trace: off, short or full";
        return false;
      }
    } else if (arg == "--check-determinism") {
      f->check_determinism = true;
    } else if (arg == "--each") {
      f->each = true;
    } else if (arg == "--unsafe") {
      if (!need(&text)) return false;
      const UnsafeSwitch* u = FindUnsafeSwitch(text);
      if (u == nullptr) {
        RefuseUnknownUnsafe(text);
        *error = "unknown --unsafe";
        return false;
      }
      c.unsafe_name = std::string(u->name);
      c.mutate = u->apply;
    } else {
      *error = absl::StrCat("unknown argument ", argv[i]);
      return false;
    }
  }
  GeneratedConfig& c = f->config;
  if (nodes_given && servers_given) {
    *error = "--nodes or --servers/--clients, not both";
    return false;
  }
  if (c.servers < 1 || c.servers + c.clients > kAgentsMax) {
    *error = absl::StrCat("between 1 server and ", kAgentsMax, " agents in all");
    return false;
  }
  if (c.bootstrap_expect > c.servers) {
    *error = absl::StrCat("--bootstrap-expect ", c.bootstrap_expect, " with ", c.servers,
                          " servers never bootstraps (no leader: liveness would fail by construction)");
    return false;
  }
  if (f->seeds == 0 || f->jobs == 0) {
    *error = "--seeds and --jobs start at 1";
    return false;
  }
  if (!f->trace_given) c.trace = f->seeds == 1 ? TraceLevel::kShort : TraceLevel::kOff;
  return true;
}

// What one seed sends back to the parent (one line through a pipe with --jobs).
struct SeedLine {
  uint64_t seed = 0;
  bool ok = true;
  uint64_t fingerprint = 0;
  int64_t virtual_ms = 0;
  uint64_t events = 0;
};

// Runs one seed (twice with --check-determinism); prints its failure (and with --each its
// summary) to stdout in one write, so parallel processes' lines do not interleave.
SeedLine RunOne(const Flags& f, uint64_t seed, bool single) {
  GeneratedConfig c = f.config;
  c.seed = seed;
  std::string out;
  if (single) {
    std::string knobs;
    const GeneratedConfig drawn = c.swarm ? DrawSwarm(c, &knobs) : c;
    absl::StrAppend(&out, "sim: ", DescribeConfig(drawn), "\n");
    if (!knobs.empty()) absl::StrAppend(&out, "  swarm drew: ", knobs, "\n");
    absl::StrAppend(&out, "safety phase: faults on for ", absl::FormatDuration(c.duration),
                    ", checkers after every step; then liveness: heal, restart, settle within ",
                    absl::FormatDuration(c.settle_budget), "\n");
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
    out.clear();
  }
  GeneratedResult r = RunGenerated(c, single ? stdout : nullptr);
  SeedLine line{seed, r.outcome.ok, r.outcome.fingerprint, absl::ToInt64Milliseconds(r.virtual_time), r.events};
  if (single) {
    absl::StrAppend(&out, "did: ", r.outcome.summary, "\nchecked:\n", r.checked);
  } else if (f.each) {
    absl::StrAppend(&out, r.outcome.summary, " fingerprint=", absl::Hex(r.outcome.fingerprint, absl::kZeroPad16), "\n");
  }
  if (!r.outcome.ok) {
    absl::StrAppend(&out, single ? "" : absl::StrCat(r.outcome.summary, "\n"), r.outcome.report, "\n");
  }
  if (f.check_determinism && r.outcome.ok) {
    GeneratedResult again = RunGenerated(c, nullptr);
    if (again.outcome.fingerprint != r.outcome.fingerprint || again.outcome.summary != r.outcome.summary) {
      line.ok = false;
      absl::StrAppend(&out, "FAIL seed=", seed, " nondeterministic: fingerprint ",
                      absl::Hex(r.outcome.fingerprint, absl::kZeroPad16), " then ",
                      absl::Hex(again.outcome.fingerprint, absl::kZeroPad16), "\n  ", r.outcome.summary, "\n  ",
                      again.outcome.summary, "\n  reproduce: ", ReproCommand(c), " --check-determinism\n");
    } else if (single) {
      absl::StrAppend(&out, "determinism: ran twice, same fingerprint\n");
    }
  }
  if (single) {
    absl::StrAppend(&out, line.ok ? "PASS" : "FAIL", " fingerprint=", absl::Hex(r.outcome.fingerprint, absl::kZeroPad16),
                    "\n");
  }
  if (!out.empty()) {
    std::fflush(stdout);  // the trace's lines first
    (void)!write(STDOUT_FILENO, out.data(), out.size());
  }
  return line;
}

struct Totals {
  uint64_t runs = 0, failed = 0, first_failed = 0, events = 0;
  int64_t virtual_ms = 0;
  void Add(const SeedLine& l) {
    runs++;
    events += l.events;
    virtual_ms += l.virtual_ms;
    if (!l.ok) {
      failed++;
      if (first_failed == 0 || l.seed < first_failed) first_failed = l.seed;
    }
  }
};

// --jobs J: J processes, process j running seeds first+j, first+j+J, ...; each sends a line
// per seed through its pipe.
Totals RunParallel(const Flags& f) {
  std::vector<pid_t> children;
  std::vector<int> reads;
  std::fflush(stdout);
  for (int j = 0; j < f.jobs; ++j) {
    int fds[2];
    if (pipe(fds) != 0) std::abort();
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      for (uint64_t s = f.config.seed + j; s < f.config.seed + f.seeds; s += f.jobs) {
        const SeedLine l = RunOne(f, s, false);
        const std::string text = absl::StrCat(l.seed, " ", l.ok ? 1 : 0, " ", l.fingerprint, " ", l.virtual_ms, " ",
                                              l.events, "\n");
        (void)!write(fds[1], text.data(), text.size());
      }
      close(fds[1]);
      _exit(0);
    }
    close(fds[1]);
    children.push_back(pid);
    reads.push_back(fds[0]);
  }
  Totals t;
  std::vector<std::string> partial(reads.size());
  size_t open = reads.size();
  while (open > 0) {
    std::vector<pollfd> polls;
    for (int fd : reads) polls.push_back(pollfd{fd, POLLIN, 0});  // fd -1: ignored by poll
    if (poll(polls.data(), polls.size(), -1) < 0) continue;
    for (size_t k = 0; k < polls.size(); ++k) {
      if (reads[k] < 0 || (polls[k].revents & (POLLIN | POLLHUP)) == 0) continue;
      char buf[4096];
      const ssize_t got = read(reads[k], buf, sizeof(buf));
      if (got <= 0) {
        close(reads[k]);
        reads[k] = -1;
        open--;
        continue;
      }
      partial[k].append(buf, static_cast<size_t>(got));
      size_t nl;
      while ((nl = partial[k].find('\n')) != std::string::npos) {
        SeedLine l;
        unsigned long long seed, fp, events;
        long long ms;
        int ok;
        if (std::sscanf(partial[k].substr(0, nl).c_str(), "%llu %d %llu %lld %llu", &seed, &ok, &fp, &ms, &events) == 5) {
          l = SeedLine{seed, ok == 1, fp, ms, events};
          t.Add(l);
        }
        partial[k].erase(0, nl + 1);
      }
    }
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::printf("a worker process ended abnormally (status %d): a CHECK failure in a run? rerun its seeds with --jobs 1\n",
                  status);
      t.failed++;
    }
  }
  return t;
}

}  // namespace
}  // namespace muster::agent_sim

int main(int argc, char** argv) {
  using namespace muster::agent_sim;
  Flags f;
  std::string error;
  if (!ParseArgs(argc, argv, &f, &error)) {
    if (error.empty()) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "sim: %s (sim --help lists the flags)\n", error.c_str());
    return 2;
  }
  if (f.seeds == 1) {
    const SeedLine l = RunOne(f, f.config.seed, true);
    return l.ok ? 0 : 1;
  }
  const auto start = std::chrono::steady_clock::now();
  Totals t;
  if (f.jobs > 1) {
    t = RunParallel(f);
  } else {
    for (uint64_t s = f.config.seed; s < f.config.seed + f.seeds; ++s) t.Add(RunOne(f, s, false));
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double simulated = static_cast<double>(t.virtual_ms) / 1000;
  std::printf("%llu seeds from %llu (%s%s), %llu failed", static_cast<unsigned long long>(t.runs),
              static_cast<unsigned long long>(f.config.seed),
              f.config.swarm ? "swarm" : DescribeConfig(f.config).c_str(),
              f.check_determinism ? ", each run twice" : "", static_cast<unsigned long long>(t.failed));
  if (t.first_failed != 0) std::printf(" (first: seed %llu)", static_cast<unsigned long long>(t.first_failed));
  std::printf("\n%.1f s wall over %d process(es), %.0f s simulated (%.0fx the wall clock), %.2fM machine steps\n",
              wall, f.jobs, simulated, wall > 0 ? simulated / wall : 0.0, static_cast<double>(t.events) / 1e6);
  return t.failed == 0 ? 0 : 1;
}
