// Blocking-query support. The store records what each apply changed (ChangeSet); hosts park
// their waiting requests in a WatchRegistry under the topics their query reads, and after an
// apply ask Notify() which of them to wake. The answer is deterministic: ids in ascending
// order. A woken watch is removed (one-shot); the host re-runs the query, compares the
// result's index with the client's, and parks again if it has not moved.
// Never depends on hash-map iteration order; never holds a clock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"

namespace muster::state {

// Table names used in ChangeSet::tables and table-level watch topics.
inline constexpr char kTableNodes[] = "nodes";
inline constexpr char kTableServices[] = "services";
inline constexpr char kTableChecks[] = "checks";
inline constexpr char kTableKVs[] = "kvs";
inline constexpr char kTableSessions[] = "sessions";
inline constexpr char kTableAutopilot[] = "autopilot-config";  // Consul's table name
inline constexpr char kTableCoordinates[] = "coordinates";

// What one apply (or a run of direct store calls) changed.
struct ChangeSet {
  bool everything = false;                     // e.g. a snapshot restore
  absl::btree_set<std::string> tables;         // kTable* names
  absl::btree_set<std::string> service_names;  // services whose instances/checks/nodes changed
  absl::btree_set<std::string> nodes;          // node names whose node/services/checks changed
  absl::btree_set<std::string> kv_keys;        // KV keys written or deleted
  absl::btree_set<std::string> sessions;       // session IDs created or destroyed

  bool empty() const {
    return !everything && tables.empty() && service_names.empty() && nodes.empty() &&
           kv_keys.empty() && sessions.empty();
  }
  void Merge(const ChangeSet& o);
};

// Which topics a blocking query parks on (the topics cover every change that can move the
// index its Store query returns):
//   KVGet(key)                         KVKey(key)
//   KVList(prefix), KVKeys(prefix, _)  KVPrefix(prefix)
//   Nodes()                            Table(nodes)
//   Services()                         Table(services)
//   ServiceNodes / ServiceHealthQuery / ServiceChecks(name)   ServiceName(name)
//   GetNodeServices(node)              Table(nodes) + Table(services)
//   NodeChecks(node), ChecksInState    Table(checks)
//   SessionGet / SessionList / NodeSessions   Table(sessions)
//   Autopilot()                        Table(autopilot-config)
//   Coordinates(), NodeCoordinates     Table(coordinates)
struct WatchTopic {
  enum class Kind : uint8_t {
    kTable,        // name: a kTable* name; fires on any change to that table
    kServiceName,  // name: a service name (catalog/service, health/service, health/checks)
    kNode,         // name: a node name (catalog/node, health/node)
    kKVPrefix,     // name: a key prefix; fires on any write or delete of a key under it
    kKVKey,        // name: one key; fires on a write or delete of exactly that key
    kSession,      // name: a session ID
  };
  Kind kind = Kind::kTable;
  std::string name;

  static WatchTopic Table(std::string n) { return {Kind::kTable, std::move(n)}; }
  static WatchTopic ServiceName(std::string n) { return {Kind::kServiceName, std::move(n)}; }
  static WatchTopic NodeName(std::string n) { return {Kind::kNode, std::move(n)}; }
  static WatchTopic KVPrefix(std::string p) { return {Kind::kKVPrefix, std::move(p)}; }
  static WatchTopic KVKey(std::string k) { return {Kind::kKVKey, std::move(k)}; }
  static WatchTopic SessionId(std::string id) { return {Kind::kSession, std::move(id)}; }
};

class WatchRegistry {
 public:
  explicit WatchRegistry(size_t max_watches = size_t{1} << 20) : max_watches_(max_watches) {}

  // Parks watch `id` (unique among parked watches) on `topics` (at least one). False when
  // the registry is full: the host then answers the request at once with the current data
  // (a legal blocking-query answer; the client simply asks again).
  bool Add(uint64_t id, std::vector<WatchTopic> topics);
  // Removes a parked watch (its request timed out); false when it was not parked.
  bool Remove(uint64_t id);
  // The ids of the watches `changes` touches, ascending; they are removed.
  std::vector<uint64_t> Notify(const ChangeSet& changes);

  size_t size() const { return watches_.size(); }

 private:
  using IdSet = absl::btree_set<uint64_t>;
  using TopicIndex = absl::btree_map<std::string, IdSet>;
  TopicIndex& IndexFor(WatchTopic::Kind kind);
  static void Collect(const TopicIndex& index, const absl::btree_set<std::string>& names,
                      std::vector<uint64_t>& out);

  size_t max_watches_;
  absl::btree_map<uint64_t, std::vector<WatchTopic>> watches_;
  TopicIndex tables_, service_names_, nodes_, kv_prefixes_, kv_keys_, sessions_;
  // How many parked KV-prefix topics have each length: a changed key is matched by looking
  // up only its prefixes of these lengths.
  absl::btree_map<size_t, size_t> kv_prefix_lengths_;
};

}  // namespace muster::state
