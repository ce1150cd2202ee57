// `sim`: whole clusters of muster agents (the very AgentMachine the libuv agent runs) on the
// deterministic simulator, from the command line: servers and clients, a fault schedule drawn
// from the seed (partitions, kills, pauses, loss, duplication, delay, clock steps), a
// workload, every checker, then a liveness phase. One seed, or many (in parallel processes),
// or a swarm whose every parameter comes from the seed. A failure prints the violated
// property, the last events and one command line that replays it; every run ends with its
// fingerprint (the hash of every input delivered), so two runs of a seed can be compared. A
// run may also be a written schedule (--scenario FILE, tests/scenarios/README.md); any run
// prints as one (--print-scenario), and a failing one shrinks to a smaller one (--shrink).
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/agent_sim/generated_run.h"
#include "tests/agent_sim/scenario_file.h"
#include "tests/agent_sim/shrink.h"
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
    "           [--bootstrap-expect N] [--workload kv|cas|register|lock|events|mixed] [--rate R] [--swarm] [--trace off|short|full]\n"
    "           [--check-determinism] [--each] [--unsafe RULE]\n"
    "       sim --scenario FILE [--seed X] [--seeds K] [--jobs J] [--trace ...] [--unsafe RULE] ...\n"
    "       sim ... [--print-scenario] [--shrink [--shrink-runs N] [--shrink-out FILE]]\n"
    "  --nodes N            N servers (default 3), no clients\n"
    "  --seeds K            K runs from --seed (default 1), a summary at the end; --jobs J processes\n"
    "  --duration D         the safety phase (faults on), simulated (default 20s); then liveness\n"
    "  --kill               crash and restart; =torn: unsynced writes torn; =wipe: some restarts\n"
    "                       with the data dir gone (a new member)\n"
    "  --bootstrap-expect N servers start staggered, each expecting N\n"
    "  --workload           kv: puts of fresh keys, reads in every mode, blocking watchers;\n"
    "                       cas: half of it read-then-cas rounds on four contended keys;\n"
    "                       register: half of it clients (un)registering services, flipping TTL\n"
    "                       checks; lock: half of it sessions taking and giving locks; events:\n"
    "                       half of it user events fired; mixed: a fifth each of cas, register,\n"
    "                       lock, events and kv\n"
    "  --swarm              every parameter but the duration drawn from the seed\n"
    "  --trace              short: the faults and leaders as they happen (default for one seed);\n"
    "                       full: every agent's log too\n"
    "  --check-determinism  run each seed twice: the fingerprints must agree\n"
    "  --each               a summary line for every seed\n"
    "  --scenario FILE      run a written schedule (tests/scenarios/README.md: the format) instead\n"
    "                       of drawing one; its `seed` line is the default --seed\n"
    "  --print-scenario     run, then print what ran as a scenario file that replays it (stdout;\n"
    "                       the verdict on stderr)\n"
    "  --shrink             for a failing run: search for a smaller failing one (fewer faults,\n"
    "                       fewer clients and servers, a shorter safety phase), each candidate\n"
    "                       run again; prints the smallest as a scenario file and its command\n"
    "                       (written to --shrink-out, default /tmp/sim-shrunk-SEED.scenario);\n"
    "                       --shrink-runs bounds the candidates run (default 400)\n";

struct Flags {
  GeneratedConfig config;
  uint64_t seeds = 1;
  int jobs = 1;
  bool check_determinism = false;
  bool each = false;
  bool trace_given = false;
  bool seed_given = false;
  // --scenario: the file's schedule replaces the generator's flags.
  std::string scenario_path;
  Schedule scenario;
  bool print_scenario = false;
  bool shrink = false;
  uint64_t shrink_runs = 400;
  std::string shrink_out;
};

// A path as the user typed it: `bazel run` starts us in the runfiles, so a relative one is
// looked up where the command was typed.
std::string UserPath(const std::string& path) {
  const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || dir == nullptr) return path;
  return absl::StrCat(dir, "/", path);
}

