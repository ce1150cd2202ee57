// Deterministic 64-bit hashing for fingerprints and content hashes. absl::Hash is seeded
// per process and must never reach an output; this one gives the same value everywhere.
#pragma once

#include <cstdint>
#include <string_view>

namespace muster {

// FNV-1a over bytes, then a final avalanche; stable across processes and machines.
inline uint64_t StableHash(std::string_view bytes, uint64_t seed = 0xcbf29ce484222325ULL) {
  uint64_t h = seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

// Folds `value` into a running hash; order matters, as a fingerprint's should.
inline uint64_t HashCombine(uint64_t running, uint64_t value) {
  uint64_t z = running ^ (value + 0x9e3779b97f4a7c15ULL + (running << 6) + (running >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace muster
