// /v1/coordinate: the WAN coordinates of each datacenter's servers, every node's LAN
// coordinate (blocking), one node's, and an update of one (Consul's coordinate endpoints).
#include <array>
#include <span>
#include <string>
#include <string_view>

#include "io/api/route_util.h"

namespace muster::io::api {
namespace {

Routed CoordinateDatacenters(const EndpointRequest&) { return Call("coordinate.datacenters"); }

Routed CoordinateNodes(const EndpointRequest& in) {
  RoutedCall routed = Call("coordinate.nodes", AnswerShape::kQuery);
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

// GET /v1/coordinate/node/:node: its coordinates, 404 when it has none.
Routed CoordinateNode(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing node name");
  if (auto bad = CheckString("node", in.suffix, kParamBytesMax)) return *bad;
  RoutedCall routed = Call("coordinate.node", AnswerShape::kQuery);
  routed.call.set_key(std::string(in.suffix));
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

// PUT /v1/coordinate/update: {"Node", "Segment", "Coord"}; the agent checks the body.
Routed CoordinateUpdate(const EndpointRequest& in) {
  RoutedCall routed = Call("coordinate.update");
  routed.call.set_json(in.http.body);
  return routed;
}

constexpr std::array kRows = {
    EndpointSpec{"/v1/coordinate/datacenters", "GET", false, CoordinateDatacenters},
    EndpointSpec{"/v1/coordinate/nodes", "GET", false, CoordinateNodes},
    EndpointSpec{"/v1/coordinate/node/", "GET", false, CoordinateNode},
    EndpointSpec{"/v1/coordinate/update", "PUT", false, CoordinateUpdate},
};

}  // namespace

std::span<const EndpointSpec> CoordinateEndpoints() { return kRows; }

}  // namespace muster::io::api
