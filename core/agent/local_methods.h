// The agent's local request methods (MethodKind::kAgent, answered from LocalState, never
// forwarded): what each takes in the Call and answers, in Consul's JSON.
//
//   agent.services                       {"<id>": AgentService}
//   agent.service         key=id         AgentService, NOT_FOUND when unknown
//   agent.checks                         {"<id>": AgentCheck}
//   agent.service.register json [flags=1: replace-existing-checks]
//   agent.service.deregister key=id      (no-op when unknown, as Consul)
//   agent.check.register  json
//   agent.check.deregister key=id
//   agent.check.update    key=id json={"Status","Output"}  (pass/warn/fail too)
//   agent.maintenance     flags=1 enable | 0 disable, value=reason
//   agent.service.maintenance key=id flags value
//   agent.health.service.name key=name  [AgentServiceChecksInfo], NOT_FOUND when none
//   agent.health.service.id   key=id    AgentServiceChecksInfo, NOT_FOUND when unknown
// A change is answered once its storage write is durable (LocalAnswer::write_id).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "core/agent/local_state.h"
#include "proto/agent.pb.h"

namespace muster::agent {

bool IsLocalMethod(std::string_view method);

struct LocalAnswer {
  absl::Status status;
  std::string body;       // Consul's JSON (empty for the changes)
  uint64_t write_id = 0;  // LocalState's write to wait for; 0: none
};

LocalAnswer ServeLocal(Time now, LocalState& local, std::string_view datacenter, std::string_view method,
                       const proto::agent::Call& call, Effects* out);

// Consul's HTTP status for an AgentServiceChecksInfo's aggregated status: 200 passing, 429
// warning, 503 critical or maintenance.
int AgentHealthHttpStatus(std::string_view aggregated_status);

}  // namespace muster::agent
