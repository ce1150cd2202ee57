// /v1/agent: this agent (self, members, join, leave, force-leave, reload) and its local services
// and checks (register, deregister, list, TTL updates, maintenance, local health).
#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/go_duration.h"
#include "core/base/strings.h"
#include "io/api/route_util.h"
#include "nlohmann/json.hpp"

namespace muster::io::api {
namespace {

using Json = nlohmann::json;

Routed AgentSelf(const EndpointRequest&) { return Call("agent.self"); }

Routed AgentMembers(const EndpointRequest& in) {
  RoutedCall routed = Call("agent.members");
  routed.call.set_wan(in.http.HasQuery("wan"));
  return routed;
}

Routed AgentJoin(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing address to join");
  if (auto bad = CheckString("address", in.suffix, kParamBytesMax)) return *bad;
  RoutedCall routed = Call("agent.join");
  routed.call.add_addresses(std::string(in.suffix));
  routed.call.set_wan(in.http.HasQuery("wan"));
  return routed;
}

Routed AgentLeave(const EndpointRequest&) { return Call("agent.leave"); }

// PUT /v1/agent/force-leave/:node (?prune, ?wan): an empty 200, also for an unknown node.
Routed AgentForceLeave(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing node name");
  if (auto bad = CheckString("node", in.suffix, kParamBytesMax)) return *bad;
  RoutedCall routed = Call("agent.force-leave");
  routed.call.set_key(std::string(in.suffix));
  routed.call.set_prune(in.http.HasQuery("prune"));
  routed.call.set_wan(in.http.HasQuery("wan"));
  return routed;
}

// PUT /v1/agent/reload: the host re-reads its configuration.
Routed AgentReload(const EndpointRequest&) { return Call("agent.reload"); }

// ---- Local services and checks ---------------------------------------------------------------

// The deepest a registration body may nest: Checks' [{"Header": {"X": ["v"]}}] is 5 (the body,
// the list, a check, its headers, a header's values), with room to spare. The agent reads the
// fields (core/agent/local_json.h); the router only checks the shape and the depth, since
// the agent's parse does not recurse but a dump would.
constexpr int kRegistrationDepthMax = 8;

std::optional<http::Response> CheckJsonBody(std::string_view body) {
  int depth_max = 0;
  Json::parser_callback_t deepest = [&depth_max](int depth, Json::parse_event_t, Json&) {
    depth_max = std::max(depth_max, depth);
    return true;
  };
  Json parsed = Json::parse(body, deepest, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Text(400, "Request decode failed: the body is not a JSON object");
  }
  if (depth_max > kRegistrationDepthMax) {
    return Text(400, absl::StrCat("Request decode failed: nested deeper than ", kRegistrationDepthMax));
  }
  return std::nullopt;
}

// An ID after the path prefix: present, bounded, UTF-8.
std::optional<http::Response> CheckId(std::string_view what, std::string_view id) {
  if (id.empty()) return Text(400, absl::StrCat("Missing ", Absl(what)));
  return CheckString(what, id, kParamBytesMax);
}

// Go's strconv.ParseBool, which Consul reads ?enable with (python-consul sends "True").
std::optional<bool> GoBool(std::string_view v) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (v == t) return true;
  }
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (v == f) return false;
  }
  return std::nullopt;
}

Routed AgentServices(const EndpointRequest&) { return Call("agent.services"); }
Routed AgentChecks(const EndpointRequest&) { return Call("agent.checks"); }

Routed AgentService(const EndpointRequest& in) {
  if (auto bad = CheckId("service ID", in.suffix)) return *bad;
  RoutedCall routed = Call("agent.service");
  routed.call.set_key(std::string(in.suffix));
  return routed;
}

Routed AgentServiceRegister(const EndpointRequest& in) {
  if (auto bad = CheckJsonBody(in.http.body)) return *bad;
  RoutedCall routed = Call("agent.service.register");
  routed.call.set_json(in.http.body);
  // Consul takes ?replace-existing-checks present or true.
  std::optional<std::string> replace = in.http.Query("replace-existing-checks");
  routed.call.set_flags(replace.has_value() && (replace->empty() || GoBool(*replace).value_or(false)) ? 1 : 0);
  return routed;
}

Routed AgentServiceDeregister(const EndpointRequest& in) {
  if (auto bad = CheckId("service ID", in.suffix)) return *bad;
  RoutedCall routed = Call("agent.service.deregister");
  routed.call.set_key(std::string(in.suffix));
  return routed;
}

Routed AgentCheckRegister(const EndpointRequest& in) {
  if (auto bad = CheckJsonBody(in.http.body)) return *bad;
  RoutedCall routed = Call("agent.check.register");
  routed.call.set_json(in.http.body);
  return routed;
}

Routed AgentCheckDeregister(const EndpointRequest& in) {
  if (auto bad = CheckId("check ID", in.suffix)) return *bad;
  RoutedCall routed = Call("agent.check.deregister");
  routed.call.set_key(std::string(in.suffix));
  return routed;
}

