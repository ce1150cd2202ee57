// Wing & Gong's linearizability search with Lowe's memoization, per key, as Porcupine's
// checkSingle does: the history becomes a doubly linked list of call and return entries in time
// order; the search walks it, linearizing a call whose step the register allows (lifting the
// call and its return out of the list) and backtracking at a return whose op is not yet
// linearized. Configurations (linearized set, register value) that failed are remembered and
// never explored again.
//
// Unanswered ops are what makes such a search blow up (each may or may not be in every set),
// so, all without changing the verdict: those whose effect was observed become answered
// (TightenMaybeOps); values nothing compares against merge into one (MergeUnobservedValues);
// interchangeable ones are placed in call order only (OrderInterchangeableMaybeOps); one is
// placed only where it changes the register, and never needs to be placed at all; and a
// configuration is also pruned when a failed one had the same answered ops and register
// with fewer unanswered ops placed (KeySearch::Dominated).
#include "sim/checkers/linearizability.h"

#include <algorithm>
#include <limits>
#include <tuple>
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
  // A maybe op only linearizes after this one (the previous interchangeable one), or -1.
  int32_t maybe_after = -1;
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
  ValueId unobserved = kIllegal;  // MergeUnobservedValues' one value, if any

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

// Values no op compares against (no read returned them, no cas expects them) cannot be told
// apart: they all become one value, kUnobserved, so the maybe-writes that leave one of them
// have the same effect and can be ordered (OrderInterchangeableMaybeOps).
void MergeUnobservedValues(KeyHistory& key) {
  std::vector<bool> observed(key.value_names.size(), false);
  observed[kAbsent] = true;
  for (const SearchOp& op : key.ops) {
    if (op.step == StepKind::kRead) observed[op.value] = true;
    if (op.step != StepKind::kRead && op.step != StepKind::kSet) observed[op.expected] = true;
  }
  const ValueId unobserved = static_cast<ValueId>(key.value_names.size());
  bool any = false;
  for (SearchOp& op : key.ops) {
    if ((op.step == StepKind::kSet || op.step == StepKind::kCasTrue ||
         op.step == StepKind::kCasMaybe) &&
        !observed[op.value]) {
      op.value = unobserved;
      any = true;
    }
  }
  if (any) {
    key.unobserved = unobserved;
    key.value_names.push_back(std::nullopt);
  }
}

