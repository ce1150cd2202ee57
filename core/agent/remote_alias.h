// Alias checks of another node's service or of another node (Consul's CheckAlias with Node
// set: runQuery in agent/checks/alias.go). For each such check LocalState holds, one blocking
// read of that node's checks (health.node, stale allowed, blocking up to kRemoteAliasWait at
// the server), made as the agent's own request, so on a client it goes to a server as the
// watches' reads do (watches.h). Each answer:
//   - a stale one from a server that last heard from its leader more than
//     kRemoteAliasStaleMax ago is not taken: the same read goes at once without stale, to the
//     leader (Consul's MaxStaleDuration, which Consul's server applies; here the asker does);
//   - the node's checks give the status by Consul's rule (check_state.h's AliasResult); when
//     none of them is the aliased service's, the node's services are read (catalog.node,
//     stale; after a failure again 1, 2 and 3 s later, then the service is taken as present,
//     as Consul's checkServiceExistsOnRemoteServer) and a service that is not there is
//     critical "Service <id> could not be found on node <node>";
//   - the next read carries the answer's index (at least 1), so it waits at the server until
//     the node's checks change, and goes at least kRemoteAliasQueryIntervalMin after the last.
// A failed read is tried again at once up to kRemoteAliasBackoffAttemptsMin times in a row,
// then after 2^(failures - 3) s, at most kRemoteAliasBackoffMax (Consul's checkAliasBackoff*);
// from the second failure in a row the alias is critical "Failure checking aliased node or
// service: <error>". A check removed, or registered again aliasing something else, stops its
// read: the answer, when it comes, is dropped. Statuses go to LocalState's
// SetRemoteAliasResult, so a change syncs as any check's.
//
// Pure: the reads are the agent's own requests (a Requester, as anti-entropy's), answered
// later into this object and handled at its next Tick.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "core/agent/check_state.h"
#include "core/agent/local_state.h"
#include "core/base/log.h"
#include "core/seam/effects.h"
#include "proto/agent.pb.h"

namespace muster::agent {

// Consul's MaxQueryTime for the alias's query.
inline constexpr Duration kRemoteAliasWait = absl::Minutes(1);
// Consul's MaxStaleDuration for it: "we are late at maximum of 15s compared to leader".
inline constexpr Duration kRemoteAliasStaleMax = absl::Seconds(15);
// Consul's checkAliasBackoffMin (failures retried at once) and checkAliasBackoffMaxWait.
inline constexpr int kRemoteAliasBackoffAttemptsMin = 3;
inline constexpr Duration kRemoteAliasBackoffMax = absl::Minutes(1);
// Consul's service lookup: this many retries, the n-th after n seconds.
inline constexpr int kRemoteAliasLookupRetriesMax = 3;
// One alias's reads are at least this far apart, so a server that answers at once without
// blocking cannot make the agent spin (Consul relies on the index alone).
inline constexpr Duration kRemoteAliasQueryIntervalMin = absl::Milliseconds(100);

class RemoteAliases {
 public:
  using Callback = std::function<void(const absl::Status&, const proto::agent::Reply&)>;
  // Issues one of the agent's own requests; `done` runs exactly once, perhaps before it returns.
  using Requester = std::function<void(const std::string& method, const proto::agent::Call& call, Callback done)>;

  explicit RemoteAliases(Logger log) : log_(std::move(log)) {}

  // Follows LocalState's remote aliases (a read started for a new one, dropped for one gone),
  // handles the answers since the last call, issues the reads that are due; requests the next
  // wake-up in `out` (the batch of LocalState's component).
  void Tick(Time now, LocalState& local, const Requester& request, Effects* out);
  // An answer arrived after this step's Tick: the agent asks to be ticked again at once.
  bool wants_tick() const { return answers_waiting_ > 0; }

  size_t size() const { return reads_.size(); }
  uint64_t queries() const { return queries_; }

 private:
  enum class Phase : uint8_t {
    kIdle,        // the next read of the node's checks goes at `due`
    kQuerying,    // that read is out
    kLookupIdle,  // the node's services are read at `due`
    kLookingUp,   // that read is out
  };
  struct Read {
    CheckDefinition alias;  // kind, alias_node, alias_service: what the rule needs
    uint64_t generation = 0;
    Phase phase = Phase::kIdle;
    Time due;
    Time issued_at = absl::InfinitePast();
    uint64_t min_index = 0;  // 0: the first read, not blocking
    bool fresh = false;      // the next read goes without stale (the last was too stale)
    bool issued_stale = false;
    int failures = 0;         // failed reads of the checks in a row
    int lookup_failures = 0;  // failed reads of the services, this answer's
    std::vector<state::Check> checks;  // an answer waiting for the service lookup
    std::optional<std::pair<absl::Status, proto::agent::Reply>> answer;
  };
  void Follow(Time now, const LocalState& local);
  void Issue(Time now, const std::string& id, Read& r, const Requester& request);
  void HandleAnswer(Time now, const std::string& id, Read& r, LocalState& local, Effects* out);
  void HandleChecks(Time now, const std::string& id, Read& r, const proto::agent::Reply& reply, LocalState& local,
                    Effects* out);
  void HandleLookup(Time now, const std::string& id, Read& r, const absl::Status& status,
                    const proto::agent::Reply& reply, LocalState& local, Effects* out);
  void Failed(Time now, const std::string& id, Read& r, std::string_view error, LocalState& local, Effects* out);
  // The checks' status is known: set it, and the next read waits for the node's checks to change.
  void Settle(Time now, const std::string& id, Read& r, bool service_registered, LocalState& local, Effects* out);

  Logger log_;
  absl::btree_map<std::string, Read> reads_;  // by alias check ID
  uint64_t followed_revision_ = 0;
  Time next_due_ = absl::InfiniteFuture();  // the earliest `due` of the idle reads
  uint64_t next_generation_ = 1;
  int answers_waiting_ = 0;
  uint64_t queries_ = 0;
};

}  // namespace muster::agent
