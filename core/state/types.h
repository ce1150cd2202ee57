// The records the state store keeps: catalog nodes, services and checks, KV entries and
// sessions. Fields follow Consul's API objects one for one (the JSON names are in the
// comments) so the HTTP layer can render Consul's responses from these structs alone.
// Plain values only: no pointers, no clocks; every record carries CreateIndex/ModifyIndex.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/base/time.h"

namespace muster::state {

// Consul's api.HealthPassing / HealthWarning / HealthCritical. The order is the
// aggregation order: the worst status of a set of checks is its max.
enum class HealthStatus : uint8_t { kPassing = 0, kWarning = 1, kCritical = 2 };

std::string_view HealthStatusName(HealthStatus s);  // "passing", "warning", "critical"
absl::StatusOr<HealthStatus> ParseHealthStatus(std::string_view name);

// Check IDs Consul reserves (agent/structs: SerfCheckID, NodeMaint, ServiceMaintPrefix).
inline constexpr std::string_view kSerfCheckId = "serfHealth";
inline constexpr std::string_view kSerfCheckName = "Serf Health Status";
inline constexpr std::string_view kNodeMaintenanceCheckId = "_node_maintenance";
inline constexpr std::string_view kServiceMaintenanceCheckPrefix = "_service_maintenance:";

// A catalog node. JSON: ID, Node, Address, Datacenter, TaggedAddresses, Meta,
// CreateIndex, ModifyIndex.
struct Node {
  std::string id;    // ID: a UUID, may be empty for nodes registered without one
  std::string name;  // Node
  std::string address;
  std::string datacenter;
  std::map<std::string, std::string> tagged_addresses;  // "lan", "wan", ...
  std::map<std::string, std::string> meta;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;

  // Equal in everything a client registered (indexes ignored).
  bool SameContent(const Node& o) const;
};

// JSON: Weights {"Passing": 1, "Warning": 1}
struct Weights {
  int32_t passing = 1;
  int32_t warning = 1;
  friend bool operator==(const Weights&, const Weights&) = default;
};

// A service's tagged address. JSON: {"Address", "Port"}.
struct ServiceAddress {
  std::string address;
  int32_t port = 0;
  friend bool operator==(const ServiceAddress&, const ServiceAddress&) = default;
};

// A service instance on a node. JSON (agent form): ID, Service, Tags, Address, Port, Meta,
// Weights, EnableTagOverride, TaggedAddresses; catalog form prefixes "Service".
struct Service {
  std::string id;    // ID / ServiceID; defaults to the name on registration
  std::string name;  // Service / ServiceName
  std::vector<std::string> tags;
  std::string address;
  int32_t port = 0;
  std::map<std::string, std::string> meta;
  Weights weights;
  bool enable_tag_override = false;
  std::map<std::string, ServiceAddress> tagged_addresses;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;

  bool SameContent(const Service& o) const;
};

// A health check, node-level when service_id is empty. JSON: Node, CheckID, Name, Status,
// Notes, Output, ServiceID, ServiceName, ServiceTags, Type, CreateIndex, ModifyIndex.
struct Check {
  std::string node;
  std::string check_id;
  std::string name;
  HealthStatus status = HealthStatus::kCritical;  // Consul's default for a new check
  std::string notes;
  std::string output;
  std::string service_id;
  std::string service_name;               // filled by the store from the service
  std::vector<std::string> service_tags;  // filled by the store from the service
  std::string type;                       // "ttl", "http", "script", "serf", "" ...
  uint64_t create_index = 0;
  uint64_t modify_index = 0;

  bool SameContent(const Check& o) const;
};

// A KV entry. JSON: LockIndex, Key, Flags, Value (base64, null when empty), Session
// (omitted when unlocked), CreateIndex, ModifyIndex.
struct KVEntry {
  std::string key;
  std::string value;
  uint64_t flags = 0;
  uint64_t lock_index = 0;
  std::string session;  // the holder's session ID; empty when unlocked
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  friend bool operator==(const KVEntry&, const KVEntry&) = default;
};

// What happens to a session's locks when it is invalidated (Behavior: "release"|"delete").
enum class SessionBehavior : uint8_t { kRelease = 0, kDelete = 1 };
std::string_view SessionBehaviorName(SessionBehavior b);
absl::StatusOr<SessionBehavior> ParseSessionBehavior(std::string_view name);

// A session. JSON: ID, Name, Node, NodeChecks, ServiceChecks, LockDelay (ns), Behavior,
// TTL ("30s"), CreateIndex, ModifyIndex. (Legacy "Checks" = NodeChecks.)
struct Session {
  std::string id;
  std::string name;
  std::string node;
  std::vector<std::string> node_checks;     // check IDs on `node`
  std::vector<std::string> service_checks;  // check IDs of service checks on `node`
  Duration lock_delay = absl::Seconds(15);
  SessionBehavior behavior = SessionBehavior::kRelease;
  Duration ttl = absl::ZeroDuration();  // zero: no TTL
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  // Not an API field: when the session's TTL runs out (InfinitePast when ttl is zero).
  // Set from the leader's time carried in the create/renew entries, so every server agrees.
  Time expires_at = absl::InfinitePast();
  friend bool operator==(const Session&, const Session&) = default;
};

// Autopilot's configuration, kept in the log (operator autopilot set-config). JSON:
// CleanupDeadServers, LastContactThreshold ("200ms"), MaxTrailingLogs, MinQuorum,
// ServerStabilizationTime ("10s"), RedundancyZoneTag, DisableUpgradeMigration,
// UpgradeVersionTag, CreateIndex, ModifyIndex. The defaults are Consul's.
struct AutopilotConfiguration {
  bool cleanup_dead_servers = true;
  Duration last_contact_threshold = absl::Milliseconds(200);
  uint64_t max_trailing_logs = 250;
  uint32_t min_quorum = 0;  // 0: no floor below which dead servers stay
  Duration server_stabilization_time = absl::Seconds(10);
  std::string redundancy_zone_tag;  // a node meta key; empty: none
  bool disable_upgrade_migration = false;
  std::string upgrade_version_tag;  // a node meta key; empty: the build version
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  friend bool operator==(const AutopilotConfiguration&, const AutopilotConfiguration&) = default;
};

// A node's network coordinate (Consul's structs.Coordinate): JSON Node, Segment, Coord
// {Vec, Error, Adjustment, Height}, in seconds (core/gossip/coordinate.h computes with them).
// Segment is "" (muster has no network segments).
struct NodeCoordinate {
  std::string node;
  std::string segment;
  std::vector<double> vec;
  double error = 0;
  double adjustment = 0;
  double height = 0;
  friend bool operator==(const NodeCoordinate&, const NodeCoordinate&) = default;
};
// What the table accepts: Serf's 8 dimensions and then some, every value finite.
inline constexpr size_t kCoordinateDimensionsMax = 16;
bool CoordinateValuesValid(const NodeCoordinate& c);

// One element of /v1/health/service/:s: the node, the instance and all checks that bear
// on it (the node's checks, then the service's).
struct ServiceHealth {
  Node node;
  Service service;
  std::vector<Check> checks;
};

// A catalog service instance with its node (/v1/catalog/service/:s).
struct ServiceInstance {
  Node node;
  Service service;
};

// The worst status among checks (passing when there are none), Consul's AggregatedStatus.
HealthStatus AggregateStatus(const std::vector<Check>& checks);

}  // namespace muster::state
