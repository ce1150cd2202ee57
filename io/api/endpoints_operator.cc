// /v1/operator: raft configuration and peers, autopilot.
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

Routed RaftConfiguration(const EndpointRequest& in) {
  RoutedCall routed = Call("operator.raft.configuration");
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

Routed RaftRemovePeer(const EndpointRequest& in) {
  const http::Request& request = in.http;
  std::optional<std::string> id = request.Query("id");
  std::optional<std::string> address = request.Query("address");
  if (!id.has_value() && !address.has_value()) {
    return Text(400,
                "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove");
  }
  if (id.has_value() && address.has_value()) return Text(400, "Must specify only one of ?id or ?address");
  RoutedCall routed = Call("operator.raft.remove-peer");
  if (id.has_value()) {
    if (auto bad = CheckString("id", *id, kParamBytesMax)) return *bad;
    routed.call.set_id(*id);
  } else {
    if (auto bad = CheckString("address", *address, kParamBytesMax)) return *bad;
    routed.call.set_address(*address);
  }
  return routed;
}

Routed AutopilotConfiguration(const EndpointRequest& in) {
  const http::Request& request = in.http;
  if (request.method != "PUT") {
    RoutedCall routed = Call("operator.autopilot.get");
    ApplyReadParams(in.common, &routed.call);
    return routed;
  }
  // The body is the agent's to read field by field; here it only has to be a JSON object, so
  // garbage is a 400 at the edge. (nlohmann 3.11 parses and frees without recursion, so deep
  // nesting costs heap bounded by the 512 KiB body, not stack.)
  Json parsed = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Text(400, "Error parsing autopilot config: the body is not a JSON object");
  }
  RoutedCall routed = Call("operator.autopilot.set");
  routed.call.set_json(request.body);
  UintParam cas = ParseUintParam(request, "cas");
  if (cas.error.has_value()) return *cas.error;
  if (cas.value.has_value()) {
    routed.call.set_has_cas(true);
    routed.call.set_cas(*cas.value);
  }
  return routed;
}

Routed AutopilotHealth(const EndpointRequest& in) {
  RoutedCall routed = Call("operator.autopilot.health", AnswerShape::kAutopilotHealth);
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

constexpr std::array kRows = {
    EndpointSpec{"/v1/operator/raft/configuration", "GET", false, RaftConfiguration},
    EndpointSpec{"/v1/operator/raft/peer", "DELETE", false, RaftRemovePeer},
    EndpointSpec{"/v1/operator/autopilot/configuration", "GET,PUT", false, AutopilotConfiguration},
    EndpointSpec{"/v1/operator/autopilot/health", "GET", false, AutopilotHealth},
};

}  // namespace

std::span<const EndpointSpec> OperatorEndpoints() { return kRows; }

}  // namespace muster::io::api
