// The replicated state: catalog (nodes, services, checks), KV, sessions, with Consul's
// semantics, plus the index bookkeeping blocking queries need. Every mutation takes the Raft
// index of the entry applying it and the leader's time carried in that entry (`now`), so all
// servers reach bit-identical states. Pure: no clocks, no I/O, no hash-map iteration reaching
// an output (every table is an ordered map).
//
// Errors: bad input returns a non-OK absl::Status and changes nothing. A false "ok" result
// (a failed CAS, a lock held by someone else) is not an error, as in Consul's KV endpoint.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/base/time.h"
#include "core/state/types.h"
#include "core/state/watch.h"

namespace muster::state {

struct StoreConfig {
  size_t kv_value_bytes_max = 512 * 1024;  // Consul's kv_max_value_size default
  Duration session_ttl_min = absl::Seconds(10);
  Duration session_ttl_max = absl::Hours(24);
  int session_ttl_multiplier = 2;  // Consul waits up to 2x the TTL before invalidating
  Duration lock_delay_max = absl::Seconds(60);
  size_t txn_ops_max = 64;
  // Autopilot configuration values past these are mistakes, not choices, and are refused.
  Duration autopilot_duration_max = absl::Hours(24);  // LastContactThreshold, ServerStabilizationTime
  uint64_t autopilot_trailing_logs_max = uint64_t{1} << 32;
  uint32_t autopilot_min_quorum_max = 256;  // voters; clusters run 3, 5 or 7
  size_t autopilot_tag_bytes_max = 128;     // Consul's node meta key length limit
};

// A query result with the index a blocking client waits on (X-Consul-Index); never 0.
template <typename T>
struct Indexed {
  uint64_t index = 1;
  T value;
};

// PUT /v1/catalog/register (also what anti-entropy proposes).
struct RegisterRequest {
  Node node;  // name and address are required (address unless skip_node_update on a known node)
  bool skip_node_update = false;
  std::optional<Service> service;
  std::vector<Check> checks;  // Check + Checks; node defaults to node.name
};

// Transaction verbs of PUT /v1/txn's operations. KV takes them all; Node, Service and Check
// take set, cas, get, delete and delete-cas (Consul's api.NodeSet ... api.CheckDeleteCAS).
enum class TxnVerb : uint8_t {
  kSet, kCas, kLock, kUnlock, kGet, kGetTree, kCheckIndex, kCheckSession, kCheckNotExists,
  kDelete, kDeleteCas, kDeleteTree,
};
std::string_view TxnVerbName(TxnVerb v);  // Consul's "set", "cas", "get-tree", ...
absl::StatusOr<TxnVerb> ParseTxnVerb(std::string_view name);

// Which table an operation works on: the JSON op's one key ("KV", "Node", "Service", "Check").
enum class TxnKind : uint8_t { kKV = 0, kNode = 1, kService = 2, kCheck = 3 };
std::string_view TxnKindName(TxnKind k);  // "KV", "Node", "Service", "Check"
// Whether `kind` takes `verb` (catalog kinds: set, cas, get, delete, delete-cas).
bool TxnKindTakes(TxnKind kind, TxnVerb verb);

struct TxnOp {
  TxnVerb verb = TxnVerb::kGet;
  // KV: Key, Value, Flags, Session; `index` is the request's Index (CAS/check-index), and for
  // the catalog kinds the object's ModifyIndex (cas, delete-cas: 0 means "only if absent").
  KVEntry entry;
  uint64_t index = 0;
  TxnKind kind = TxnKind::kKV;
  Node node;                 // kNode: the node (by name)
  std::string service_node;  // kService: the node the service is on
  Service service;           // kService
  Check check;               // kCheck: Node and CheckID name it
};

struct TxnError {
  size_t op_index = 0;  // OpIndex
  std::string what;     // What
  friend bool operator==(const TxnError&, const TxnError&) = default;
};

// One element of Results: {"KV": ...}, {"Node": ...}, {"Service": ...} or {"Check": ...}.
struct TxnResult {
  TxnKind kind = TxnKind::kKV;
  KVEntry kv;
  Node node;
  Service service;
  Check check;
};

// Results (one per result; get-tree yields several, deletes none; KV writes carry no Value,
// as Consul) or, when any op failed, the errors and nothing applied.
struct TxnResponse {
  std::vector<TxnResult> results;
  std::vector<TxnError> errors;
  bool ok() const { return errors.empty(); }
};

struct NodeServices {
  Node node;
  std::vector<Service> services;  // by service ID
};

class Store {
 public:
  explicit Store(StoreConfig config = {}) : config_(config) {}

