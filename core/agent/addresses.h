// Agent addresses as Consul writes them: "host:port", "[v6]:port", or a bare host (the
// simulator's "n1"): their parts, and a join address completed with the pool's port.
#pragma once

#include <string>
#include <string_view>

namespace muster::agent {

// The host of an address, IPv6 without brackets ("[::1]:8301" -> "::1").
std::string HostOf(std::string_view address);
// Its port, or `fallback` when it names none.
int PortOf(std::string_view address, int fallback);
// A join address with the pool's port when it names none ("10.0.0.1" -> "10.0.0.1:8301",
// "::1" -> "[::1]:8301").
std::string WithPort(std::string_view address, int port);

}  // namespace muster::agent
