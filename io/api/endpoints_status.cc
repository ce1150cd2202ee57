// /v1/status: the leader and the voters (raft addresses).
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

Routed StatusLeader(const EndpointRequest&) { return Call("status.leader"); }
Routed StatusPeers(const EndpointRequest&) { return Call("status.peers"); }

constexpr std::array kRows = {
    EndpointSpec{"/v1/status/leader", "GET", false, StatusLeader},
    EndpointSpec{"/v1/status/peers", "GET", false, StatusPeers},
};

}  // namespace

std::span<const EndpointSpec> StatusEndpoints() { return kRows; }

}  // namespace muster::io::api
