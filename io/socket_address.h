// Parsing "host:port" (IPv4 dotted quad, or "localhost") into a sockaddr, with errors a
// user can act on.
#pragma once

#include <netinet/in.h>

#include <string>

#include "absl/status/statusor.h"
#include "core/base/node_id.h"

namespace muster::io {

absl::StatusOr<sockaddr_in> ParseSocketAddress(const Address& address);
std::string FormatSocketAddress(const sockaddr_in& addr);

}  // namespace muster::io
