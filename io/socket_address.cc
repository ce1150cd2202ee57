#include "io/socket_address.h"

#include <arpa/inet.h>
#include <uv.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace muster::io {

absl::StatusOr<sockaddr_in> ParseSocketAddress(const Address& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(absl::StrCat("address \"", address, "\" is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("address \"", address, "\" has no valid port (0-65535)"));
  }
  sockaddr_in addr{};
  if (uv_ip4_addr(host.c_str(), port, &addr) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("address \"", address, "\": \"", host, "\" is not an IPv4 address"));
  }
  return addr;
}

std::string FormatSocketAddress(const sockaddr_in& addr) {
  char host[INET_ADDRSTRLEN] = {0};
  uv_ip4_name(&addr, host, sizeof(host));
  return absl::StrCat(host, ":", ntohs(addr.sin_port));
}

}  // namespace muster::io
