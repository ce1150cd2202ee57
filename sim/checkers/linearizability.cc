// Wing & Gong's linearizability search with Lowe's memoization, per key, as Porcupine's
// checkSingle does: the history becomes a doubly linked list of call and return entries in time
// order; the search walks it, linearizing a call whose step the register allows (lifting the
// call and its return out of the list) and backtracking at a return whose op is not yet
// linearized. A cache of (linearized set, register value) prunes configurations already
// explored. Before the search, unanswered writes are tightened (see TightenMaybeOps).
#include "sim/checkers/linearizability.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/base/check.h"

namespace muster::sim::checkers {
namespace {

// A key's values are interned: 0 is "absent", written and read values get 1, 2, ...
using ValueId = int32_t;
constexpr ValueId kAbsent = 0;
constexpr ValueId kIllegal = -1;
// The return time of an op that never answered: after everything, where its effect is unseen.
constexpr int64_t kNeverReturned = std::numeric_limits<int64_t>::max();

enum class StepKind : uint8_t {
  kSet,       // put or delete: always allowed, the register becomes `value`
  kRead,      // allowed iff the register is `value`
  kCasTrue,   // allowed iff the register is `expected`; it becomes `value`
  kCasFalse,  // allowed iff the register is not `expected`
  kCasMaybe,  // unanswered cas: always allowed; `value` if the register was `expected`
};

struct SearchOp {
  KvOpId id = 0;  // in the KvHistory, for the report
  StepKind step = StepKind::kRead;
  bool maybe = false;  // unanswered (its return is kNeverReturned unless tightened)
  ValueId value = kAbsent;
  ValueId expected = kAbsent;
  int64_t call_ns = 0;
  int64_t ret_ns = 0;
};

// The register's value after `op`, or kIllegal if `op` cannot take effect on `state`.
ValueId Step(ValueId state, const SearchOp& op) {
  switch (op.step) {
    case StepKind::kSet:
      return op.value;
    case StepKind::kRead:
      return state == op.value ? state : kIllegal;
    case StepKind::kCasTrue:
      return state == op.expected ? op.value : kIllegal;
    case StepKind::kCasFalse:
      return state != op.expected ? state : kIllegal;
    case StepKind::kCasMaybe:
      return state == op.expected ? op.value : state;
  }
  MUSTER_UNREACHABLE("step kind ", static_cast<int>(op.step));
}

int64_t Nanos(Time t) { return absl::ToUnixNanos(t); }

// One key's ops, with its values interned.
struct KeyHistory {
  std::vector<SearchOp> ops;
  std::vector<std::optional<std::string>> value_names{std::nullopt};  // by ValueId
  absl::flat_hash_map<std::string, ValueId> value_ids;

