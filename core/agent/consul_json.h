// The records of the catalog, KV store, sessions and gossip in the JSON shapes Consul's HTTP
// API answers with (its field names and value forms), and Consul's session-create body read
// back. What the agent machine puts in a Reply's body.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "core/gossip/serf.h"
#include "core/state/types.h"
#include "nlohmann/json.hpp"

namespace muster::agent {

using Json = nlohmann::ordered_json;

Json MemberJson(const gossip::Member& m);    // /v1/agent/members
Json KVJson(const state::KVEntry& e);        // /v1/kv (Value in base64, null when empty)
Json NodeJson(const state::Node& n);         // /v1/catalog/nodes
Json CheckJson(const state::Check& c);       // /v1/health/node
Json SessionJson(const state::Session& s);   // /v1/session/info
Json ServiceJson(const state::Service& s);   // /v1/catalog/node's Services values (AgentService)

// Consul's session create body: {"Name","Node","LockDelay","Behavior","TTL","Checks",
// "NodeChecks","ServiceChecks"}; absent fields take Consul's defaults (`node`, 15 s lock
// delay, release, no TTL, the node's serfHealth: the bool says whether to add it). Untrusted:
// bounded, every field checked, errors name it.
absl::StatusOr<std::pair<state::Session, bool>> ParseSessionCreate(std::string_view text, const std::string& node);

}  // namespace muster::agent
