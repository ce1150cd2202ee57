// /v1/health: checks by node and by state.
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

Routed HealthState(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing check state");
  if (in.suffix != "any" && in.suffix != "passing" && in.suffix != "warning" && in.suffix != "critical") {
    return Text(400, "Invalid check state");
  }
  RoutedCall routed = Call("health.state", AnswerShape::kQuery);
  routed.call.set_key(std::string(in.suffix));
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

Routed HealthNode(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing node name");
  if (auto bad = CheckString("node name", in.suffix, kParamBytesMax)) return *bad;
  RoutedCall routed = Call("health.node", AnswerShape::kQuery);
  routed.call.set_key(std::string(in.suffix));
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

constexpr std::array kRows = {
    EndpointSpec{"/v1/health/node/", "GET", false, HealthNode},
    EndpointSpec{"/v1/health/state/", "GET", false, HealthState},
};

}  // namespace

std::span<const EndpointSpec> HealthEndpoints() { return kRows; }

}  // namespace muster::io::api
