// /v1/catalog: nodes, services, datacenters, one node.
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

Routed CatalogNodes(const EndpointRequest& in) {
  RoutedCall routed = Call("catalog.nodes", AnswerShape::kQuery);
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

Routed CatalogDatacenters(const EndpointRequest&) { return Call("catalog.datacenters"); }

Routed CatalogServices(const EndpointRequest& in) {
  RoutedCall routed = Call("catalog.services", AnswerShape::kQuery);
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

Routed CatalogNode(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing node name");
  if (auto bad = CheckString("node name", in.suffix, kParamBytesMax)) return *bad;
  RoutedCall routed = Call("catalog.node", AnswerShape::kQuery);
  routed.call.set_key(std::string(in.suffix));
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

constexpr std::array kRows = {
    EndpointSpec{"/v1/catalog/nodes", "GET", false, CatalogNodes},
    EndpointSpec{"/v1/catalog/datacenters", "GET", false, CatalogDatacenters},
    EndpointSpec{"/v1/catalog/services", "GET", false, CatalogServices},
    EndpointSpec{"/v1/catalog/node/", "GET", false, CatalogNode},
};

}  // namespace

std::span<const EndpointSpec> CatalogEndpoints() { return kRows; }

}  // namespace muster::io::api
