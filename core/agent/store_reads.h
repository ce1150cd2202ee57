// The reads of the state store the agent serves (MethodKind::kRead): the answer's Consul JSON
// and index from the store as it is, and the watch topics a blocking query on it parks on.
// Pure functions of the store and the call; where and when a read runs (which server, which
// consistency mode, parked or not) is the agent machine's business.
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/agent/autopilot.h"
#include "core/state/store.h"
#include "core/state/watch.h"
#include "proto/agent.pb.h"

namespace muster::agent {

struct StoreReadContext {
  // What operator.autopilot.get answers before a configuration is stored.
  const AutopilotConfig& default_autopilot;
  // This agent's node name: what ?near=_agent sorts first.
  std::string_view node_name = {};
};

// Fills reply's body and index. NOT_FOUND (kv: nothing matches) still sets the index: it is
// answered with the query headers, and blocks like any answer. Other errors: the client's
// mistake (INVALID_ARGUMENT), answered at once.
absl::Status ServeStoreRead(const state::Store& store, const StoreReadContext& context, std::string_view method,
                            const proto::agent::Call& call, proto::agent::Reply* reply);

// What a blocking query of `method` watches; empty: it does not block.
std::vector<state::WatchTopic> StoreReadTopics(std::string_view method, const proto::agent::Call& call);

}  // namespace muster::agent