// Unanswered ops with the same effect (same step, value and expected value) are
// interchangeable: any linearization can use them in call order instead, an earlier call
// being placeable wherever a later one is (their returns are all "never"). So each may only
// be linearized after the previous one of its kind: 2^k subsets become k prefixes.
void OrderInterchangeableMaybeOps(KeyHistory& key) {
  std::vector<int32_t> maybe;
  for (int32_t i = 0; i < static_cast<int32_t>(key.ops.size()); ++i) {
    if (key.ops[i].maybe) maybe.push_back(i);
  }
  auto effect = [&](int32_t i) {
    const SearchOp& op = key.ops[i];
    return std::make_tuple(static_cast<int>(op.step), op.value, op.expected);
  };
  std::stable_sort(maybe.begin(), maybe.end(), [&](int32_t a, int32_t b) {
    if (effect(a) != effect(b)) return effect(a) < effect(b);
    return key.ops[a].call_ns < key.ops[b].call_ns;
  });
  for (size_t j = 1; j < maybe.size(); ++j) {
    if (effect(maybe[j - 1]) == effect(maybe[j])) key.ops[maybe[j]].maybe_after = maybe[j - 1];
  }
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
    FindMaybeCas();
    maybe_mask_.assign(words_, 0);
    for (int32_t i = 0; i < static_cast<int32_t>(ops_.size()); ++i) {
      const SearchOp& op = ops_[i];
      if (op.step == StepKind::kCasFalse) failed_cas_by_expected_[op.expected].push_back(i);
      if (op.step == StepKind::kRead) needs_value_[op.value].push_back(i);
      if (op.step == StepKind::kCasTrue || op.step == StepKind::kCasMaybe) {
        needs_value_[op.expected].push_back(i);
      }
      if (ops_[i].maybe) {
        maybe_ops_.push_back(i);
        SetBit(maybe_mask_, i);
      }
    }
    maybe_words_ = (maybe_ops_.size() + 63) / 64;
    group_of_.assign(ops_.size(), -1);
    for (int32_t op : maybe_ops_) {
      const int32_t after = ops_[op].maybe_after;
      if (after < 0) {
        group_of_[op] = static_cast<int32_t>(groups_.size());
        groups_.emplace_back();
      } else {
        MUSTER_CHECK(group_of_[after] >= 0, "a group's ops come in call order");
        group_of_[op] = group_of_[after];
      }
      groups_[group_of_[op]].push_back(op);
    }
    for (size_t cas = 0; cas < maybe_cas_.size(); ++cas) {
      const auto m = std::lower_bound(maybe_ops_.begin(), maybe_ops_.end(), maybe_cas_[cas].first);
      MUSTER_CHECK(m != maybe_ops_.end() && *m == maybe_cas_[cas].first);
      maybe_cas_index_.emplace_back(cas, static_cast<int32_t>(m - maybe_ops_.begin()));
    }
  }

  // The search. Each configuration tries its answered candidates first (pass 0: the calls
  // before the list's first return), then its unanswered ones (pass 1: each group's next op,
  // if called by then), so a configuration with fewer unanswered ops placed is explored, and
  // if it fails remembered, before the ones it dominates.
  KeyOutcome Run() {
    KeyOutcome outcome;
    struct Frame {
      int32_t op;
      ValueId before;  // the register before it
      // Where its configuration's search resumes: the op's call entry (pass 0), or the next
      // group to offer (pass 1) with that pass's window.
      int pass;
      int32_t entry;
      size_t group;
      int64_t window_end_ns;
    };
    std::vector<Frame> frames;
    std::vector<uint64_t> linearized(words_, 0);
    std::vector<size_t> group_placed(groups_.size(), 0);  // how many of each group are placed
    std::vector<uint32_t> key;
    std::vector<uint64_t> maybe_set;
    int64_t cache_bytes = 0;
    ValueId state = kAbsent;
    int pass = 0;
    int32_t entry = next_[0];
    size_t group = 0;
    int64_t window_end_ns = 0;  // pass 1: the first return's time
    // Unanswered ops never need to be linearized: the history is linearizable once every
    // answered op is (the rest go "at the end", where nothing sees them).
    int64_t answered_left = 0;
    for (const SearchOp& op : ops_) answered_left += op.maybe ? 0 : 1;

    // Places `op` if the register allows it and the configuration it leads to is new.
    auto try_place = [&](int32_t op) {
      const ValueId after = Step(state, ops_[op]);
      if (after == kIllegal || !MayLinearize(ops_[op], linearized, state, after)) return false;
      SetBit(linearized, op);
      CacheKey(linearized, after, key, maybe_set);
      if (Dominated(key, maybe_set)) {
        ClearBit(linearized, op);
        return false;
      }
      frames.push_back({op, state, pass, entry, group, window_end_ns});
      state = after;
      if (ops_[op].maybe) {
        ++group_placed[group_of_[op]];
      } else {
        Lift(entry);
        --answered_left;
      }
      if (frames.size() > outcome.best_prefix.size()) {
        outcome.best_prefix.clear();
        for (const Frame& frame : frames) outcome.best_prefix.push_back(frame.op);
        outcome.best_state = state;
      }
      pass = 0;
      entry = next_[0];
      return true;
    };

    while (answered_left > 0) {
      if (++outcome.steps > options_.steps_per_key_max) {
        outcome.verdict = LinearizabilityVerdict::kUndecided;
        outcome.budget = absl::StrCat("steps_per_key_max (", options_.steps_per_key_max, ")");
        return outcome;
      }
      if (pass == 0) {
        MUSTER_CHECK(entry != kEnd, "a call entry always precedes its own return");
        if (is_call_[entry]) {
          if (!try_place(op_of_[entry])) entry = next_[entry];
          continue;
        }
        // The first return: every answered op that could go next was tried.
        pass = 1;
        group = 0;
        window_end_ns = ops_[op_of_[entry]].ret_ns;
        continue;
      }
      if (group < groups_.size()) {
        const std::vector<int32_t>& members = groups_[group];
        const size_t placed = group_placed[group];
        if (placed < members.size() && ops_[members[placed]].call_ns <= window_end_ns &&
            try_place(members[placed])) {
          continue;
        }
        ++group;
        continue;
      }
      if (frames.empty()) {
        outcome.verdict = LinearizabilityVerdict::kViolation;
        return outcome;
      }
      // This configuration fails: remember it, then undo the op that led to it.
      CacheKey(linearized, state, key, maybe_set);
      cache_bytes += static_cast<int64_t>(key.size() * sizeof(uint32_t) +
                                          maybe_set.size() * sizeof(uint64_t)) +
                     kCacheEntryOverhead;
      if (cache_bytes > options_.cache_bytes_per_key_max) {
        outcome.verdict = LinearizabilityVerdict::kUndecided;
        outcome.budget =
            absl::StrCat("cache_bytes_per_key_max (", options_.cache_bytes_per_key_max, ")");
        return outcome;
      }
      failed_[key].push_back(maybe_set);
      const Frame frame = frames.back();
      frames.pop_back();
      ClearBit(linearized, frame.op);
      state = frame.before;
      pass = frame.pass;
      window_end_ns = frame.window_end_ns;
      if (ops_[frame.op].maybe) {
        --group_placed[group_of_[frame.op]];
        group = frame.group + 1;
      } else {
        Unlift(frame.entry);
        ++answered_left;
        entry = next_[frame.entry];
      }
    }
    return outcome;
  }

 private:
  static constexpr int32_t kEnd = -1;
  // What a remembered configuration costs beside its words: vector headers and the hash
  // table's slot, about.
  static constexpr int64_t kCacheEntryOverhead = 64;

  // Entry 0 is the list's head; then the answered ops' calls and returns in time order, a
  // call before a return at the same instant (the two ops then overlap: the permissive
  // reading). Unanswered ops are not in the list: they are offered by group (Groups()).
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
      if (ops_[i].maybe) continue;
      events.push_back({ops_[i].call_ns, false, i});
      events.push_back({ops_[i].ret_ns, true, i});
    }
    const int32_t entries = static_cast<int32_t>(events.size());
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      if (a.time_ns != b.time_ns) return a.time_ns < b.time_ns;
      if (a.is_return != b.is_return) return !a.is_return;
      return a.op < b.op;
    });
    const int32_t size = entries + 1;
    next_.assign(size, kEnd);
    prev_.assign(size, kEnd);
    op_of_.assign(size, -1);
    match_.assign(size, kEnd);
    is_call_.assign(size, false);
    std::vector<int32_t> call_entry(n, kEnd);
    for (int32_t i = 0; i < entries; ++i) {
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

  // An unanswered op is only worth placing where it changes the register (placed where it
  // does not, it would only stop being available later), after its interchangeable
  // predecessor, and where some op still to place needs the value it leaves while that value
  // lasts: a read of it, a cas expecting it, a failed cas expecting the value it replaces.
  // "While it lasts": the needing op can go before every op that cannot follow the value
  // unchanged, so it is called no later than the first return of one. Any linearization can
  // drop the unanswered ops that nothing needs (an op that needs none of them sees the same
  // value without them), so these rules keep the verdict.
  bool MayLinearize(const SearchOp& op, const std::vector<uint64_t>& linearized, ValueId before,
                    ValueId after) const {
    if (!op.maybe) return true;
    if (after == before) return false;
    if (op.maybe_after >= 0 && !GetBit(linearized, op.maybe_after)) return false;
    int64_t lasts_until_ns = kNeverReturned;
    for (int32_t entry = next_[0]; entry != kEnd; entry = next_[entry]) {
      if (is_call_[entry]) continue;
      const SearchOp& other = ops_[op_of_[entry]];
      if (other.maybe) continue;
      const bool follows_unchanged = (other.step == StepKind::kRead && other.value == after) ||
                                     (other.step == StepKind::kCasFalse && other.expected != after);
      if (!follows_unchanged) {
        lasts_until_ns = other.ret_ns;
        break;
      }
    }
    auto needed_by = [&](const absl::flat_hash_map<ValueId, std::vector<int32_t>>& index,
                         ValueId value) {
      auto it = index.find(value);
      if (it == index.end()) return false;
      for (int32_t other : it->second) {
        if (!GetBit(linearized, other) && ops_[other].call_ns <= lasts_until_ns) return true;
      }
      return false;
    };
    return needed_by(needs_value_, after) || needed_by(failed_cas_by_expected_, before);
  }

  // The unanswered cas ops, and for each the ops writing the value it expects: once all of
  // those are linearized and the register holds something else, it can never apply again.
  void FindMaybeCas() {
    absl::flat_hash_map<ValueId, std::vector<int32_t>> writers;
    for (int32_t i = 0; i < static_cast<int32_t>(ops_.size()); ++i) {
      const StepKind step = ops_[i].step;
      if (step == StepKind::kSet || step == StepKind::kCasTrue || step == StepKind::kCasMaybe) {
        writers[ops_[i].value].push_back(i);
      }
    }
    for (int32_t i = 0; i < static_cast<int32_t>(ops_.size()); ++i) {
      const SearchOp& op = ops_[i];
      if (op.step != StepKind::kCasMaybe || op.expected == kAbsent) continue;
      auto it = writers.find(op.expected);
      maybe_cas_.push_back({i, it == writers.end() ? std::vector<int32_t>{} : it->second});
    }
  }

  // An unanswered cas that can never apply again behaves as if already placed; counting it
  // as placed merges configurations that differ only in it (else each such op doubles them).
  bool DeadMaybeCas(const std::pair<int32_t, std::vector<int32_t>>& cas,
                    const std::vector<uint64_t>& linearized, ValueId state) const {
    if (GetBit(linearized, cas.first) || state == ops_[cas.first].expected) return false;
    for (int32_t writer : cas.second) {
      if (!GetBit(linearized, writer)) return false;
    }
    return true;
  }

  // The memoization key of a configuration, in two parts. `key`: the answered ops linearized,
  // run-length encoded (runs of ones and zeros alternately, from a run of ones that may be
  // empty; unanswered ops count as ones here; ops are in call order, so a set is a long run
  // of ones and a ragged edge), then the register's value. `maybe_set`: which unanswered ops
  // are placed (or can never apply again: the same thing). Exact: no two configurations
  // share both parts.
  void CacheKey(const std::vector<uint64_t>& linearized, ValueId state, std::vector<uint32_t>& key,
                std::vector<uint64_t>& maybe_set) const {
    maybe_set.assign(maybe_words_, 0);
    for (size_t m = 0; m < maybe_ops_.size(); ++m) {
      if (GetBit(linearized, maybe_ops_[m])) SetBit(maybe_set, static_cast<int32_t>(m));
    }
    for (const auto& [cas, m] : maybe_cas_index_) {
      if (DeadMaybeCas(maybe_cas_[cas], linearized, state)) SetBit(maybe_set, m);
    }
    key.clear();
    const size_t n = ops_.size();
    bool ones = true;
    uint32_t run = 0;
    for (size_t w = 0; w < words_; ++w) {
      const uint64_t word = linearized[w] | maybe_mask_[w];
      const int valid = (w + 1 == words_ && n % 64 != 0) ? static_cast<int>(n % 64) : 64;
      if (valid == 64 && word == (ones ? ~uint64_t{0} : 0)) {
        run += 64;
        continue;
      }
      for (int b = 0; b < valid;) {
        const uint64_t ends_run = (ones ? ~word : word) >> b;  // a 1 where the run stops
        const int len = ends_run == 0 ? 64 : __builtin_ctzll(ends_run);
        if (b + len >= valid) {
          run += valid - b;
          break;
        }
        run += len;
        b += len;
        key.push_back(run);
        run = 0;
        ones = !ones;
      }
    }
    key.push_back(run);
    key.push_back(static_cast<uint32_t>(state));
  }

  // Whether a failed configuration with the same answered ops and register, and a subset of
  // these unanswered ops placed, is remembered: this one can do nothing that one could not
  // (place the extra unanswered ops last, where nothing sees them), so it fails too.
  bool Dominated(const std::vector<uint32_t>& key, const std::vector<uint64_t>& maybe_set) const {
    auto it = failed_.find(key);
    if (it == failed_.end()) return false;
    for (const std::vector<uint64_t>& failed : it->second) {
      bool subset = true;
      for (size_t w = 0; w < maybe_set.size() && subset; ++w)
        subset = (failed[w] & ~maybe_set[w]) == 0;
      if (subset) return true;
    }
    return false;
  }

  static bool GetBit(const std::vector<uint64_t>& bits, int32_t i) {
    return (bits[i / 64] >> (i % 64)) & 1;
  }
  static void SetBit(std::vector<uint64_t>& bits, int32_t i) {
    bits[i / 64] |= uint64_t{1} << (i % 64);
  }
  static void ClearBit(std::vector<uint64_t>& bits, int32_t i) {
    bits[i / 64] &= ~(uint64_t{1} << (i % 64));
  }

  const std::vector<SearchOp>& ops_;
  const LinearizabilityOptions& options_;
  const size_t words_;
  std::vector<int32_t> next_, prev_, op_of_, match_;
  std::vector<bool> is_call_;
  // Ops that need the register to be a value (reads of it, cas expecting it), or not to be
  // one (failed cas expecting it), by that value: who an unanswered op may be placed for.
  absl::flat_hash_map<ValueId, std::vector<int32_t>> needs_value_;
  absl::flat_hash_map<ValueId, std::vector<int32_t>> failed_cas_by_expected_;
  std::vector<std::pair<int32_t, std::vector<int32_t>>> maybe_cas_;  // (op, its writers)
  std::vector<std::pair<size_t, int32_t>> maybe_cas_index_;  // (in maybe_cas_, in maybe_ops_)
  std::vector<int32_t> maybe_ops_;                           // the unanswered ops, in op order
  // Interchangeable unanswered ops (OrderInterchangeableMaybeOps), each group in call order,
  // placed as a prefix; and each unanswered op's group.
  std::vector<std::vector<int32_t>> groups_;
  std::vector<int32_t> group_of_;
  size_t maybe_words_ = 0;
  std::vector<uint64_t> maybe_mask_;  // their bits among all ops
  // Failed configurations: key -> the unanswered-op sets tried with it.
  absl::flat_hash_map<std::vector<uint32_t>, std::vector<std::vector<uint64_t>>> failed_;
};