bool ReadScenario(const std::string& path, Schedule* out, std::string* error) {
  std::ifstream in(UserPath(path));
  if (!in) {
    *error = absl::StrCat("--scenario ", path, ": cannot read it");
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseScenario(text.str(), path, out, error);
}

void RefuseUnknownUnsafe(const std::string& name) {
  std::fprintf(stderr, "unknown --unsafe %s; one of:\n", name.c_str());
  for (const UnsafeSwitch& u : UnsafeSwitches()) {
    std::fprintf(stderr, "  %-30s %s\n", std::string(u.name).c_str(), std::string(u.rule).c_str());
  }
}

bool ParseArgs(int argc, char** argv, Flags* f, std::string* error) {
  bool nodes_given = false, servers_given = false;
  std::string generator_flag;  // one given (none may go with --scenario)
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
      generator_flag = arg;
      if (!number(&n)) return false;
      c.servers = static_cast<int>(n);
      c.clients = 0;
      nodes_given = true;
    } else if (arg == "--servers") {
      generator_flag = arg;
      if (!number(&n)) return false;
      c.servers = static_cast<int>(n);
      servers_given = true;
    } else if (arg == "--clients") {
      generator_flag = arg;
      if (!number(&n)) return false;
      c.clients = static_cast<int>(n);
      servers_given = true;
    } else if (arg == "--seed") {
      if (!number(&c.seed)) return false;
      f->seed_given = true;
    } else if (arg == "--scenario") {
      if (!need(&f->scenario_path)) return false;
      if (!ReadScenario(f->scenario_path, &f->scenario, error)) return false;
    } else if (arg == "--print-scenario") {
      f->print_scenario = true;
    } else if (arg == "--shrink") {
      f->shrink = true;
    } else if (arg == "--shrink-runs") {
      if (!number(&f->shrink_runs)) return false;
    } else if (arg == "--shrink-out") {
      if (!need(&f->shrink_out)) return false;
    } else if (arg == "--seeds") {
      if (!number(&f->seeds)) return false;
    } else if (arg == "--jobs") {
      if (!number(&n)) return false;
      f->jobs = static_cast<int>(std::min<uint64_t>(n, kJobsMax));
    } else if (arg == "--duration") {
      generator_flag = arg;
      if (!duration(&c.duration)) return false;
    } else if (arg == "--settle-budget") {
      if (!duration(&c.settle_budget)) return false;
    } else if (arg == "--partition") {
      generator_flag = arg;
      c.partition = true;
    } else if (arg == "--kill") {
      generator_flag = arg;
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
      generator_flag = arg;
      c.pause = true;
    } else if (arg == "--loss") {
      generator_flag = arg;
      if (!fraction(&c.loss)) return false;
    } else if (arg == "--dup") {
      generator_flag = arg;
      if (!fraction(&c.dup)) return false;
    } else if (arg == "--delay") {
      generator_flag = arg;
      if (!need(&text) || !ParseDelay(text, &c.delay, error)) return false;
    } else if (arg == "--clock-skew") {
      generator_flag = arg;
      c.clock_skew = true;
    } else if (arg == "--bootstrap-expect") {
      generator_flag = arg;
      if (!number(&n)) return false;
      c.bootstrap_expect = static_cast<int>(n);
    } else if (arg == "--workload") {
      generator_flag = arg;
      if (!need(&text)) return false;
      if (!ParseWorkloadName(text, &c.workload)) {
        *error = absl::StrCat("--workload ", text, ": one of ", WorkloadNames());
        return false;
      }
    } else if (arg == "--rate") {
      generator_flag = arg;
      if (!number(&n)) return false;
      c.rate = static_cast<int>(std::max<uint64_t>(1, std::min<uint64_t>(n, 1000)));
    } else if (arg == "--swarm") {
      generator_flag = arg;
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
  if (!f->scenario_path.empty()) {
    if (!generator_flag.empty()) {
      *error = absl::StrCat(generator_flag, " with --scenario: the file holds the cluster, the faults and the workload");
      return false;
    }
    if (!f->seed_given) c.seed = f->scenario.seed;
    if (c.settle_budget != GeneratedConfig().settle_budget) f->scenario.settle_budget = c.settle_budget;
  }
  if (f->shrink && f->seeds != 1) {
    *error = "--shrink takes one failing seed (--seed X), not --seeds";
    return false;
  }
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
  if (!f->trace_given) {
    c.trace = f->seeds == 1 && !f->print_scenario && !f->shrink ? TraceLevel::kShort : TraceLevel::kOff;
  }
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

// The command line that replays a scenario file's run.
std::string ScenarioRepro(const Flags& f, uint64_t seed) {
  return absl::StrCat("bazel run //cmd:sim -- --scenario ", f.scenario_path, " --seed ", seed,
                      f.config.unsafe_name.empty() ? "" : " --unsafe " + f.config.unsafe_name, " --trace short");
}

ScheduleRunOptions ScenarioOptions(const Flags& f, uint64_t seed, TraceLevel trace) {
  ScheduleRunOptions o;
  o.seed = seed;
  o.unsafe_name = f.config.unsafe_name;
  o.mutate = f.config.mutate;
  o.trace = trace;
  o.repro = ScenarioRepro(f, seed);
  return o;
}

// One run of `seed`: the scenario file's schedule, or one drawn from the flags.
GeneratedResult RunSeed(const Flags& f, uint64_t seed, std::FILE* trace) {
  if (!f.scenario_path.empty()) return RunSchedule(f.scenario, ScenarioOptions(f, seed, f.config.trace), trace);
  GeneratedConfig c = f.config;
  c.seed = seed;
  return RunGenerated(c, trace);
}

std::string ReproOf(const Flags& f, uint64_t seed) {
  if (!f.scenario_path.empty()) return ScenarioRepro(f, seed);
  GeneratedConfig c = f.config;
  c.seed = seed;
  return ReproCommand(c);
}

// Runs one seed (twice with --check-determinism); prints its failure (and with --each its
// summary) to stdout in one write, so parallel processes' lines do not interleave.
SeedLine RunOne(const Flags& f, uint64_t seed, bool single) {
  GeneratedConfig c = f.config;
  c.seed = seed;
  std::string out;
  if (single && !f.scenario_path.empty()) {
    absl::StrAppend(&out, "sim: scenario ", f.scenario_path, " seed=", seed, " servers=", f.scenario.servers,
                    " clients=", f.scenario.clients, " actions=", f.scenario.actions.size(),
                    c.unsafe_name.empty() ? "" : " unsafe=" + c.unsafe_name, "\n");
    absl::StrAppend(&out, "safety phase: the file's actions for ", absl::FormatDuration(f.scenario.duration),
                    ", checkers after every step; then liveness: heal, restart, settle within ",
                    absl::FormatDuration(f.scenario.settle_budget), "\n");
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
    out.clear();
  } else if (single) {
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
  GeneratedResult r = RunSeed(f, seed, single ? stdout : nullptr);
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
    Flags quiet = f;
    quiet.config.trace = TraceLevel::kOff;
    GeneratedResult again = RunSeed(quiet, seed, nullptr);
    if (again.outcome.fingerprint != r.outcome.fingerprint || again.outcome.summary != r.outcome.summary) {
      line.ok = false;
      absl::StrAppend(&out, "FAIL seed=", seed, " nondeterministic: fingerprint ",
                      absl::Hex(r.outcome.fingerprint, absl::kZeroPad16), " then ",
                      absl::Hex(again.outcome.fingerprint, absl::kZeroPad16), "\n  ", r.outcome.summary, "\n  ",
                      again.outcome.summary, "\n  reproduce: ", ReproOf(f, seed), " --check-determinism\n");
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

std::string Fingerprint(uint64_t f) { return absl::StrCat(absl::Hex(f, absl::kZeroPad16)); }

// --print-scenario: the run, then what ran as a scenario file on stdout.
int PrintScenario(const Flags& f) {
  const uint64_t seed = f.config.seed;
  const GeneratedResult r = RunSeed(f, seed, nullptr);
  const std::string comment = absl::StrCat("what ran under: ", ReproOf(f, seed), "\n", r.outcome.ok ? "PASS" : "FAIL",
                                           " fingerprint=", Fingerprint(r.outcome.fingerprint), "\n",
                                           "replay: bazel run //cmd:sim -- --scenario THIS_FILE",
                                           f.config.unsafe_name.empty() ? "" : " --unsafe " + f.config.unsafe_name);
  std::fputs(FormatScenario(r.schedule, comment).c_str(), stdout);
  std::fprintf(stderr, "%s fingerprint=%s\n%s", r.outcome.ok ? "PASS" : "FAIL", Fingerprint(r.outcome.fingerprint).c_str(),
               r.outcome.ok ? "" : (r.outcome.report + "\n").c_str());
  return r.outcome.ok ? 0 : 1;
}

// --shrink: a failing run made smaller, printed as a scenario file and written out.
int ShrinkRun(const Flags& f) {
  const uint64_t seed = f.config.seed;
  const GeneratedResult first = RunSeed(f, seed, nullptr);
  if (first.outcome.ok) {
    std::printf("sim: %s passes: nothing to shrink\n", ReproOf(f, seed).c_str());
    return 2;
  }
  std::printf("shrinking: %s\n  failed at t=%s: %s\n", ReproOf(f, seed).c_str(),
              absl::FormatDuration(absl::Trunc(first.failed_at, absl::Milliseconds(1))).c_str(),
              first.outcome.report.substr(0, first.outcome.report.find('\n')).c_str());
  // A scenario file as written; a generated run as it ran (every fault it drew, with its time).
  Schedule start = f.scenario_path.empty() ? first.schedule : f.scenario;
  start.seed = seed;
  ScheduleRunOptions options = ScenarioOptions(f, seed, TraceLevel::kOff);
  // A candidate's failure (empty: it passed); the shrinker keeps only those of first's property.
  auto run = [&](const Schedule& candidate) {
    const GeneratedResult r = RunSchedule(candidate, options, nullptr);
    return r.outcome.ok ? std::string() : r.outcome.report;
  };
  const std::string replayed = run(start);
  if (FailureProperty(replayed) != FailureProperty(first.outcome.report)) {
    std::printf("FAIL: the run's schedule, replayed as a scenario, %s (the replay is not exact: a bug in the "
                "schedule's recording)\n",
                replayed.empty() ? "passes" : ("fails otherwise: " + replayed.substr(0, replayed.find('\n'))).c_str());
    return 1;
  }
  const ShrinkResult s = Shrink(start, first.outcome.report, first.failed_at, run, static_cast<int>(f.shrink_runs));
  const std::string last_failure = run(s.smallest);  // its failure, to print
  std::printf("property kept: %s (%d smaller runs failing otherwise refused)\n", s.property.c_str(), s.other_failures);
  for (const std::string& step : s.steps) std::printf("  %s\n", step.c_str());
  for (const std::string& cut : s.refused) std::printf("  refused (fails otherwise): %s\n", cut.c_str());
  const std::string out_path = f.shrink_out.empty() ? absl::StrCat("/tmp/sim-shrunk-", seed, ".scenario") : f.shrink_out;
  const std::string command = absl::StrCat("bazel run //cmd:sim -- --scenario ", out_path, " --seed ", seed,
                                           f.config.unsafe_name.empty() ? "" : " --unsafe " + f.config.unsafe_name);
  const std::string text =
      FormatScenario(s.smallest, absl::StrCat("shrunk by sim --shrink from: ", ReproOf(f, seed), "\nreplay: ", command));
  std::ofstream(UserPath(out_path)) << text;
  std::printf("shrunk in %d runs: %zu -> %zu faults, %d+%d -> %d+%d agents, duration %s -> %s\n%s\n", s.runs,
              FaultCount(start), FaultCount(s.smallest), start.servers, start.clients, s.smallest.servers,
              s.smallest.clients, absl::FormatDuration(start.duration).c_str(),
              absl::FormatDuration(s.smallest.duration).c_str(), text.c_str());
  std::printf("still fails: %s\nreproduce: %s\n", last_failure.substr(0, last_failure.find('\n')).c_str(), command.c_str());
  return 0;
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
  if (f.print_scenario) return PrintScenario(f);
  if (f.shrink) return ShrinkRun(f);
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
              !f.scenario_path.empty() ? absl::StrCat("scenario ", f.scenario_path).c_str()
              : f.config.swarm         ? "swarm"
                                       : DescribeConfig(f.config).c_str(),
              f.check_determinism ? ", each run twice" : "", static_cast<unsigned long long>(t.failed));
  if (t.first_failed != 0) std::printf(" (first: seed %llu)", static_cast<unsigned long long>(t.first_failed));
  std::printf("\n%.1f s wall over %d process(es), %.0f s simulated (%.0fx the wall clock), %.2fM machine steps\n",
              wall, f.jobs, simulated, wall > 0 ? simulated / wall : 0.0, static_cast<double>(t.events) / 1e6);
  return t.failed == 0 ? 0 : 1;
}
