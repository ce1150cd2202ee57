#include "tests/fuzz/mutator.h"

#include <algorithm>
#include <cstdint>

namespace muster::fuzz {
namespace {

// Bytes that sit on decoder edges: zero, sign bits, varint continuation, all ones.
constexpr uint8_t kInteresting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x0a, 0x12, 0x1a, 0x22, 0x08, 0x10};
constexpr size_t kInputBytesMax = 64 << 10;

}  // namespace

std::string Mutator::RandomBytes(size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng_.Uniform(256));
  return s;
}

std::string Mutator::Next(const std::vector<std::string>& corpus) {
  if (corpus.empty() || rng_.Uniform(16) == 0) return RandomBytes(rng_.Uniform(512));
  std::string s = corpus[rng_.Uniform(corpus.size())];
  if (rng_.Uniform(8) == 0) return s;  // valid inputs too: they build the state the others hit
  const int rounds = 1 + static_cast<int>(rng_.Uniform(8));
  for (int i = 0; i < rounds; ++i) MutateOnce(s, corpus);
  if (s.size() > kInputBytesMax) s.resize(kInputBytesMax);
  return s;
}

void Mutator::MutateOnce(std::string& s, const std::vector<std::string>& corpus) {
  auto pos = [&](size_t extra = 0) { return static_cast<size_t>(rng_.Uniform(s.size() + extra)); };
  switch (rng_.Uniform(10)) {
    case 0:  // flip one bit
      if (!s.empty()) s[pos()] ^= static_cast<char>(1u << rng_.Uniform(8));
      break;
    case 1:  // an interesting byte
      if (!s.empty()) s[pos()] = static_cast<char>(kInteresting[rng_.Uniform(sizeof kInteresting)]);
      break;
    case 2:  // a random byte
      if (!s.empty()) s[pos()] = static_cast<char>(rng_.Uniform(256));
      break;
    case 3:  // insert random bytes
      s.insert(pos(1), RandomBytes(1 + rng_.Uniform(16)));
      break;
    case 4: {  // erase a range
      if (s.empty()) break;
      size_t at = pos();
      s.erase(at, 1 + rng_.Uniform(std::min<size_t>(s.size() - at, 32)));
      break;
    }
    case 5: {  // copy a range of itself somewhere else (repeated fields, nested messages)
      if (s.empty()) break;
      size_t at = pos();
      std::string piece = s.substr(at, 1 + rng_.Uniform(std::min<size_t>(s.size() - at, 64)));
      s.insert(pos(1), piece);
      break;
    }
    case 6: {  // splice with another corpus entry
      const std::string& other = corpus[rng_.Uniform(corpus.size())];
      if (other.empty()) break;
      size_t from = rng_.Uniform(other.size());
      s = s.substr(0, pos(1)) + other.substr(from);
      break;
    }
    case 7:  // truncate
      s.resize(pos(1));
      break;
    case 8: {  // a huge varint (a length or count that claims gigabytes)
      std::string v = "\xff\xff\xff\xff\x0f";
      if (rng_.Bernoulli(0.5)) v = "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01";
      s.insert(pos(1), v);
      break;
    }
    default: {  // big-endian length prefixes: our frames start with u16/u32 lengths
      if (s.size() < 2) break;
      size_t at = pos() & ~size_t{1};
      if (at + 1 < s.size()) {
        s[at] = static_cast<char>(rng_.Uniform(256));
        s[at + 1] = static_cast<char>(rng_.Uniform(256));
      }
      break;
    }
  }
}

}  // namespace muster::fuzz
