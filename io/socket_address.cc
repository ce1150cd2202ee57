#include "io/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <uv.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace muster::io {

absl::StatusOr<SocketAddress> ParseSocketAddress(std::string_view address) {
  const std::string quoted = absl::StrCat("address \"", std::string(address), "\"");
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(absl::StrCat(quoted, " is not host:port"));
  }
  std::string_view host = address.substr(0, colon);
  const bool bracketed = host.front() == '[';
  if (bracketed) {
    if (host.size() < 3 || host.back() != ']') {
      return absl::InvalidArgumentError(absl::StrCat(quoted, ": an IPv6 host is written [host]:port"));
    }
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    // "::1:8301" is ambiguous (is 8301 the port or the last group?): Consul wants brackets too.
    return absl::InvalidArgumentError(absl::StrCat(quoted, ": write an IPv6 host in brackets, [host]:port"));
  }
  int port = 0;
  if (!absl::SimpleAtoi(std::string(address.substr(colon + 1)), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(quoted, " has no valid port (0-65535)"));
  }
  std::string host_text(host);
  if (!bracketed && host_text == "localhost") host_text = "127.0.0.1";
  SocketAddress out;
  if (bracketed) {
    if (uv_ip6_addr(host_text.c_str(), port, reinterpret_cast<sockaddr_in6*>(&out.storage)) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(quoted, ": \"", host_text, "\" is not an IPv6 address"));
    }
  } else if (uv_ip4_addr(host_text.c_str(), port, reinterpret_cast<sockaddr_in*>(&out.storage)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(quoted, ": \"", host_text, "\" is not an IPv4 address"));
  }
  return out;
}

std::string FormatSocketAddress(const sockaddr* addr) {
  char host[INET6_ADDRSTRLEN] = {0};
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    uv_ip6_name(in6, host, sizeof(host));
    return JoinHostPort(host, ntohs(in6->sin6_port));
  }
  const auto* in4 = reinterpret_cast<const sockaddr_in*>(addr);
  uv_ip4_name(in4, host, sizeof(host));
  return JoinHostPort(host, ntohs(in4->sin_port));
}

std::string JoinHostPort(std::string_view host, int port) {
  const bool bracketed = !host.empty() && host.front() == '[';
  if (host.find(':') != std::string_view::npos && !bracketed) return absl::StrCat("[", std::string(host), "]:", port);
  return absl::StrCat(std::string(host), ":", port);
}

}  // namespace muster::io
