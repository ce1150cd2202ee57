// What `muster agent` works out before it starts, as pure functions of the configuration: the
// address it advertises, each endpoint's host:port, and the start banner in Consul's shape
// (command/agent: "==> Starting Consul agent..." and its aligned lines) with our name.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/agent/agent_config.h"

namespace muster::cmd {

// "10.0.0.1:8300", "[::1]:8300".
std::string JoinHostPort(std::string_view host, int port);

// One address of a network interface of this host.
struct InterfaceAddress {
  std::string ip;  // "10.0.0.5", "fe80::1"
  bool ipv6 = false;
  bool internal = false;  // loopback
};

// The address peers reach this agent at (Consul's rules): -advertise when given; else -bind
// unless it is a wildcard (0.0.0.0, ::); else this host's one private IPv4 address (for ::,
// its one global IPv6 address). None or several is an error asking for -bind or -advertise.
absl::StatusOr<std::string> ResolveAdvertiseAddr(const agent::AgentConfig& config,
                                                 const std::vector<InterfaceAddress>& interfaces);

// The banner, through "==> Log data will now stream in as it occurs:" and a blank line.
std::string FormatBanner(const agent::AgentConfig& config, std::string_view node_id, std::string_view advertise_addr);

}  // namespace muster::cmd
