// Raft's Log Matching property between two servers' logs, for the simulators' checkers
// (tests/raft_sim, tests/agent_sim): if both hold an entry with one index and term, every entry
// up to it is the same in both.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/raft/log.h"

namespace muster::raft {

// Why `a` and `b` break Log Matching (over the indexes both still hold), or nullopt. Entries
// below `compare_from` are not compared (a checker that compared them before, when both had
// committed them, passes where to resume).
inline std::optional<std::string> LogMatchingViolation(const RaftLog& a, const RaftLog& b, uint64_t compare_from = 0) {
  const uint64_t lo = std::max(a.first_index(), b.first_index());
  const uint64_t hi = std::min(a.last_index(), b.last_index());
  // The highest index both hold with one term: everything from `lo` to it must agree.
  uint64_t top = 0;
  for (uint64_t i = hi; i >= lo && i > 0; --i) {
    if (a.At(i).term() == b.At(i).term()) {
      top = i;
      break;
    }
  }
  for (uint64_t i = std::max(lo, compare_from); i <= top; ++i) {
    const pb::Entry& x = a.At(i);
    const pb::Entry& y = b.At(i);
    if (x.term() != y.term() || x.type() != y.type() || x.data() != y.data()) {
      return absl::StrCat("agree at ", top, " (term ", a.At(top).term(), ") but differ at ", i, " (terms ", x.term(),
                          " and ", y.term(), ")");
    }
  }
  return std::nullopt;
}

}  // namespace muster::raft