  ValueId Intern(const std::optional<std::string>& value) {
    if (!value.has_value()) return kAbsent;
    auto [it, inserted] = value_ids.try_emplace(*value, static_cast<ValueId>(value_names.size()));
    if (inserted) value_names.push_back(*value);
    return it->second;
  }
};

// The op as the search sees it, or nullopt when it cannot matter (an unanswered get, a get
// of a mode not checked, a put or delete that answered false and so did not apply).
std::optional<SearchOp> ToSearchOp(const KvOp& op, KvOpId id, const LinearizabilityOptions& options,
                                   KeyHistory& key) {
  const bool answered = op.status == KvOpStatus::kOk;
  SearchOp s;
  s.id = id;
  s.maybe = !answered;
  s.call_ns = Nanos(op.call);
  s.ret_ns = answered ? Nanos(op.ret) : kNeverReturned;
  switch (op.kind) {
    case KvOpKind::kGet:
      if (!answered) return std::nullopt;
      if (op.read_mode == ReadMode::kStale) return std::nullopt;
      if (op.read_mode == ReadMode::kDefault && !options.include_default_reads) return std::nullopt;
      s.step = StepKind::kRead;
      s.value = key.Intern(op.read);
      return s;
    case KvOpKind::kPut:
    case KvOpKind::kDelete:
      if (answered && !op.ok) return std::nullopt;
      s.step = StepKind::kSet;
      s.value = op.kind == KvOpKind::kPut ? key.Intern(op.value) : kAbsent;
      return s;
    case KvOpKind::kCas:
    case KvOpKind::kDeleteCas:
      s.step = !answered ? StepKind::kCasMaybe : (op.ok ? StepKind::kCasTrue : StepKind::kCasFalse);
      s.expected = key.Intern(op.expected);
      s.value = op.kind == KvOpKind::kCas ? key.Intern(op.value) : kAbsent;
      return s;
  }
  MUSTER_UNREACHABLE("op kind ", static_cast<int>(op.kind));
}

// Unanswered writes make the search exponential (each may or may not be in every explored
// set), so before searching, with values unique per key:
//  - an unanswered write whose value an answered op observed (a read of it, a successful cas
//    expecting it) did happen, before that observer returned: it becomes an answered op with
//    that return time (an unanswered cas so observed succeeded: a cas-true);
//  - an unanswered write whose value nothing answered observes can be left out when the key
//    has no failed cas: the value it leaves is never read nor matched, so not applying it
//    allows everything applying it allows (only a failed cas could need it: "not equal").
// Both keep exactly the set of linearizable histories. Unanswered deletes stay (absent is
// not a unique value).
void TightenMaybeOps(KeyHistory& key) {
  const size_t values = key.value_names.size();
  std::vector<int> writers(values, 0);
  bool has_failed_cas = false;
  for (const SearchOp& op : key.ops) {
    if (op.step != StepKind::kRead && op.step != StepKind::kCasFalse) ++writers[op.value];
    if (op.step == StepKind::kCasFalse) has_failed_cas = true;
  }
  // Fixpoint: a tightened cas observes its own expected value; bounded by the maybe ops.
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<int64_t> observed_by_ns(values, kNeverReturned);
    for (const SearchOp& op : key.ops) {
      if (op.maybe) continue;
      if (op.step == StepKind::kRead) {
        observed_by_ns[op.value] = std::min(observed_by_ns[op.value], op.ret_ns);
      } else if (op.step == StepKind::kCasTrue) {
        observed_by_ns[op.expected] = std::min(observed_by_ns[op.expected], op.ret_ns);
      }
    }
    for (SearchOp& op : key.ops) {
      if (!op.maybe || op.value == kAbsent || writers[op.value] != 1) continue;
      if (observed_by_ns[op.value] == kNeverReturned) continue;
      op.maybe = false;
      op.ret_ns = std::max(op.call_ns, observed_by_ns[op.value]);
      if (op.step == StepKind::kCasMaybe) op.step = StepKind::kCasTrue;
      changed = true;
    }
  }
  if (has_failed_cas) return;
  std::vector<bool> observed(values, false);
  for (const SearchOp& op : key.ops) {
    if (op.step == StepKind::kRead) observed[op.value] = true;
    if (op.step == StepKind::kCasTrue || op.step == StepKind::kCasMaybe) {
      observed[op.expected] = true;
    }
  }
  std::erase_if(key.ops, [&](const SearchOp& op) {
    return op.maybe && op.value != kAbsent && writers[op.value] == 1 && !observed[op.value];
  });
}

// What one key's search found.
struct KeyOutcome {
  LinearizabilityVerdict verdict = LinearizabilityVerdict::kOk;
  int64_t steps = 0;
  std::string budget;  // kUndecided: which one ran out
  // kViolation: the longest linearizable prefix the search reached (indices into the key's
  // ops, in linearization order) and the register's value after it.
  std::vector<int32_t> best_prefix;
  ValueId best_state = kAbsent;
};

class KeySearch {
 public:
  KeySearch(const std::vector<SearchOp>& ops, const LinearizabilityOptions& options)
      : ops_(ops), options_(options), words_((ops.size() + 63) / 64) {
    BuildList();
  }

  KeyOutcome Run() {
    KeyOutcome outcome;
    std::vector<uint64_t> linearized(words_, 0);
    std::vector<std::pair<int32_t, ValueId>> calls;  // (call entry, register before it)
    const int64_t entry_bytes = static_cast<int64_t>(words_ * sizeof(uint64_t)) + 48;
    ValueId state = kAbsent;
    int32_t entry = next_[0];
    while (next_[0] != kEnd) {
      if (++outcome.steps > options_.steps_per_key_max) {
        outcome.verdict = LinearizabilityVerdict::kUndecided;
        outcome.budget = absl::StrCat("steps_per_key_max (", options_.steps_per_key_max, ")");
        return outcome;
      }
      MUSTER_CHECK(entry != kEnd, "a call entry always precedes its own return");
      if (is_call_[entry]) {
        const int32_t op = op_of_[entry];
        const ValueId after = Step(state, ops_[op]);
        if (after != kIllegal) {
          SetBit(linearized, op);
          if (cache_.emplace(linearized, after).second) {
            if (static_cast<int64_t>(cache_.size()) * entry_bytes > options_.cache_bytes_per_key_max) {
              outcome.verdict = LinearizabilityVerdict::kUndecided;
              outcome.budget = absl::StrCat("cache_bytes_per_key_max (",
                                            options_.cache_bytes_per_key_max, ")");
              return outcome;
            }
            calls.emplace_back(entry, state);
            state = after;
            Lift(entry);
            if (calls.size() > outcome.best_prefix.size()) {
              outcome.best_prefix.clear();
              for (const auto& [call, unused] : calls) outcome.best_prefix.push_back(op_of_[call]);
              outcome.best_state = state;
            }
            entry = next_[0];
            continue;
          }
          ClearBit(linearized, op);
        }
        entry = next_[entry];
      } else {
        if (calls.empty()) {
          outcome.verdict = LinearizabilityVerdict::kViolation;
          return outcome;
        }
        const auto [call, before] = calls.back();
        calls.pop_back();
        ClearBit(linearized, op_of_[call]);
        state = before;
        Unlift(call);
        entry = next_[call];
      }
    }
    return outcome;
  }

