// The long randomized decoder run, outside make test:
//   bazel run //tests/fuzz:fuzz -- --seconds=600 [--target=raft] [--seed=7]
// Splits the time over the targets (all by default), prints inputs run, inputs/s and peak
// resident memory per target, and exits non-zero on a bound violation or if memory grows past
// --rss_mib. A crash or failed check writes the input to fuzz-crash-<target>-<seed>.bin.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/stubs/logging.h"
#include "tests/fuzz/fuzz_loop.h"

namespace {

char crash_path[256];

void OnCrash(int sig) {
  const std::string& input = muster::fuzz::CurrentInput();
  int fd = ::open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    ssize_t n = ::write(fd, input.data(), input.size());
    (void)n;
    ::close(fd);
  }
  const char msg[] = "fuzz: crashed; the input is in the file named by the line above\n";
  ssize_t n = ::write(2, msg, sizeof msg - 1);
  (void)n;
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

std::string Flag(int argc, char** argv, const char* name, std::string fallback) {
  const std::string prefix = absl::StrCat("--", name, "=");
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return argv[i] + prefix.size();
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--seconds=", 0) != 0 && a.rfind("--target=", 0) != 0 && a.rfind("--seed=", 0) != 0 &&
        a.rfind("--rss_mib=", 0) != 0) {
      std::fprintf(stderr, "usage: fuzz [--seconds=N] [--target=gossip|raft|state|snapshot|frame] [--seed=S] [--rss_mib=M]\n");
      return 2;
    }
  }
  // Protobuf logs every string field with invalid UTF-8 it refuses; garbage is the point here.
  google::protobuf::SetLogHandler(nullptr);
  int64_t seconds = 60, rss_mib = 1024;
  uint64_t seed = 1;
  if (!absl::SimpleAtoi(Flag(argc, argv, "seconds", "60"), &seconds) ||
      !absl::SimpleAtoi(Flag(argc, argv, "seed", "1"), &seed) ||
      !absl::SimpleAtoi(Flag(argc, argv, "rss_mib", "1024"), &rss_mib)) {
    std::fprintf(stderr, "fuzz: --seconds, --seed and --rss_mib take whole numbers\n");
    return 2;
  }
  std::vector<std::string> names = muster::fuzz::TargetNames();
  if (std::string t = Flag(argc, argv, "target", ""); !t.empty()) names = {t};
  int failures = 0;
  for (const std::string& name : names) {
    std::unique_ptr<muster::fuzz::FuzzTarget> target = muster::fuzz::MakeTarget(name, seed);
    if (target == nullptr) {
      std::fprintf(stderr, "fuzz: unknown target %s\n", name.c_str());
      return 2;
    }
    std::snprintf(crash_path, sizeof crash_path, "fuzz-crash-%s-%llu.bin", name.c_str(),
                  static_cast<unsigned long long>(seed));
    std::fprintf(stderr, "fuzz: %s, seed %llu; a crash writes its input to %s\n", name.c_str(),
                 static_cast<unsigned long long>(seed), crash_path);
    std::signal(SIGABRT, OnCrash);
    std::signal(SIGSEGV, OnCrash);
    std::signal(SIGBUS, OnCrash);
    std::signal(SIGFPE, OnCrash);
    muster::fuzz::LoopOptions o;
    o.seed = seed;
    o.duration = absl::Seconds(seconds) / static_cast<int64_t>(names.size());
    const absl::Time start = absl::Now();
    muster::fuzz::LoopResult r = muster::fuzz::RunLoop(*target, o);
    const double secs = absl::ToDoubleSeconds(absl::Now() - start);
    const bool rss_ok = r.resident_bytes_max <= static_cast<size_t>(rss_mib) << 20;
    std::printf("%-8s corpus %4zu  inputs %9llu  %8.0f/s  answered %8llu  peak RSS %6.1f MiB  %s\n", name.c_str(),
                target->corpus().size(), static_cast<unsigned long long>(r.inputs), r.inputs / secs,
                static_cast<unsigned long long>(target->inputs_answered()),
                r.resident_bytes_max / 1048576.0,
                !r.bound_violation.empty() ? ("BOUND: " + r.bound_violation).c_str() : rss_ok ? "ok" : "RSS over limit");
    std::fflush(stdout);
    if (std::string d = target->Describe(); !d.empty()) std::printf("         last victim: %s\n", d.c_str());
    if (!r.bound_violation.empty() || !rss_ok) ++failures;
  }
  return failures == 0 ? 0 : 1;
}
