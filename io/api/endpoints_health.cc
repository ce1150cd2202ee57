// /v1/health: checks by node, service and state; a service's instances with their checks.
#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

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

// A read of the health of one node, service or state, named after the path, with the
// catalog's query parameters (filter, near, node-meta; tag where taken).
Routed HealthRead(const EndpointRequest& in, std::string method, std::string_view what, bool takes_tags) {
  if (in.suffix.empty()) return Text(400, absl::StrCat("Missing ", Absl(what)));
  if (auto bad = CheckString(what, in.suffix, kParamBytesMax)) return *bad;
  RoutedCall routed = Call(std::move(method), AnswerShape::kQuery);
  routed.call.set_key(std::string(in.suffix));
  if (auto bad = ApplyCatalogParams(in.http, in.common, takes_tags, &routed.call)) return *bad;
  return routed;
}

Routed HealthState(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing check state");
  if (in.suffix != "any" && in.suffix != "passing" && in.suffix != "warning" && in.suffix != "critical") {
    return Text(400, "Invalid check state");
  }
  return HealthRead(in, "health.state", "check state", false);
}

Routed HealthNode(const EndpointRequest& in) { return HealthRead(in, "health.node", "node name", false); }

Routed HealthChecks(const EndpointRequest& in) { return HealthRead(in, "health.checks", "service name", false); }

// ?passing (W3: true when present): only instances whose every check, node checks included,
// passes.
Routed HealthService(const EndpointRequest& in) {
  Routed routed = HealthRead(in, "health.service", "service name", true);
  if (auto* call = std::get_if<RoutedCall>(&routed)) call->call.set_passing(in.http.HasQuery("passing"));
  return routed;
}

constexpr std::array kRows = {
    EndpointSpec{"/v1/health/node/", "GET", false, HealthNode},
    EndpointSpec{"/v1/health/checks/", "GET", false, HealthChecks},
    EndpointSpec{"/v1/health/service/", "GET", false, HealthService},
    EndpointSpec{"/v1/health/state/", "GET", false, HealthState},
};

}  // namespace

std::span<const EndpointSpec> HealthEndpoints() { return kRows; }

}  // namespace muster::io::api