std::string ValueName(const KeyHistory& key, ValueId value) {
  if (value == key.unobserved) return "a value nothing reads";
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
    if (in_prefix[i] || key.ops[i].maybe) continue;
    if (stuck < 0 || key.ops[i].ret_ns < key.ops[stuck].ret_ns) stuck = i;
  }
  MUSTER_CHECK(stuck >= 0, "a violation leaves an op unlinearized");
  std::vector<int32_t> by_call(n);
  for (int32_t i = 0; i < n; ++i) by_call[i] = i;
  std::stable_sort(by_call.begin(), by_call.end(),
                   [&](int32_t a, int32_t b) { return key.ops[a].call_ns < key.ops[b].call_ns; });
  const int32_t stuck_pos =
      static_cast<int32_t>(std::find(by_call.begin(), by_call.end(), stuck) - by_call.begin());
  const int32_t shown_max = std::max(options.report_ops_max, 2);
  const int32_t after = std::min(shown_max / 4, n - 1 - stuck_pos);
  const int32_t first = std::max(0, stuck_pos - (shown_max - 1 - after));
  const int32_t last = std::min(n - 1, first + shown_max - 1);

  std::string report =
      absl::StrCat("key '", key_name, "' is not linearizable (", n, " ops; the search reached ",
                   outcome.best_prefix.size(), " of them, leaving the value ",
                   ValueName(key, outcome.best_state), "; op #", key.ops[stuck].id,
                   " cannot be placed next):\n");
  if (first > 0) absl::StrAppend(&report, "  ... ", first, " earlier ops\n");
  for (int32_t pos = first; pos <= last; ++pos) {
    const int32_t i = by_call[pos];
    const char* mark = i == stuck ? " <- cannot be placed" : (in_prefix[i] ? "" : " (not placed)");
    absl::StrAppend(&report, "  #", key.ops[i].id, " ", FormatKvOp(history.op(key.ops[i].id)), mark,
                    "\n");
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
    // In call order: the cache key's run-length encoding is short then.
    std::stable_sort(key.ops.begin(), key.ops.end(),
                     [](const SearchOp& a, const SearchOp& b) { return a.call_ns < b.call_ns; });
    TightenMaybeOps(key);
    MergeUnobservedValues(key);
    OrderInterchangeableMaybeOps(key);
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
