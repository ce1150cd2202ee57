// /v1/event: fire and list user events (issue 12; being written).
#include <span>

#include "io/api/route_util.h"

namespace muster::io::api {

std::span<const EndpointSpec> EventEndpoints() { return {}; }

}  // namespace muster::io::api
