// /v1/event: fire a user event into the LAN pool (the name in the path, the payload the body,
// ?node/?service/?tag filters as RE2 patterns the agent checks), and list the events this
// agent kept (?name; blocking on Consul's event index, with the query headers).
#include <array>
#include <optional>
#include <span>

#include "io/api/route_util.h"

namespace muster::io::api {
namespace {

Routed EventFire(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing name");
  if (auto bad = CheckString("event name", in.suffix, kParamBytesMax)) return *bad;
  RoutedCall routed = Call("event.fire");
  routed.call.set_key(std::string(in.suffix));
  routed.call.set_value(in.http.body);
  struct Filter {
    const char* param;
    std::string* field;
  };
  for (const Filter& f : {Filter{"node", routed.call.mutable_event_node_filter()},
                          Filter{"service", routed.call.mutable_event_service_filter()},
                          Filter{"tag", routed.call.mutable_event_tag_filter()}}) {
    std::optional<std::string> value = in.http.Query(f.param);
    if (!value.has_value()) continue;
    if (auto bad = CheckString(f.param, *value, kParamBytesMax)) return *bad;
    *f.field = *value;
  }
  return routed;
}

Routed EventList(const EndpointRequest& in) {
  RoutedCall routed = Call("event.list", AnswerShape::kQuery);
  ApplyReadParams(in.common, &routed.call);
  if (std::optional<std::string> name = in.http.Query("name"); name.has_value()) {
    if (auto bad = CheckString("name", *name, kParamBytesMax)) return *bad;
    routed.call.set_key(*name);
  }
  return routed;
}

constexpr std::array kRows = {
    EndpointSpec{"/v1/event/fire/", "PUT", false, EventFire},
    EndpointSpec{"/v1/event/list", "GET", false, EventList},
};

}  // namespace

std::span<const EndpointSpec> EventEndpoints() { return kRows; }

}  // namespace muster::io::api