  const StoreConfig& config() const { return config_; }
  uint64_t last_index() const { return last_index_; }
  // Records that the entry at `index` was applied (even one that changed nothing).
  void SetLastIndex(uint64_t index);
  // The replicated clock: the latest command time applied. Commands are stamped by whichever
  // server proposed them, so after a leader change a stamp may be older than one already
  // applied; the store never lets its time go back (a lock delay or TTL deadline decided at
  // the later time stays decided). Returns the time to apply the command at: max(t, last).
  Time AdvanceTime(Time t);
  Time last_time() const { return last_time_; }
  // The stamp of the last command applied, as its proposer wrote it (ReplicatedClock anchors
  // a new leader's timeline on it).
  Time last_stamp() const { return last_stamp_; }

  // ---- catalog mutations (docs: api/catalog "Register Entity", "Deregister Entity")
  absl::Status Register(uint64_t idx, Time now, RegisterRequest req);
  // Each is a no-op on something missing, as Consul's.
  absl::Status DeregisterNode(uint64_t idx, Time now, std::string_view node);
  absl::Status DeregisterService(uint64_t idx, Time now, std::string_view node,
                                 std::string_view service_id);
  absl::Status DeregisterCheck(uint64_t idx, Time now, std::string_view node,
                               std::string_view check_id);

  // ---- KV mutations (docs: api/kv "Create/Update Key", "Delete Key"). `entry.session` is
  // the session for Lock/Unlock; the result is Consul's true/false body.
  absl::StatusOr<bool> KVSet(uint64_t idx, KVEntry entry);
  absl::StatusOr<bool> KVCas(uint64_t idx, KVEntry entry, uint64_t cas_index);
  absl::StatusOr<bool> KVLock(uint64_t idx, Time now, KVEntry entry);
  absl::StatusOr<bool> KVUnlock(uint64_t idx, KVEntry entry);
  absl::StatusOr<bool> KVDelete(uint64_t idx, std::string_view key);
  absl::StatusOr<bool> KVDeleteCas(uint64_t idx, std::string_view key, uint64_t cas_index);
  absl::StatusOr<bool> KVDeleteTree(uint64_t idx, std::string_view prefix);
  // Forgets delete markers at or below `up_to_index` (the leader's tombstone GC).
  void ReapTombstones(uint64_t idx, uint64_t up_to_index);

  // ---- sessions (docs: api/session)
  // `session.id` is chosen by the proposer (a UUID). With default_node_checks the session
  // watches the node's serfHealth check, as a create request without Checks does.
  absl::StatusOr<Session> SessionCreate(uint64_t idx, Time now, Session session,
                                        bool default_node_checks);
  // Pushes the TTL deadline out from `now`; NotFound for an unknown session. Not a visible
  // change (no index moves, no watch fires), as Consul's renew, which skips the log.
  absl::StatusOr<Session> SessionRenew(Time now, std::string_view id);
  // Invalidates the session (idempotent), releasing or deleting its locks.
  absl::Status SessionDestroy(uint64_t idx, Time now, std::string_view id);
  // Invalidates the session only if its TTL has run out at `now` (so an expiry proposal
  // overtaken by a renew in the log does nothing). Returns whether it expired.
  bool SessionExpire(uint64_t idx, Time now, std::string_view id);
  // For the leader: sessions whose TTL has run out at `now`, by ID; and the next deadline.
  std::vector<std::string> SessionsExpiredAt(Time now) const;
  std::optional<Time> NextSessionExpiry() const;

  // ---- transactions (docs: api/txn): all or none. More than txn_ops_max operations is
  // an error status (HTTP 413); a failing op gives a response with errors (HTTP 409).
  absl::StatusOr<TxnResponse> Txn(uint64_t idx, Time now, const std::vector<TxnOp>& ops);
  // A transaction of reads only (get, get-tree, check-*), served without the log, as
  // Consul serves read-only /v1/txn requests; a write verb is an error.
  absl::StatusOr<TxnResponse> TxnRead(const std::vector<TxnOp>& ops) const;
  uint64_t TxnReadIndex() const { return TableIndex(kTableKVs) == 0 ? 1 : TableIndex(kTableKVs); }

