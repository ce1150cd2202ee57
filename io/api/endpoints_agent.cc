// /v1/agent: this agent (self, members, join, leave).
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

constexpr std::array kRows = {
    EndpointSpec{"/v1/agent/force-leave/", "PUT", true, AgentForceLeave},
    EndpointSpec{"/v1/agent/reload", "PUT", false, AgentReload},
    EndpointSpec{"/v1/agent/self", "GET", false, AgentSelf},
    EndpointSpec{"/v1/agent/members", "GET", false, AgentMembers},
    EndpointSpec{"/v1/agent/join/", "PUT", true, AgentJoin},
    EndpointSpec{"/v1/agent/leave", "PUT", false, AgentLeave},
};

}  // namespace

std::span<const EndpointSpec> AgentEndpoints() { return kRows; }

}  // namespace muster::io::api
