#include "core/agent/local_methods.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/agent/local_json.h"
#include "core/base/strings.h"

namespace muster::agent {
namespace {

namespace pba = ::muster::proto::agent;

constexpr std::string_view kLocalMethods[] = {
    "agent.services",          "agent.service",          "agent.checks",
    "agent.service.register",  "agent.service.deregister", "agent.check.register",
    "agent.check.deregister",  "agent.check.update",     "agent.maintenance",
    "agent.service.maintenance", "agent.health.service.name", "agent.health.service.id",
};

LocalAnswer Done(absl::StatusOr<uint64_t> write) {
  LocalAnswer a;
  if (!write.ok()) {
    a.status = write.status();
    return a;
  }
  a.write_id = *write;
  return a;
}

LocalAnswer Body(const Json& j) {
  LocalAnswer a;
  a.body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return a;
}

// The checks that bear on a service, node checks included (Consul's ChecksForService with
// node checks), and their aggregate: maintenance when a maintenance check is among them.
std::pair<std::string, Json> ServiceHealth(const LocalState& local, const LocalService& s, std::string_view datacenter) {
  Json checks = Json::array();
  bool maintenance = false;
  state::HealthStatus worst = state::HealthStatus::kPassing;
  for (const auto& [id, c] : local.checks()) {
    if (!c.def.service_id.empty() && c.def.service_id != s.service.id) continue;
    const state::Check record = local.CheckRecord(c);
    worst = std::max(worst, record.status);
    maintenance = maintenance || c.def.kind == CheckKind::kMaintenance;
    checks.push_back(AgentCheckJson(record));
  }
  const std::string aggregated = maintenance ? "maintenance" : std::string(state::HealthStatusName(worst));
  Json j;
  j["AggregatedStatus"] = aggregated;
  j["Service"] = AgentServiceJson(s.service, datacenter);
  j["Checks"] = std::move(checks);
  return {aggregated, std::move(j)};
}

}  // namespace

bool IsLocalMethod(std::string_view method) {
  for (std::string_view m : kLocalMethods) {
    if (m == method) return true;
  }
  return false;
}

int AgentHealthHttpStatus(std::string_view aggregated_status) {
  if (aggregated_status == "passing") return 200;
  if (aggregated_status == "warning") return 429;
  return 503;
}

LocalAnswer ServeLocal(Time now, LocalState& local, std::string_view datacenter, std::string_view method,
                       const pba::Call& call, Effects* out) {
  if (method == "agent.services") {
    Json j = Json::object();
    for (const auto& [id, s] : local.services()) j[id] = AgentServiceJson(s.service, datacenter);
    return Body(j);
  }
  if (method == "agent.service") {
    auto it = local.services().find(call.key());
    if (it == local.services().end()) {
      return LocalAnswer{absl::NotFoundError(absl::StrCat("unknown service ID: ", call.key())), "", 0};
    }
    return Body(AgentServiceJson(it->second.service, datacenter));
  }
  if (method == "agent.checks") {
    Json j = Json::object();
    for (const auto& [id, c] : local.checks()) j[id] = AgentCheckJson(local.CheckRecord(c));
    return Body(j);
  }
  if (method == "agent.service.register") {
    absl::StatusOr<ServiceRegistration> reg = ParseServiceRegistration(call.json());
    if (!reg.ok()) return Done(reg.status());
    return Done(local.AddService(now, std::move(*reg), /*replace_existing_checks=*/call.flags() == 1, out));
  }
  if (method == "agent.service.deregister") {
    if (call.key().empty()) return Done(absl::InvalidArgumentError("Missing service ID"));
    return Done(local.RemoveService(now, call.key(), out));
  }
  if (method == "agent.check.register") {
    absl::StatusOr<CheckDefinition> def = ParseCheckRegistration(call.json());
    if (!def.ok()) return Done(def.status());
    return Done(local.AddCheck(now, std::move(*def), out));
  }
  if (method == "agent.check.deregister") {
    if (call.key().empty()) return Done(absl::InvalidArgumentError("Missing check ID"));
    return Done(local.RemoveCheck(now, call.key(), out));
  }
  if (method == "agent.check.update") {
    absl::StatusOr<CheckUpdate> u = ParseCheckUpdate(call.json());
    if (!u.ok()) return Done(u.status());
    return Done(local.UpdateTtl(now, call.key(), u->status, std::move(u->output), out));
  }
  if (method == "agent.maintenance") {
    return Done(local.SetNodeMaintenance(now, call.flags() == 1, call.value(), out));
  }
  if (method == "agent.service.maintenance") {
    if (call.key().empty()) return Done(absl::InvalidArgumentError("Missing service ID"));
    return Done(local.SetServiceMaintenance(now, call.key(), call.flags() == 1, call.value(), out));
  }
  if (method == "agent.health.service.id") {
    auto it = local.services().find(call.key());
    if (it == local.services().end()) {
      return LocalAnswer{absl::NotFoundError(absl::StrCat("ServiceId ", call.key(), " not found")), "", 0};
    }
    return Body(ServiceHealth(local, it->second, datacenter).second);
  }
  if (method == "agent.health.service.name") {
    Json arr = Json::array();
    for (const auto& [id, s] : local.services()) {
      if (s.service.name == call.key()) arr.push_back(ServiceHealth(local, s, datacenter).second);
    }
    if (arr.empty()) {
      return LocalAnswer{absl::NotFoundError(absl::StrCat("ServiceName ", call.key(), " Not Found")), "", 0};
    }
    return Body(arr);
  }
  return Done(absl::InvalidArgumentError(absl::StrCat("unknown request method \"", Absl(method), "\"")));
}

}  // namespace muster::agent