  // ---- autopilot (docs: api/operator/autopilot "Update Configuration")
  // Stores `config` (its indexes are ignored: CreateIndex is kept from the stored one, else
  // idx; ModifyIndex becomes idx). With `has_cas` it applies only if the stored ModifyIndex
  // equals `cas`, and cas 0 only if none is stored; false when it does not apply, as KV's
  // CAS. A negative duration or a value past StoreConfig's autopilot bounds is an
  // InvalidArgument naming the field.
  absl::StatusOr<bool> AutopilotSet(uint64_t idx, AutopilotConfiguration config, bool has_cas,
                                    uint64_t cas);
  // The stored configuration; none until the first set (the leader then uses its defaults).
  const std::optional<AutopilotConfiguration>& Autopilot() const { return autopilot_; }
  absl::Status ValidateAutopilot(const AutopilotConfiguration& config) const;

  // ---- network coordinates (Consul's Coordinate.Update, batched by the leader into one
  // CoordinateBatchUpdate entry; coordinates.cc). An update for a node not in the catalog,
  // or with a value CoordinateValuesValid refuses, is skipped (Consul's "don't let
  // coordinates outlive the node"); deregistering a node deletes its coordinates.
  void CoordinateBatchUpdate(uint64_t idx, const std::vector<NodeCoordinate>& updates);
  // Every coordinate, by node then segment (/v1/coordinate/nodes); one node's
  // (/v1/coordinate/node/:node). Index: the coordinates table's.
  Indexed<std::vector<NodeCoordinate>> Coordinates() const;
  Indexed<std::vector<NodeCoordinate>> NodeCoordinates(std::string_view node) const;
  // One node's coordinate in `segment`, if any (?near sorting).
  const NodeCoordinate* CoordinateOf(std::string_view node, std::string_view segment = "") const;
  size_t coordinate_count() const { return coordinates_.size(); }

  // ---- queries
  Indexed<std::vector<Node>> Nodes() const;
  std::optional<Node> GetNode(std::string_view name) const;
  // Service name -> union of its instances' tags (sorted, unique): /v1/catalog/services.
  Indexed<std::vector<std::pair<std::string, std::vector<std::string>>>> Services() const;
  // Instances of `service` carrying every tag in `tags` (case-insensitive), by node then ID.
  Indexed<std::vector<ServiceInstance>> ServiceNodes(std::string_view service,
                                                     const std::vector<std::string>& tags) const;
  Indexed<std::optional<NodeServices>> GetNodeServices(std::string_view node) const;
  Indexed<std::vector<Check>> NodeChecks(std::string_view node) const;
  Indexed<std::vector<Check>> ServiceChecks(std::string_view service) const;
  // state: "any", "passing", "warning", "critical".
  absl::StatusOr<Indexed<std::vector<Check>>> ChecksInState(std::string_view state) const;
  // /v1/health/service/:s; passing_only drops instances with any non-passing check.
  Indexed<std::vector<ServiceHealth>> ServiceHealthQuery(std::string_view service,
                                                         const std::vector<std::string>& tags,
                                                         bool passing_only) const;

  // Index: the key's ModifyIndex, or the index of its delete, else the KV table's. (Consul
  // answers the table's index; the key's own moves only when the key does, which is what a
  // blocking single-key read needs.)
  Indexed<std::optional<KVEntry>> KVGet(std::string_view key) const;
  // ?recurse. Index: the last write or delete under the prefix, else the KV table's. Note
  // that reaping tombstones can move a prefix's index back (as in Consul); clients reset.
  Indexed<std::vector<KVEntry>> KVList(std::string_view prefix) const;
  // Keys under prefix; with a separator, keys are cut after the first separator past the
  // prefix and deduplicated ("keys" with "separator").
  Indexed<std::vector<std::string>> KVKeys(std::string_view prefix,
                                           std::string_view separator) const;
  // KVKeys' keys one at a time, in order, without copies (each view is into the stored key:
  // valid until the next write); returns KVKeys' index.
  uint64_t ForEachKVKey(std::string_view prefix, std::string_view separator,
                        absl::FunctionRef<void(std::string_view)> fn) const;
  // A memo of one key listing (ServeStoreRead's `?keys` answer: its body and index), kept
  // until a key or tombstone under its prefix changes, or the store is cleared or restored.
  // Watchers ask the same listing again after every write elsewhere; a listing is a walk of
  // every key under the prefix. At most kKeyListingMemosMax memos (the oldest goes first),
  // each of at most kKeyListingMemoBytesMax bytes. Only a listing of at least one key may be
  // kept: an empty one's index is the KV table's, which a write anywhere moves.
  struct KeyListingMemo {
    std::string prefix;
    std::string separator;
    uint64_t index = 0;
    std::string body;
  };
  static constexpr size_t kKeyListingMemosMax = 4;
  static constexpr size_t kKeyListingMemoBytesMax = 256 * 1024;
  const KeyListingMemo* FindKeyListingMemo(std::string_view prefix, std::string_view separator) const;
  void KeepKeyListingMemo(KeyListingMemo memo) const;
  // The index of the last write or delete of a key under `prefix` (0: none remembered).
  uint64_t KVPrefixIndex(std::string_view prefix) const;
  // When a key may next be acquired (lock delay), if it is delayed at all.
  std::optional<Time> KVLockDelay(std::string_view key) const;

