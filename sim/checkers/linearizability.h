// The linearizability checker for KV histories (kv_history.h): is there one order of the
// operations, each placed at an instant between its call and its return, in which every
// answer is what a single register per key would have given? Wing & Gong's search with
// Lowe's memoization (a cache of (set of ops linearized, register value) already explored), as
// Porcupine does, run per key (a KV store is linearizable iff each key's sub-history is:
// Herlihy & Wing's locality). An op without an answer (Unknown, or still pending) may take
// effect at any instant after its call or never: its return is "infinitely late", where its
// effect can no longer be observed.
//
// Checked: puts, deletes, cas and delete-cas (true and false answers), and consistent reads.
// Default-mode and stale reads are not linearizable in Consul and are left to
// stale_read_checker.h (default-mode reads can be added with an option). A put or delete
// answering false did not apply and is left out.
//
// Bounded: each key's search stops after `steps_per_key_max` steps or when its cache reaches
// `cache_bytes_per_key_max`, and the key is then "undecided" — never a hang, never a guess.
// Deterministic: keys are searched in sorted order and the report depends only on the history.
#pragma once

#include <cstdint>
#include <string>

#include "sim/checkers/kv_history.h"

namespace muster::sim::checkers {

struct LinearizabilityOptions {
  // Search steps (an op tried, linearized or undone) per key before it is undecided.
  int64_t steps_per_key_max = 20'000'000;
  // Memory of the memoization cache per key (each entry holds a bitset of the key's ops).
  int64_t cache_bytes_per_key_max = int64_t{256} << 20;
  // Also check default-mode reads (Consul's default mode is not linearizable across a leader
  // change, so off by default; on, it tests a leader that never serves a stale answer).
  bool include_default_reads = false;
  // The most ops of the failing key printed in a report (the ones around the failure).
  int report_ops_max = 40;
};

enum class LinearizabilityVerdict { kOk, kViolation, kUndecided };

struct LinearizabilityResult {
  LinearizabilityVerdict verdict = LinearizabilityVerdict::kOk;
  // kViolation: the failing key with the fewest ops (then the first by name);
  // kUndecided: the first key whose search ran out of budget.
  std::string key;
  // kViolation: that key's sub-history, readable, with where the search got stuck;
  // kUndecided: which budget ran out. Empty when kOk.
  std::string report;
  int keys_checked = 0;
  int keys_violated = 0;
  int keys_undecided = 0;
  int64_t ops_checked = 0;  // ops that took part (after dropping unanswered gets etc.)
  int64_t steps = 0;        // search steps over all keys

  bool ok() const { return verdict == LinearizabilityVerdict::kOk; }
  bool violation() const { return verdict == LinearizabilityVerdict::kViolation; }
  bool undecided() const { return verdict == LinearizabilityVerdict::kUndecided; }
};

LinearizabilityResult CheckLinearizable(const KvHistory& history,
                                        const LinearizabilityOptions& options = {});

const char* LinearizabilityVerdictName(LinearizabilityVerdict verdict);

}  // namespace muster::sim::checkers
