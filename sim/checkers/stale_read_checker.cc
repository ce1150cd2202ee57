// The bounded-staleness check: for each checked read, a write it may have seen that nothing
// surely replaced more than `bound` before its call. Per key, the writes that surely
// applied, sorted by call with the earliest acknowledgement among the later-called ones, answer
// "is a write called after t acknowledged before T?" by binary search.
#include "sim/checkers/stale_read_checker.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace muster::sim::checkers {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
constexpr int64_t kBeginning = std::numeric_limits<int64_t>::min();

int64_t Nanos(Time t) { return absl::ToUnixNanos(t); }

bool Answered(const KvOp& op) { return op.status == KvOpStatus::kOk; }

// Writes that surely applied, by call: the ones a stale read may not miss for too long.
class Superseders {
 public:
  void Add(const KvOp& op, KvOpId id) { writes_.push_back({Nanos(op.call), Nanos(op.ret), id}); }

  void Seal() {
    std::sort(writes_.begin(), writes_.end(),
              [](const Write& a, const Write& b) { return a.call_ns < b.call_ns; });
    min_ret_from_.assign(writes_.size() + 1, {kNever, 0});
    for (size_t i = writes_.size(); i-- > 0;) {
      min_ret_from_[i] =
          std::min(min_ret_from_[i + 1], std::make_pair(writes_[i].ret_ns, writes_[i].id));
    }
  }

  // A write called after `after_ns` and acknowledged before `before_ns`: the earliest
  // acknowledged one, if any.
  std::optional<KvOpId> Between(int64_t after_ns, int64_t before_ns) const {
    const auto first = std::upper_bound(writes_.begin(), writes_.end(), after_ns,
                                        [](int64_t t, const Write& w) { return t < w.call_ns; });
    const auto& [ret_ns, id] = min_ret_from_[first - writes_.begin()];
    if (ret_ns < before_ns) return id;
    return std::nullopt;
  }

 private:
  struct Write {
    int64_t call_ns;
    int64_t ret_ns;
    KvOpId id;
  };
  std::vector<Write> writes_;
  std::vector<std::pair<int64_t, KvOpId>> min_ret_from_;  // over writes_[i..]
};

// A write a read may have seen: its call, and its return (kNever when unanswered: it may
// have applied at any time, so nothing surely came after it).
struct Candidate {
  int64_t call_ns;
  int64_t ret_ns;
  std::optional<KvOpId> id;  // none: the key's initial absence
};

struct KeyWrites {
  absl::flat_hash_map<std::string, std::vector<Candidate>> writers;  // by value written
  std::vector<Candidate> absences{{kBeginning, kBeginning, std::nullopt}};
  Superseders any_write;    // replaces a value
  Superseders value_write;  // replaces an absence
};

bool Checked(const KvOp& op, const StaleReadOptions& options) {
  if (op.kind != KvOpKind::kGet || !Answered(op)) return false;
  if (op.read_mode == ReadMode::kStale) return true;
  return op.read_mode == ReadMode::kDefault && options.check_default_reads;
}

void AddWrite(const KvOp& op, KvOpId id, KeyWrites& key) {
  const bool applied = Answered(op) && op.ok;
  const bool maybe_applied = applied || !Answered(op);
  if (!maybe_applied) return;
  const Candidate candidate{Nanos(op.call), applied ? Nanos(op.ret) : kNever, id};
  switch (op.kind) {
    case KvOpKind::kPut:
    case KvOpKind::kCas:
      key.writers[op.value].push_back(candidate);
      if (applied) {
        key.any_write.Add(op, id);
        key.value_write.Add(op, id);
      }
      return;
    case KvOpKind::kDelete:
    case KvOpKind::kDeleteCas:
      key.absences.push_back(candidate);
      if (applied) key.any_write.Add(op, id);
      return;
    case KvOpKind::kGet:
      return;
  }
}

std::string Describe(const KvHistory& history, KvOpId id) {
  return absl::StrCat("#", id, " ", FormatKvOp(history.op(id)));
}

}  // namespace

CheckResult CheckStaleReads(const KvHistory& history, const StaleReadOptions& options) {
  absl::btree_map<std::string, KeyWrites> keys;
  for (KvOpId id = 0; id < history.size(); ++id) {
    const KvOp& op = history.op(id);
    if (op.kind != KvOpKind::kGet) AddWrite(op, id, keys[op.key]);
  }
  for (auto& [name, key] : keys) {
    key.any_write.Seal();
    key.value_write.Seal();
  }
  static const KeyWrites kNoWrites = [] {
    KeyWrites none;
    none.any_write.Seal();
    none.value_write.Seal();
    return none;
  }();

  CheckResult result;
  for (KvOpId id = 0; id < history.size(); ++id) {
    const KvOp& read = history.op(id);
    if (!Checked(read, options)) continue;
    auto it = keys.find(read.key);
    const KeyWrites& key = it == keys.end() ? kNoWrites : it->second;
    const std::vector<Candidate>* candidates = &key.absences;
    const Superseders* superseders = &key.value_write;
    static const std::vector<Candidate> kNone;
    if (read.read.has_value()) {
      auto writers = key.writers.find(*read.read);
      candidates = writers == key.writers.end() ? &kNone : &writers->second;
      superseders = &key.any_write;
    }
    const int64_t read_call_ns = Nanos(read.call);
    const int64_t read_ret_ns = Nanos(read.ret);
    const Duration bound = read.staleness_bound.value_or(options.bound);
    const int64_t too_old_ns = read_call_ns - absl::ToInt64Nanoseconds(bound);
    bool explained = false;
    bool any_before = false;
    std::optional<KvOpId> missed;
    for (const Candidate& candidate : *candidates) {
      if (candidate.call_ns > read_ret_ns) continue;  // written after the read returned
      any_before = true;
      std::optional<KvOpId> replaced_by = candidate.ret_ns == kNever
                                              ? std::nullopt
                                              : superseders->Between(candidate.ret_ns, too_old_ns);
      if (!replaced_by.has_value()) {
        explained = true;
        break;
      }
      missed = replaced_by;
    }
    if (explained) continue;
    if (!any_before) {
      result.Add(absl::StrCat(Describe(history, id), ": no write of that value was called before ",
                              "the read returned"));
    } else {
      result.Add(absl::StrCat(
          Describe(history, id), ": misses ", Describe(history, *missed), ", acknowledged ",
          absl::FormatDuration(read.call - history.op(*missed).ret),
          " before the read was called (bound ", absl::FormatDuration(bound), ")"));
    }
  }
  return result;
}

}  // namespace muster::sim::checkers