  Indexed<std::optional<Session>> SessionGet(std::string_view id) const;
  Indexed<std::vector<Session>> SessionList() const;
  Indexed<std::vector<Session>> NodeSessions(std::string_view node) const;

  // The index of the table's last change; 0 when it never changed (queries clamp to 1).
  uint64_t TableIndex(std::string_view table) const;
  // Last change to any instance of `service` or its checks or nodes; falls back to the
  // services table for a name never seen.
  uint64_t ServiceIndex(std::string_view service) const;

  // What changed since the last call.
  ChangeSet TakeChanges();

  // Whole-state serialization (the FSM snapshot) and a content hash of the same content
  // (a StableHash fingerprint over the ordered tables, plus the applied index).
  // The KV and tombstone tables enter the hash as sums of per-row hashes kept up to date by
  // every write (the only tables that grow with the writes), so a hash costs a pass over the
  // catalog, sessions and indexes alone; the simulator's checkers hash at every store index.
  std::string Snapshot() const;
  absl::Status Restore(std::string_view bytes);
  uint64_t ContentHash() const;
  // The same value with the KV and tombstone sums recomputed row by row (for tests: the
  // running sums are what a fresh pass gives).
  uint64_t ContentHashRecomputed() const;

  // Sizes, for tests and benchmarks.
  size_t kv_count() const { return kv_.size(); }
  size_t tombstone_count() const { return tombstones_.size(); }
  size_t service_count() const { return services_.size(); }
  size_t check_count() const { return checks_.size(); }

 private:
  using Key2 = std::pair<std::string, std::string>;  // (node, id)

  // catalog helpers
  absl::Status ValidateRegistration(RegisterRequest& req) const;
  void EnsureNode(uint64_t idx, Node node);
  void EnsureService(uint64_t idx, const std::string& node, Service svc);
  void EnsureCheck(uint64_t idx, Time now, Check check);
  void DeleteCheck(uint64_t idx, Time now, const Key2& key);
  void DeleteService(uint64_t idx, Time now, const Key2& key);
  void TouchServiceName(uint64_t idx, const std::string& name);
  void TouchServicesOfNode(uint64_t idx, const std::string& node);
  void TouchServicesOfCheck(uint64_t idx, const Check& check);
  void Touch(const char* table, uint64_t idx);

  // KV helpers; they keep session_locks_ and tombstones_ in step and feed the undo log.
  absl::Status ValidateKVWrite(const KVEntry& entry) const;
  void PutKV(uint64_t idx, KVEntry entry);
  void EraseKV(uint64_t idx, const std::string& key);
  void SaveUndo(const std::string& key);
  absl::StatusOr<bool> KVLockInternal(uint64_t idx, Time now, KVEntry entry);
  bool KVUnlockInternal(uint64_t idx, KVEntry entry);
  bool KVCasInternal(uint64_t idx, KVEntry entry, uint64_t cas_index);
  bool KVDeleteCasInternal(uint64_t idx, const std::string& key, uint64_t cas_index);
  void KVDeleteTreeInternal(uint64_t idx, std::string_view prefix);
  absl::Status TxnReadOne(const TxnOp& op, std::vector<TxnResult>& results) const;
  absl::Status TxnOne(uint64_t idx, Time now, const TxnOp& op, std::vector<TxnResult>& results);
  absl::Status TxnCatalogRead(const TxnOp& op, std::vector<TxnResult>& results) const;
  absl::Status TxnCatalogOne(uint64_t idx, Time now, const TxnOp& op, std::vector<TxnResult>& results);
  void SaveCatalogUndo(const std::string& node, const std::string& service_name);
  void RollBackCatalog();

  // session helpers
  void InvalidateSession(uint64_t idx, Time now, std::string id);  // by value: callers pass keys it erases
  void InvalidateSessionsOnCheck(uint64_t idx, Time now, const std::string& node,
                                 const std::string& check_id);
  absl::Status ValidateSessionCheck(const std::string& node, const std::string& check_id,
                                    bool service_check) const;

