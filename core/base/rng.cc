#include "core/base/rng.h"


#include "core/base/check.h"
#include "core/base/portable_math.h"

namespace muster {
namespace {
inline uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Rng::Rng(uint64_t seed) {
  uint64_t sm = seed;
  for (uint64_t& word : s_) word = SplitMix64(sm);
}

uint64_t Rng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

uint64_t Rng::Uniform(uint64_t n) {
  MUSTER_CHECK(n > 0);
  // Reject the top partial bucket so every value in [0, n) is equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    uint64_t x = Next();
    if (x < limit) return x % n;
  }
  MUSTER_UNREACHABLE("Rng::Uniform rejected 1000 draws in a row");
}

int64_t Rng::UniformInRange(int64_t lo, int64_t hi) {
  MUSTER_CHECK_LE(lo, hi);
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  if (span == UINT64_MAX) return static_cast<int64_t>(Next());
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + Uniform(span + 1));
}

double Rng::UniformDouble() {
  // 53 random bits -> [0, 1).
  return static_cast<double>(Next() >> 11) * 0x1.0p-53;
}

bool Rng::Bernoulli(double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return UniformDouble() < p;
}

double Rng::Exponential(double mean) {
  MUSTER_CHECK(mean > 0);
  // 1 - U is in (0, 1], so the log is finite.
  return -mean * PortableLog(1.0 - UniformDouble());
}

Duration Rng::UniformDuration(Duration lo, Duration hi) {
  const int64_t lo_ns = absl::ToInt64Nanoseconds(lo);
  const int64_t hi_ns = absl::ToInt64Nanoseconds(hi);
  return absl::Nanoseconds(UniformInRange(lo_ns, hi_ns));
}

Rng Rng::Fork() { return Rng(Next() ^ 0x6a09e667f3bcc909ULL); }

}  // namespace muster
