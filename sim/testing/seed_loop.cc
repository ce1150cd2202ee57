#include "sim/testing/seed_loop.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace muster::sim::testing {
namespace {

bool ParseU64(const char* text, uint64_t* v) {
  return text != nullptr && absl::SimpleAtoi(absl::string_view(text), v);
}

}  // namespace

SeedRange SeedsFromEnv(const std::string& prefix, SeedRange defaults) {
  uint64_t v = 0;
  if (ParseU64(std::getenv((prefix + "_SEEDS").c_str()), &v) && v > 0) defaults.count = v;
  if (ParseU64(std::getenv((prefix + "_SEED").c_str()), &v) && v > 0) defaults.first = v;
  return defaults;
}

LoopSummary RunSeeds(SeedRange range, const std::function<SeedOutcome(uint64_t)>& run, std::FILE* out,
                     bool print_each) {
  LoopSummary s;
  for (uint64_t seed = range.first; seed < range.first + range.count; ++seed) {
    SeedOutcome o = run(seed);
    ++s.runs;
    if (print_each) {
      std::fprintf(out, "%s fingerprint=%016llx\n", o.summary.c_str(), static_cast<unsigned long long>(o.fingerprint));
    }
    if (!o.ok) {
      ++s.failed;
      if (s.first_failed_seed == 0) s.first_failed_seed = seed;
      std::fprintf(out, "%s\n%s\n", o.summary.c_str(), o.report.c_str());
    }
    std::fflush(out);
  }
  std::fprintf(out, "%llu seeds from %llu, %llu failed\n", static_cast<unsigned long long>(s.runs),
               static_cast<unsigned long long>(range.first), static_cast<unsigned long long>(s.failed));
  return s;
}

HarnessFlags ParseHarnessFlags(int argc, char** argv) {
  HarnessFlags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](uint64_t* v) {
      if (i + 1 >= argc || !ParseU64(argv[i + 1], v)) {
        f.error = absl::StrCat(a, " needs a number");
        return false;
      }
      ++i;
      return true;
    };
    uint64_t v = 0;
    if (a == "--seed") {
      if (value(&v)) f.seeds = {v, 1}, f.single = true;
    } else if (a == "--seeds") {
      if (value(&v)) f.seeds.count = v;
    } else if (a == "--first") {
      if (value(&v)) f.seeds.first = v;
    } else if (a == "--verbose") {
      f.verbose = true;
    } else if (a == "--unsafe") {
      if (i + 1 < argc) {
        f.unsafe = argv[++i];
      } else {
        f.error = "--unsafe needs a rule name";
      }
    } else {
      f.rest.push_back(a);
    }
    if (!f.error.empty()) break;
  }
  return f;
}

std::string CheckDeterministic(uint64_t seed, const std::function<SeedOutcome(uint64_t)>& run) {
  SeedOutcome a = run(seed), b = run(seed);
  if (a.fingerprint == b.fingerprint && a.summary == b.summary) return "";
  return absl::StrCat("seed ", seed, " ran two ways: fingerprint ", a.fingerprint, " vs ", b.fingerprint, "\n  ",
                      a.summary, "\n  ", b.summary);
}

}  // namespace muster::sim::testing
