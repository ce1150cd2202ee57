// /v1/txn: transactions (issue 12; being written).
#include <span>

#include "io/api/route_util.h"

namespace muster::io::api {

std::span<const EndpointSpec> TxnEndpoints() { return {}; }

}  // namespace muster::io::api