 private:
  static constexpr int32_t kEnd = -1;

  // Entry 0 is the list's head; entries 1..2n are the calls and returns in time order, a call
  // before a return at the same instant (the two ops then overlap: the permissive reading).
  void BuildList() {
    const int32_t n = static_cast<int32_t>(ops_.size());
    struct Event {
      int64_t time_ns;
      bool is_return;
      int32_t op;
    };
    std::vector<Event> events;
    events.reserve(2 * n);
    for (int32_t i = 0; i < n; ++i) {
      events.push_back({ops_[i].call_ns, false, i});
      events.push_back({ops_[i].ret_ns, true, i});
    }
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      if (a.time_ns != b.time_ns) return a.time_ns < b.time_ns;
      if (a.is_return != b.is_return) return !a.is_return;
      return a.op < b.op;
    });
    const int32_t size = 2 * n + 1;
    next_.assign(size, kEnd);
    prev_.assign(size, kEnd);
    op_of_.assign(size, -1);
    match_.assign(size, kEnd);
    is_call_.assign(size, false);
    std::vector<int32_t> call_entry(n, kEnd);
    for (int32_t i = 0; i < 2 * n; ++i) {
      const int32_t entry = i + 1;
      op_of_[entry] = events[i].op;
      is_call_[entry] = !events[i].is_return;
      prev_[entry] = entry - 1;
      next_[entry - 1] = entry;
      if (events[i].is_return) {
        MUSTER_CHECK(call_entry[events[i].op] != kEnd, "return sorted before its call");
        match_[call_entry[events[i].op]] = entry;
      } else {
        call_entry[events[i].op] = entry;
      }
    }
  }

  // Takes a call entry and its return out of the list (the op is linearized).
  void Lift(int32_t call) {
    next_[prev_[call]] = next_[call];
    prev_[next_[call]] = prev_[call];
    const int32_t ret = match_[call];
    next_[prev_[ret]] = next_[ret];
    if (next_[ret] != kEnd) prev_[next_[ret]] = prev_[ret];
  }

  // Undoes Lift(call); entries keep their prev/next while lifted, so this restores them.
  void Unlift(int32_t call) {
    const int32_t ret = match_[call];
    next_[prev_[ret]] = ret;
    if (next_[ret] != kEnd) prev_[next_[ret]] = ret;
    next_[prev_[call]] = call;
    prev_[next_[call]] = call;
  }

  static void SetBit(std::vector<uint64_t>& bits, int32_t i) { bits[i / 64] |= uint64_t{1} << (i % 64); }
  static void ClearBit(std::vector<uint64_t>& bits, int32_t i) {
    bits[i / 64] &= ~(uint64_t{1} << (i % 64));
  }

  const std::vector<SearchOp>& ops_;
  const LinearizabilityOptions& options_;
  const size_t words_;
  std::vector<int32_t> next_, prev_, op_of_, match_;
  std::vector<bool> is_call_;
  absl::flat_hash_set<std::pair<std::vector<uint64_t>, ValueId>> cache_;
};

std::string ValueName(const KeyHistory& key, ValueId value) {
  const auto& name = key.value_names[value];
  return name.has_value() ? absl::StrCat("'", *name, "'") : "absent";
}

