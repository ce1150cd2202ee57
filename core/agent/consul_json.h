// The records of the catalog, KV store, sessions and gossip in the JSON shapes Consul's HTTP
// API answers with (its field names and value forms), and Consul's session-create body read
// back. What the agent machine puts in a Reply's body.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "core/gossip/serf.h"
#include "core/state/store.h"
#include "core/state/types.h"
#include "nlohmann/json.hpp"

namespace muster::agent {

using Json = nlohmann::ordered_json;

Json MemberJson(const gossip::Member& m);    // /v1/agent/members

// Go's encoding/json match of an object's member to a struct field (W4): any case, the last
// one sent winning; nullptr when absent or null (a null leaves the field as it was).
const Json* Member(const Json& object, std::string_view field);
Json KVJson(const state::KVEntry& e);        // /v1/kv (Value in base64, null when empty)
Json NodeJson(const state::Node& n);         // /v1/catalog/nodes
Json CheckJson(const state::Check& c);       // /v1/health/node
Json SessionJson(const state::Session& s);   // /v1/session/info
Json ServiceJson(const state::Service& s);   // /v1/catalog/node's Services values (AgentService)
// /v1/catalog/service/:s rows (structs.ServiceNode: the node's fields, then the Service* ones).
Json CatalogServiceJson(const state::ServiceInstance& instance);
// /v1/health/service/:s rows: {"Node", "Service", "Checks"} (structs.CheckServiceNode).
Json HealthServiceJson(const state::ServiceHealth& health);

// Consul's session create body: {"Name","Node","LockDelay","Behavior","TTL","Checks",
// "NodeChecks","ServiceChecks"}; absent fields take Consul's defaults (`node`, 15 s lock
// delay, release, no TTL, the node's serfHealth: the bool says whether to add it). Untrusted:
// bounded, every field checked, errors name it.
absl::StatusOr<std::pair<state::Session, bool>> ParseSessionCreate(std::string_view text, const std::string& node);

// PUT /v1/catalog/register's body (api.CatalogRegistration / structs.RegisterRequest): ID,
// Node, Address, Datacenter, TaggedAddresses, NodeMeta, Service {ID, Service, Tags, Address,
// Port, Meta, Weights, EnableTagOverride, TaggedAddresses, ...}, Check and Checks [{Node,
// CheckID, Name, Status, Notes, Output, ServiceID, Type, ...}], SkipNodeUpdate. Field names
// match case-insensitively (Go's encoding/json, W4), the last spelling winning; fields
// muster does not keep (Kind, Proxy, Connect, Definition, WriteRequest, ...) are read past.
// Consul's defaulting is done here: a service's ID is its name, a check's node is the
// request's and its ID its name, a check's status critical. Untrusted: bounded in size, depth
// and counts; every field checked; errors are "Request decode failed: ..." naming it.
struct CatalogRegistration {
  state::RegisterRequest request;
  std::string datacenter;  // "": the agent's
};
absl::StatusOr<CatalogRegistration> ParseCatalogRegister(std::string_view text);

// PUT /v1/catalog/deregister's body: {Node, ServiceID, CheckID, Datacenter} (the node itself
// when neither ID is given).
struct CatalogDeregistration {
  std::string node;
  std::string service_id;
  std::string check_id;
  std::string datacenter;
};
absl::StatusOr<CatalogDeregistration> ParseCatalogDeregister(std::string_view text);

}  // namespace muster::agent
