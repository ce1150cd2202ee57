// /v1/session: create, destroy, renew, info, list.
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
using OrderedJson = nlohmann::ordered_json;

// ---- Sessions --------------------------------------------------------------------------------

// The session-create fields, as Consul's structs.Session names them. Go's encoding/json
// matches field names case-insensitively (W4) and python-consul sends them in lower case
// ("name", "behavior", "ttl", "lockdelay"), so the router renames them to these before the
// agent reads the body field by field.
constexpr std::array<std::string_view, 8> kSessionFields = {
    "Name", "Node", "LockDelay", "Behavior", "TTL", "Checks", "NodeChecks", "ServiceChecks"};

// The deepest a session-create body may nest: ServiceChecks' [{"ID": ...}] is 3 (the body
// object, the list, its entries), with room to spare.
constexpr int kSessionBodyDepthMax = 8;

std::string_view SessionFieldName(std::string_view sent) {
  for (std::string_view field : kSessionFields) {
    if (absl::EqualsIgnoreCase(Absl(sent), Absl(field))) return field;
  }
  return sent;  // unknown: the agent refuses it, naming it
}

Routed SessionCreate(const EndpointRequest& in) {
  RoutedCall routed = Call("session.create");
  const std::string& body = in.http.body;
  // No body is a session with Consul's defaults (python-consul sends none then).
  if (body.empty()) return routed;
  // Key order kept, so the agent sees the fields in the order sent; a field sent twice under
  // two spellings keeps the later value, as encoding/json does. The parse does not recurse,
  // but the dump below does: a body nested deeper than any session field is refused first.
  int depth_max = 0;
  OrderedJson::parser_callback_t deepest = [&depth_max](int depth, nlohmann::json::parse_event_t, OrderedJson&) {
    depth_max = std::max(depth_max, depth);
    return true;
  };
  OrderedJson parsed = OrderedJson::parse(body, deepest, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Text(400, "Request decode failed: the body is not a JSON object");
  }
  if (depth_max > kSessionBodyDepthMax) {
    return Text(400, absl::StrCat("Request decode failed: nested deeper than ", kSessionBodyDepthMax));
  }
  OrderedJson canonical = OrderedJson::object();
  for (auto field = parsed.begin(); field != parsed.end(); ++field) {
    canonical[std::string(SessionFieldName(field.key()))] = std::move(field.value());
  }
  routed.call.set_json(canonical.dump(-1, ' ', false, OrderedJson::error_handler_t::replace));
  return routed;
}

// The session ID that follows /v1/session/<verb>/, or the 400 Consul answers without one.
std::optional<http::Response> CheckSessionId(std::string_view id) {
  if (id.empty()) return Text(400, "Missing session");
  return CheckString("session", id, kParamBytesMax);
}

Routed SessionDestroy(const EndpointRequest& in) {
  if (auto bad = CheckSessionId(in.suffix)) return *bad;
  RoutedCall routed = Call("session.destroy");
  routed.call.set_key(std::string(in.suffix));
  return routed;
}

Routed SessionRenew(const EndpointRequest& in) {
  if (auto bad = CheckSessionId(in.suffix)) return *bad;
  RoutedCall routed = Call("session.renew");
  routed.call.set_key(std::string(in.suffix));
  return routed;
}

Routed SessionInfo(const EndpointRequest& in) {
  if (auto bad = CheckSessionId(in.suffix)) return *bad;
  RoutedCall routed = Call("session.info", AnswerShape::kQuery);
  routed.call.set_key(std::string(in.suffix));
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

// GET /v1/session/node/:node: the node's sessions ([] for a node with none, or unknown).
Routed SessionNode(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing node name");
  if (auto bad = CheckString("node", in.suffix, kParamBytesMax)) return *bad;
  RoutedCall routed = Call("session.node", AnswerShape::kQuery);
  routed.call.set_key(std::string(in.suffix));
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

Routed SessionList(const EndpointRequest& in) {
  RoutedCall routed = Call("session.list", AnswerShape::kQuery);
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

constexpr std::array kRows = {
    EndpointSpec{"/v1/session/create", "PUT", false, SessionCreate},
    EndpointSpec{"/v1/session/destroy/", "PUT", false, SessionDestroy},
    EndpointSpec{"/v1/session/renew/", "PUT", false, SessionRenew},
    EndpointSpec{"/v1/session/info/", "GET", false, SessionInfo},
    EndpointSpec{"/v1/session/node/", "GET", false, SessionNode},
    EndpointSpec{"/v1/session/list", "GET", false, SessionList},
};

}  // namespace

std::span<const EndpointSpec> SessionEndpoints() { return kRows; }

}  // namespace muster::io::api