// The failing key readably: its ops in call order around the op the search could not place,
// the longest linearizable prefix's last ops and the value it leaves.
std::string ViolationReport(const std::string& key_name, const KeyHistory& key,
                            const KeyOutcome& outcome, const KvHistory& history,
                            const LinearizabilityOptions& options) {
  const int32_t n = static_cast<int32_t>(key.ops.size());
  std::vector<bool> in_prefix(n, false);
  for (int32_t op : outcome.best_prefix) in_prefix[op] = true;
  // The op that had to go next: the earliest return among those not linearized.
  int32_t stuck = -1;
  for (int32_t i = 0; i < n; ++i) {
    if (in_prefix[i]) continue;
    if (stuck < 0 || key.ops[i].ret_ns < key.ops[stuck].ret_ns) stuck = i;
  }
  MUSTER_CHECK(stuck >= 0, "a violation leaves an op unlinearized");
  std::vector<int32_t> by_call(n);
  for (int32_t i = 0; i < n; ++i) by_call[i] = i;
  std::stable_sort(by_call.begin(), by_call.end(), [&](int32_t a, int32_t b) {
    return key.ops[a].call_ns < key.ops[b].call_ns;
  });
  const int32_t stuck_pos =
      static_cast<int32_t>(std::find(by_call.begin(), by_call.end(), stuck) - by_call.begin());
  const int32_t shown_max = std::max(options.report_ops_max, 2);
  const int32_t after = std::min(shown_max / 4, n - 1 - stuck_pos);
  const int32_t first = std::max(0, stuck_pos - (shown_max - 1 - after));
  const int32_t last = std::min(n - 1, first + shown_max - 1);

  std::string report = absl::StrCat(
      "key '", key_name, "' is not linearizable (", n, " ops; the search reached ",
      outcome.best_prefix.size(), " of them, leaving the value ", ValueName(key, outcome.best_state),
      "; op #", key.ops[stuck].id, " cannot be placed next):\n");
  if (first > 0) absl::StrAppend(&report, "  ... ", first, " earlier ops\n");
  for (int32_t pos = first; pos <= last; ++pos) {
    const int32_t i = by_call[pos];
    const char* mark = i == stuck ? " <- cannot be placed" : (in_prefix[i] ? "" : " (not placed)");
    absl::StrAppend(&report, "  #", key.ops[i].id, " ", FormatKvOp(history.op(key.ops[i].id)),
                    mark, "\n");
  }
  if (last < n - 1) absl::StrAppend(&report, "  ... ", n - 1 - last, " later ops\n");
  const size_t tail = std::min<size_t>(outcome.best_prefix.size(), 8);
  absl::StrAppend(&report, "  the longest linearizable order ends:");
  for (size_t i = outcome.best_prefix.size() - tail; i < outcome.best_prefix.size(); ++i) {
    absl::StrAppend(&report, " #", key.ops[outcome.best_prefix[i]].id);
  }
  if (tail == 0) absl::StrAppend(&report, " (empty: the key starts absent)");
  absl::StrAppend(&report, "\n");
  return report;
}

}  // namespace

const char* LinearizabilityVerdictName(LinearizabilityVerdict verdict) {
  switch (verdict) {
    case LinearizabilityVerdict::kOk:
      return "ok";
    case LinearizabilityVerdict::kViolation:
      return "violation";
    case LinearizabilityVerdict::kUndecided:
      return "undecided";
  }
  MUSTER_UNREACHABLE("verdict ", static_cast<int>(verdict));
}

LinearizabilityResult CheckLinearizable(const KvHistory& history,
                                        const LinearizabilityOptions& options) {
  absl::btree_map<std::string, KeyHistory> keys;  // sorted: a deterministic search order
  for (KvOpId id = 0; id < history.size(); ++id) {
    const KvOp& op = history.op(id);
    KeyHistory& key = keys[op.key];
    std::optional<SearchOp> search_op = ToSearchOp(op, id, options, key);
    if (search_op.has_value()) key.ops.push_back(*search_op);
  }

  LinearizabilityResult result;
  size_t violated_ops = 0;
  for (auto& [name, key] : keys) {
    TightenMaybeOps(key);
    if (key.ops.empty()) continue;
    ++result.keys_checked;
    result.ops_checked += static_cast<int64_t>(key.ops.size());
    KeySearch search(key.ops, options);
    const KeyOutcome outcome = search.Run();
    result.steps += outcome.steps;
    switch (outcome.verdict) {
      case LinearizabilityVerdict::kOk:
        break;
      case LinearizabilityVerdict::kViolation:
        ++result.keys_violated;
        if (result.verdict != LinearizabilityVerdict::kViolation || key.ops.size() < violated_ops) {
          result.verdict = LinearizabilityVerdict::kViolation;
          result.key = name;
          result.report = ViolationReport(name, key, outcome, history, options);
          violated_ops = key.ops.size();
        }
        break;
      case LinearizabilityVerdict::kUndecided:
        ++result.keys_undecided;
        if (result.verdict == LinearizabilityVerdict::kOk) {
          result.verdict = LinearizabilityVerdict::kUndecided;
          result.key = name;
          result.report = absl::StrCat("key '", name, "' undecided: its search (", key.ops.size(),
                                       " ops) ran out of ", outcome.budget, "\n");
        }
        break;
    }
  }
  return result;
}

}  // namespace muster::sim::checkers
