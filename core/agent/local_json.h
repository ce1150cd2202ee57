// The agent endpoints' JSON (/v1/agent/service/register, /v1/agent/check/register,
// /v1/agent/check/update, the answers of /v1/agent/services, /checks and /health/service):
// Consul's bodies read back into service records and check definitions, and Consul's
// AgentService, AgentCheck and AgentServiceChecksInfo shapes. Field names are matched as Go's
// encoding/json and Consul's decoder do: case-insensitively, snake_case too (W4), so
// "enable_tag_override", "EnableTagOverride" and "enabletagoverride" are one field; map keys
// (Meta, Header) are kept as sent. Untrusted: bounded, every field checked, errors name it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/agent/check_state.h"
#include "core/state/types.h"
#include "nlohmann/json.hpp"

namespace muster::agent {

using Json = nlohmann::ordered_json;  // as consul_json.h's

// Bounds on one registration (Consul's metadata limits: 64 pairs, keys 128, values 512 bytes).
inline constexpr size_t kServiceTagsMax = 256;
inline constexpr size_t kServiceMetaPairsMax = 64;
inline constexpr size_t kServiceMetaKeyBytesMax = 128;
inline constexpr size_t kServiceMetaValueBytesMax = 512;
inline constexpr size_t kChecksPerRegistrationMax = 64;
inline constexpr size_t kCheckHeadersMax = 64;

// A service and the checks that come with it (Check, then Checks), their IDs and names
// completed as Consul's agent does ("service:<id>", "service:<id>:<n>" when several;
// "Service '<name>' check").
struct ServiceRegistration {
  state::Service service;
  std::vector<CheckDefinition> checks;
};
absl::StatusOr<ServiceRegistration> ParseServiceRegistration(std::string_view text);

// PUT /v1/agent/check/register's body (ID defaults to Name).
absl::StatusOr<CheckDefinition> ParseCheckRegistration(std::string_view text);

// PUT /v1/agent/check/update/:id's body: {"Status", "Output"}.
struct CheckUpdate {
  state::HealthStatus status = state::HealthStatus::kPassing;
  std::string output;
};
absl::StatusOr<CheckUpdate> ParseCheckUpdate(std::string_view text);

// Consul's AgentService (/v1/agent/services values, /v1/agent/service/:id).
Json AgentServiceJson(const state::Service& s, std::string_view datacenter);
// Consul's AgentCheck (/v1/agent/checks values); `check` carries this agent's node.
Json AgentCheckJson(const state::Check& check);

}  // namespace muster::agent
