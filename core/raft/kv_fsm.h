// A tiny state machine for tests and the simulator: applies "key=value" commands to a map
// and keeps a running hash of every applied entry, so two replicas (or a replica and the
// global history) can be compared in O(1) at any index, even across snapshots.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "core/base/check.h"
#include "core/base/hash.h"
#include "proto/raft_pb.h"

namespace muster::raft {

// Folds one applied entry into a running hash chain.
inline uint64_t ChainHash(uint64_t chain, const pb::Entry& e) {
  return HashCombine(HashCombine(chain, e.index()), StableHash(e.data(), e.term() * 0x9e37 + e.type()));
}

class KvFsm {
 public:
  void Apply(const pb::Entry& e) {
    MUSTER_CHECK_EQ(e.index(), applied_ + 1, "entries apply in order without gaps");
    applied_ = e.index();
    chain_ = ChainHash(chain_, e);
    if (e.type() != pb::ENTRY_NORMAL) return;
    std::string_view d = e.data();
    const size_t eq = d.find('=');
    if (eq != std::string_view::npos) kv_[std::string(d.substr(0, eq))] = std::string(d.substr(eq + 1));
  }
  std::string Snapshot() const {
    std::string out = std::to_string(applied_) + "\n" + std::to_string(chain_) + "\n";
    for (const auto& [k, v] : kv_) out += k + "=" + v + "\n";
    return out;
  }
  // Loads a Snapshot(); false (and unchanged) if `data` is not one.
  bool Restore(std::string_view data) {
    KvFsm parsed;
    if (!Parse(data, parsed)) return false;
    *this = std::move(parsed);
    return true;
  }
  // Whether `data` is a snapshot of this machine taken at `index` (raft's validate_snapshot).
  static bool IsSnapshotAt(std::string_view data, uint64_t index) {
    KvFsm parsed;
    return Parse(data, parsed) && parsed.applied_ == index;
  }
  uint64_t applied() const { return applied_; }

 private:
  static bool Parse(std::string_view data, KvFsm& out) {
    size_t line = 0;
    while (!data.empty()) {
      const size_t nl = data.find('\n');
      std::string_view l = data.substr(0, nl);
      if (line == 0) {
        if (!absl::SimpleAtoi(absl::string_view(l.data(), l.size()), &out.applied_)) return false;
      } else if (line == 1) {
        if (!absl::SimpleAtoi(absl::string_view(l.data(), l.size()), &out.chain_)) return false;
      } else {
        const size_t eq = l.find('=');
        if (eq == std::string_view::npos) return false;
        out.kv_[std::string(l.substr(0, eq))] = std::string(l.substr(eq + 1));
      }
      ++line;
      data = nl == std::string_view::npos ? std::string_view() : data.substr(nl + 1);
    }
    return line >= 2;
  }

 public:
  uint64_t chain() const { return chain_; }
  const std::map<std::string, std::string>& kv() const { return kv_; }

 private:
  uint64_t applied_ = 0;
  uint64_t chain_ = 0;
  std::map<std::string, std::string> kv_;
};

}  // namespace muster::raft