  std::vector<Check> ChecksOfNode(const std::string& node, bool node_level_only) const;
  std::vector<Check> ChecksOfService(const std::string& node, const std::string& service_id) const;

  void Clear();

  // Every change to kv_ and tombstones_ goes through these, which keep the row sums of
  // ContentHash (snapshot.cc) in step.
  void SetKVRow(KVEntry entry);
  void EraseKVRow(absl::btree_map<std::string, KVEntry>::iterator it);
  void SetTombstone(const std::string& key, uint64_t index);
  absl::btree_map<std::string, uint64_t>::iterator EraseTombstone(absl::btree_map<std::string, uint64_t>::iterator it);
  void EraseTombstone(const std::string& key);
  // Drops the key listing memos whose prefix `key` is under (every change to kv_ and
  // tombstones_, through the helpers above).
  void DropKeyListingMemos(std::string_view key);
  static uint64_t KVRowHash(const KVEntry& e);
  static uint64_t TombstoneRowHash(const std::string& key, uint64_t index);
  // ContentHash given the two tables' row sums.
  uint64_t ContentHashWith(uint64_t kv_rows_hash, uint64_t tombstone_rows_hash) const;

  StoreConfig config_;
  uint64_t last_index_ = 0;
  Time last_time_ = absl::UnixEpoch();   // see AdvanceTime; in snapshots
  Time last_stamp_ = absl::UnixEpoch();  // see last_stamp; in snapshots

  absl::btree_map<std::string, Node> nodes_;           // by name
  absl::btree_map<std::string, std::string> node_ids_;  // node ID -> name
  absl::btree_map<Key2, Service> services_;            // (node, service ID)
  absl::btree_map<std::string, absl::btree_set<Key2>> services_by_name_;
  absl::btree_map<Key2, Check> checks_;                // (node, check ID)

  absl::btree_map<std::string, KVEntry> kv_;
  absl::btree_map<std::string, uint64_t> tombstones_;  // deleted key -> delete index
  uint64_t kv_rows_hash_ = 0;         // sum of KVRowHash over kv_ (mod 2^64)
  uint64_t tombstone_rows_hash_ = 0;  // sum of TombstoneRowHash over tombstones_
  // A cache of derived answers, not state: in no snapshot or hash (mutable: reads keep it).
  mutable std::vector<KeyListingMemo> key_listing_memos_;  // oldest first
  absl::btree_map<std::string, Time> lock_delays_;     // key -> no acquire before
  absl::btree_map<std::string, absl::btree_set<std::string>> session_locks_;  // session -> keys

  absl::btree_map<std::string, Session> sessions_;
  absl::btree_map<std::string, absl::btree_set<std::string>> sessions_by_node_;

  std::optional<AutopilotConfiguration> autopilot_;

  absl::btree_map<Key2, NodeCoordinate> coordinates_;  // (node, segment)
  void DeleteNodeCoordinates(uint64_t idx, const std::string& node);

  absl::btree_map<std::string, uint64_t> table_index_;
  absl::btree_map<std::string, uint64_t> service_index_;

  ChangeSet changes_;

  // Transaction undo log: the state of each touched key before the transaction.
  struct Undo {
    std::optional<KVEntry> entry;
    std::optional<uint64_t> tombstone;
  };
  bool undo_active_ = false;
  absl::btree_map<std::string, Undo> undo_;
  // The catalog's undo log: everything a catalog op may change is scoped to one node (its
  // services, checks, and sessions, whose locks go through the KV undo log above), so each
  // node touched is saved whole before its first change; plus the per-service-name indexes
  // and the lock delays an invalidated session sets.
  struct NodeUndo {
    std::optional<Node> node;
    std::vector<std::pair<Key2, Service>> services;
    std::vector<std::pair<Key2, Check>> checks;
    std::vector<Session> sessions;
    std::vector<std::pair<Key2, NodeCoordinate>> coordinates;
  };
  absl::btree_map<std::string, NodeUndo> node_undo_;
  absl::btree_map<std::string, std::optional<uint64_t>> service_index_undo_;
  std::optional<absl::btree_map<std::string, Time>> lock_delays_undo_;
};

// Consul's maintenance-mode checks (docs: api/agent "Enable Maintenance Mode"): critical
// checks the agent registers, so the instance drops out of healthy results.
Check NodeMaintenanceCheck(std::string node, std::string reason);
Check ServiceMaintenanceCheck(std::string node, const Service& service, std::string reason);

}  // namespace muster::state
