// /v1/catalog: register and deregister, datacenters, nodes, services, one service, one node.
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

// A read of the catalog with its query parameters (filter, near, node-meta; tag where taken).
Routed CatalogRead(const EndpointRequest& in, std::string method, bool takes_tags = false) {
  RoutedCall routed = Call(std::move(method), AnswerShape::kQuery);
  if (auto bad = ApplyCatalogParams(in.http, in.common, takes_tags, &routed.call)) return *bad;
  return routed;
}

// One node's or one service's read: the name follows the path.
Routed NamedCatalogRead(const EndpointRequest& in, std::string method, std::string_view what, bool takes_tags) {
  if (in.suffix.empty()) return Text(400, absl::StrCat("Missing ", Absl(what), " name"));
  if (auto bad = CheckString(absl::StrCat(Absl(what), " name"), in.suffix, kParamBytesMax)) return *bad;
  Routed routed = CatalogRead(in, std::move(method), takes_tags);
  if (auto* call = std::get_if<RoutedCall>(&routed)) call->call.set_key(std::string(in.suffix));
  return routed;
}

Routed CatalogNodes(const EndpointRequest& in) { return CatalogRead(in, "catalog.nodes"); }

Routed CatalogDatacenters(const EndpointRequest&) { return Call("catalog.datacenters"); }

Routed CatalogServices(const EndpointRequest& in) { return CatalogRead(in, "catalog.services"); }

Routed CatalogNode(const EndpointRequest& in) { return NamedCatalogRead(in, "catalog.node", "node", false); }

Routed CatalogNodeServices(const EndpointRequest& in) {
  return NamedCatalogRead(in, "catalog.node-services", "node", false);
}

Routed CatalogService(const EndpointRequest& in) { return NamedCatalogRead(in, "catalog.service", "service", true); }

// register / deregister: Consul's JSON body goes to the agent as sent; the agent reads it
// (field names in any case, W4) and checks every field before anything is proposed.
Routed CatalogWrite(const EndpointRequest& in, std::string method) {
  RoutedCall routed = Call(std::move(method));
  routed.call.set_json(in.http.body);
  return routed;
}

Routed CatalogRegister(const EndpointRequest& in) { return CatalogWrite(in, "catalog.register"); }

Routed CatalogDeregister(const EndpointRequest& in) { return CatalogWrite(in, "catalog.deregister"); }

constexpr std::array kRows = {
    EndpointSpec{"/v1/catalog/register", "PUT", false, CatalogRegister},
    EndpointSpec{"/v1/catalog/deregister", "PUT", false, CatalogDeregister},
    EndpointSpec{"/v1/catalog/nodes", "GET", false, CatalogNodes},
    EndpointSpec{"/v1/catalog/datacenters", "GET", false, CatalogDatacenters},
    EndpointSpec{"/v1/catalog/services", "GET", false, CatalogServices},
    EndpointSpec{"/v1/catalog/service/", "GET", false, CatalogService},
    EndpointSpec{"/v1/catalog/node/", "GET", false, CatalogNode},
    EndpointSpec{"/v1/catalog/node-services/", "GET", false, CatalogNodeServices},
};

}  // namespace

std::span<const EndpointSpec> CatalogEndpoints() { return kRows; }

}  // namespace muster::io::api
