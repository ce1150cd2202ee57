// Socket addresses as muster writes them: "host:port" for IPv4 ("127.0.0.2:8301", or
// "localhost:8301") and "[host]:port" for IPv6 ("[::1]:8301"), as Consul and Go's
// net.JoinHostPort write them. Parsing gives errors a user can act on; formatting is the
// inverse, so an address read back from a socket compares equal to the one configured.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/base/node_id.h"

namespace muster::io {

// An IPv4 or IPv6 socket address; `storage.ss_family` says which.
struct SocketAddress {
  sockaddr_storage storage{};

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  bool ipv6() const { return storage.ss_family == AF_INET6; }
};

absl::StatusOr<SocketAddress> ParseSocketAddress(std::string_view address);
std::string FormatSocketAddress(const sockaddr* addr);

// "host:port", bracketing an IPv6 host: JoinHostPort("::1", 8301) and JoinHostPort("[::1]",
// 8301) are "[::1]:8301".
std::string JoinHostPort(std::string_view host, int port);

}  // namespace muster::io
