// Bounded staleness for reads that may be served by any server (`?stale`, and Consul's
// default mode across a leader change): such a read may miss writes, but only recent ones.
// A read that returned value v is fine if v's write could have been the key's latest write
// `bound` before the read was called: v was written (its write was called before the read
// returned) and no write that surely came after it was acknowledged more than `bound` before
// the read's call. An absent read needs the key's initial state or some delete to be such a
// write. Values are unique per key (kv_history.h), so a value names its write.
//
// Reads from the history that are checked: stale ones, and default-mode ones unless
// disabled; consistent reads are the linearizability checker's. Writes: those answered true
// count as surely applied; unanswered ones may be what a read saw but never supersede.
#pragma once

#include "core/base/time.h"
#include "sim/checkers/check_result.h"
#include "sim/checkers/kv_history.h"

namespace muster::sim::checkers {

struct StaleReadOptions {
  // How old a missed write may be: acknowledged at most this long before the read's call
  // (a read with its own KvOp::staleness_bound is judged by that instead).
  Duration bound = absl::Seconds(1);
  bool check_default_reads = true;
};

CheckResult CheckStaleReads(const KvHistory& history, const StaleReadOptions& options = {});

}  // namespace muster::sim::checkers
