// A recorded history of KV operations from simulated clients, the input of the
// linearizability checker (linearizability.h) and the bounded-staleness checker
// (stale_read_checker.h). A workload calls Invoke*() when a client sends a request and
// Complete*() when the answer arrives; a request whose answer never came (timed out, the
// connection dropped, an error that does not say whether the write applied) is marked
// Unknown(): it may have taken effect at any moment after its call, or never (Porcupine's
// "info" operations, Jepsen's :info). An operation still pending when the history is checked
// counts as Unknown too.
//
// Values are opaque strings, and workloads write a value unique per key, so "the value a
// read returned" names exactly one write. Consul's `?cas=ModifyIndex` is recorded as a cas
// whose `expected` is the value the client read with that index (unique values make the two
// the same); `?cas=0` ("only if the key does not exist") is a cas with `expected` absent.
//
// Pure data: no clocks, no I/O. Times are the simulator's virtual times.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/base/time.h"

namespace muster::sim::checkers {

enum class KvOpKind {
  kPut,        // PUT /v1/kv/key: sets the value; answers true
  kGet,        // GET /v1/kv/key: answers the value or absent (404)
  kCas,        // PUT ?cas=: sets `value` only if the current value is `expected`
  kDelete,     // DELETE /v1/kv/key: removes it; answers true
  kDeleteCas,  // DELETE ?cas=: removes it only if the current value is `expected`
};

// How a get was read: only consistent reads are linearizable (Consul's default mode reads
// the leader's state without confirming leadership; stale reads any server's). Writes
// ignore it.
enum class ReadMode { kConsistent, kDefault, kStale };

enum class KvOpStatus {
  kPending,  // invoked, no answer yet (treated as kUnknown when checked)
  kOk,       // answered: `ret` and the outcome are set
  kUnknown,  // no usable answer: may have happened after `call`, or never
};

struct KvOp {
  int32_t client = 0;  // which simulated client issued it; a client has one op in flight
  std::string key;
  KvOpKind kind = KvOpKind::kGet;
  ReadMode read_mode = ReadMode::kConsistent;
  std::string value;                    // put, cas: the value written
  std::optional<std::string> expected;  // cas, delete-cas: the value it must replace
                                        // (absent: the key must not exist)
  Time call;
  Time ret;  // meaningful when status == kOk
  KvOpStatus status = KvOpStatus::kPending;
  // The answer. put, cas, delete, delete-cas: `ok` is the server's true/false (a put or
  // delete answering false did not apply). get: `read` is the value, or absent for 404.
  bool ok = false;
  std::optional<std::string> read;
  // get: how stale the server said its answer may be (Consul's X-Consul-LastContact, plus
  // the caller's slack); stale_read_checker.h then judges the read by it instead of its
  // option's one bound. Unset: that bound.
  std::optional<Duration> staleness_bound;
};

using KvOpId = uint32_t;

// Builds a history; the ops keep the order they were invoked in.
class KvHistory {
 public:
  KvOpId InvokePut(int32_t client, std::string key, std::string value, Time call);
  KvOpId InvokeGet(int32_t client, std::string key, ReadMode mode, Time call);
  KvOpId InvokeCas(int32_t client, std::string key, std::optional<std::string> expected,
                   std::string value, Time call);
  KvOpId InvokeDelete(int32_t client, std::string key, Time call);
  KvOpId InvokeDeleteCas(int32_t client, std::string key, std::optional<std::string> expected,
                         Time call);
  // The general form: `op`'s answer fields and status are ignored.
  KvOpId Invoke(KvOp op);
  // A whole history at once, answers included (tests, and histories read back from a trace);
  // every op must be consistent (an answered op returns no earlier than its call).
  static KvHistory FromOps(std::vector<KvOp> ops);

  // A put, cas, delete or delete-cas answered true/false.
  void CompleteWrite(KvOpId id, Time ret, bool ok);
  // A get answered `read` (absent: the key did not exist).
  void CompleteGet(KvOpId id, Time ret, std::optional<std::string> read);
  // The answered get's own staleness bound (KvOp::staleness_bound).
  void SetStalenessBound(KvOpId id, Duration bound);
  // No usable answer: the op may or may not have happened.
  void Unknown(KvOpId id);

  const std::vector<KvOp>& ops() const { return ops_; }
  const KvOp& op(KvOpId id) const;
  size_t size() const { return ops_.size(); }

 private:
  KvOp& Pending(KvOpId id, Time ret);

  std::vector<KvOp> ops_;
};

// One op on one line, e.g. "c3 cas k1 'v7'->'v9' [1.250s, 1.300s] -> true" (times since
// SimEpoch()), for violation reports.
std::string FormatKvOp(const KvOp& op);
const char* KvOpKindName(KvOpKind kind);

}  // namespace muster::sim::checkers