// PUT /v1/agent/check/pass|warn|fail/:id?note=...: the note becomes the output.
Routed TtlUpdate(const EndpointRequest& in, std::string_view status) {
  if (auto bad = CheckId("check ID", in.suffix)) return *bad;
  const std::string note = in.http.Query("note").value_or("");
  if (auto bad = CheckString("note", note, kKeyBytesMax)) return *bad;
  RoutedCall routed = Call("agent.check.update");
  routed.call.set_key(std::string(in.suffix));
  Json body;
  body["Status"] = std::string(status);
  body["Output"] = note;
  routed.call.set_json(body.dump());
  return routed;
}
Routed AgentCheckPass(const EndpointRequest& in) { return TtlUpdate(in, "passing"); }
Routed AgentCheckWarn(const EndpointRequest& in) { return TtlUpdate(in, "warning"); }
Routed AgentCheckFail(const EndpointRequest& in) { return TtlUpdate(in, "critical"); }

Routed AgentCheckUpdate(const EndpointRequest& in) {
  if (auto bad = CheckId("check ID", in.suffix)) return *bad;
  if (auto bad = CheckJsonBody(in.http.body)) return *bad;
  RoutedCall routed = Call("agent.check.update");
  routed.call.set_key(std::string(in.suffix));
  routed.call.set_json(in.http.body);
  return routed;
}

// ?enable (required, Go's booleans) and ?reason, as Consul's maintenance endpoints read them.
std::optional<http::Response> MaintenanceParams(const EndpointRequest& in, proto::agent::Call* call) {
  std::optional<std::string> enable = in.http.Query("enable");
  if (!enable.has_value()) return Text(400, "Missing value for enable");
  std::optional<bool> on = GoBool(*enable);
  if (!on.has_value()) return Text(400, absl::StrCat("Invalid value for enable: \"", *enable, "\""));
  const std::string reason = in.http.Query("reason").value_or("");
  if (auto bad = CheckString("reason", reason, kKeyBytesMax)) return *bad;
  call->set_flags(*on ? 1 : 0);
  call->set_value(reason);
  return std::nullopt;
}

Routed AgentMaintenance(const EndpointRequest& in) {
  RoutedCall routed = Call("agent.maintenance");
  if (auto bad = MaintenanceParams(in, &routed.call)) return *bad;
  return routed;
}

Routed AgentServiceMaintenance(const EndpointRequest& in) {
  if (auto bad = CheckId("service ID", in.suffix)) return *bad;
  RoutedCall routed = Call("agent.service.maintenance");
  if (auto bad = MaintenanceParams(in, &routed.call)) return *bad;
  routed.call.set_key(std::string(in.suffix));
  return routed;
}

// GET /v1/agent/health/service/name/:name and /id/:id: Consul's AgentServiceChecksInfo, the
// HTTP status from the aggregated status (200, 429, 503).
Routed AgentHealthByName(const EndpointRequest& in) {
  if (auto bad = CheckId("service name", in.suffix)) return *bad;
  RoutedCall routed = Call("agent.health.service.name", AnswerShape::kAgentHealth);
  routed.call.set_key(std::string(in.suffix));
  return routed;
}

Routed AgentHealthById(const EndpointRequest& in) {
  if (auto bad = CheckId("service ID", in.suffix)) return *bad;
  RoutedCall routed = Call("agent.health.service.id", AnswerShape::kAgentHealth);
  routed.call.set_key(std::string(in.suffix));
  return routed;
}

constexpr std::array kRows = {
    EndpointSpec{"/v1/agent/force-leave/", "PUT", true, AgentForceLeave},
    EndpointSpec{"/v1/agent/reload", "PUT", false, AgentReload},
    EndpointSpec{"/v1/agent/self", "GET", false, AgentSelf},
    EndpointSpec{"/v1/agent/members", "GET", false, AgentMembers},
    EndpointSpec{"/v1/agent/join/", "PUT", true, AgentJoin},
    EndpointSpec{"/v1/agent/leave", "PUT", false, AgentLeave},
    // Local services and checks; within a prefix, the longer first.
    EndpointSpec{"/v1/agent/services", "GET", false, AgentServices},
    EndpointSpec{"/v1/agent/checks", "GET", false, AgentChecks},
    EndpointSpec{"/v1/agent/service/register", "PUT", false, AgentServiceRegister},
    EndpointSpec{"/v1/agent/service/deregister/", "PUT", true, AgentServiceDeregister},
    EndpointSpec{"/v1/agent/service/maintenance/", "PUT", false, AgentServiceMaintenance},
    EndpointSpec{"/v1/agent/service/", "GET", false, AgentService},
    EndpointSpec{"/v1/agent/check/register", "PUT", false, AgentCheckRegister},
    EndpointSpec{"/v1/agent/check/deregister/", "PUT", true, AgentCheckDeregister},
    EndpointSpec{"/v1/agent/check/pass/", "PUT", true, AgentCheckPass},
    EndpointSpec{"/v1/agent/check/warn/", "PUT", true, AgentCheckWarn},
    EndpointSpec{"/v1/agent/check/fail/", "PUT", true, AgentCheckFail},
    EndpointSpec{"/v1/agent/check/update/", "PUT", false, AgentCheckUpdate},
    EndpointSpec{"/v1/agent/maintenance", "PUT", false, AgentMaintenance},
    EndpointSpec{"/v1/agent/health/service/name/", "GET", false, AgentHealthByName},
    EndpointSpec{"/v1/agent/health/service/id/", "GET", false, AgentHealthById},
};

}  // namespace

std::span<const EndpointSpec> AgentEndpoints() { return kRows; }

}  // namespace muster::io::api
