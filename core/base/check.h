// Always-on assertions for invariants. A broken invariant means the process state can no
// longer be trusted, so it crashes loudly in production too; operating errors (bad input,
// I/O failures, no leader) are absl::Status instead and must never use these.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace muster::internal {

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* expr,
                                     const std::string& detail) {
  std::fprintf(stderr, "%s:%d: CHECK failed: %s %s\n", file, line, expr, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace muster::internal

// MUSTER_CHECK(cond, detail...): detail is anything absl::StrCat accepts.
#define MUSTER_CHECK(cond, ...)                                                 \
  do {                                                                          \
    if (__builtin_expect(!(cond), 0)) {                                         \
      ::muster::internal::CheckFailed(__FILE__, __LINE__, #cond,                \
                                      ::absl::StrCat("" __VA_OPT__(, ) __VA_ARGS__)); \
    }                                                                           \
  } while (0)

#define MUSTER_CHECK_EQ(a, b, ...) MUSTER_CHECK((a) == (b), "(", (a), " vs ", (b), ") " __VA_OPT__(, ) __VA_ARGS__)
#define MUSTER_CHECK_LE(a, b, ...) MUSTER_CHECK((a) <= (b), "(", (a), " vs ", (b), ") " __VA_OPT__(, ) __VA_ARGS__)
#define MUSTER_CHECK_LT(a, b, ...) MUSTER_CHECK((a) < (b), "(", (a), " vs ", (b), ") " __VA_OPT__(, ) __VA_ARGS__)
#define MUSTER_UNREACHABLE(...) \
  ::muster::internal::CheckFailed(__FILE__, __LINE__, "unreachable", ::absl::StrCat("" __VA_OPT__(, ) __VA_ARGS__))
