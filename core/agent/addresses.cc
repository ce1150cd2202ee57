#include "core/agent/addresses.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace muster::agent {

std::string HostOf(std::string_view address) {
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find(']');
    return std::string(close == std::string::npos ? address : address.substr(1, close - 1));
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || address.find(':') != colon) return std::string(address);
  return std::string(address.substr(0, colon));
}

int PortOf(std::string_view address, int fallback) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return fallback;
  if (address[0] != '[' && address.find(':') != colon) return fallback;  // a bare IPv6 address
  int port = 0;
  return absl::SimpleAtoi(std::string(address.substr(colon + 1)), &port) ? port : fallback;
}

// A join address with the pool's port when it names none ("10.0.0.1" -> "10.0.0.1:8301",
// "::1" -> "[::1]:8301").
std::string WithPort(std::string_view address, int port) {
  if (address.empty()) return "";
  if (address[0] == '[') {
    return address.find("]:") != std::string_view::npos ? std::string(address)
                                                         : absl::StrCat(std::string(address), ":", port);
  }
  const size_t colons = std::count(address.begin(), address.end(), ':');
  if (colons == 1) return std::string(address);
  if (colons > 1) return absl::StrCat("[", std::string(address), "]:", port);
  return absl::StrCat(std::string(address), ":", port);
}

}  // namespace muster::agent
