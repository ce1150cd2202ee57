#include "cmd/agent/startup.h"

#include <arpa/inet.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/agent/agent_machine.h"
#include "core/base/strings.h"

namespace muster::cmd {
namespace {

bool IsWildcard(std::string_view addr) { return addr == "0.0.0.0" || addr == "::" || addr == "[::]"; }

// RFC 1918 and RFC 6598 (shared address space), as go-sockaddr's private blocks.
bool IsPrivateIpv4(const std::string& ip) {
  in_addr addr;
  if (inet_pton(AF_INET, ip.c_str(), &addr) != 1) return false;
  const uint32_t a = ntohl(addr.s_addr);
  return (a >> 24) == 10 || (a >> 20) == (172u << 4 | 1) || (a >> 16) == (192u << 8 | 168) ||
         (a >> 22) == (100u << 2 | 1);
}

// Global unicast: not loopback, link-local (fe80::/10) or unique-local (fc00::/7).
bool IsGlobalIpv6(const std::string& ip) {
  in6_addr addr;
  if (inet_pton(AF_INET6, ip.c_str(), &addr) != 1) return false;
  const uint8_t first = addr.s6_addr[0], second = addr.s6_addr[1];
  if (first == 0xfe && (second & 0xc0) == 0x80) return false;
  if ((first & 0xfe) == 0xfc) return false;
  return (first & 0xe0) == 0x20;  // 2000::/3
}

std::string Bool(bool b) { return b ? "true" : "false"; }

}  // namespace

std::string JoinHostPort(std::string_view host, int port) {
  if (host.find(':') != std::string_view::npos && !(host.size() > 0 && host.front() == '[')) {
    return absl::StrCat("[", Absl(host), "]:", port);
  }
  return absl::StrCat(Absl(host), ":", port);
}

absl::StatusOr<std::string> ResolveAdvertiseAddr(const agent::AgentConfig& config,
                                                 const std::vector<InterfaceAddress>& interfaces) {
  if (!config.advertise_addr.empty()) return config.advertise_addr;
  if (!IsWildcard(config.bind_addr)) return config.bind_addr;
  const bool want_ipv6 = config.bind_addr != "0.0.0.0";
  std::vector<std::string> found;
  for (const InterfaceAddress& address : interfaces) {
    if (address.internal || address.ipv6 != want_ipv6) continue;
    if (want_ipv6 ? IsGlobalIpv6(address.ip) : IsPrivateIpv4(address.ip)) found.push_back(address.ip);
  }
  const std::string_view kind = want_ipv6 ? "public IPv6" : "private IPv4";
  if (found.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("No ", Absl(kind), " address found: configure one with -bind or -advertise"));
  }
  if (found.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat("Multiple ", Absl(kind), " addresses found (", absl::StrJoin(found, ", "),
                                                      "). Please configure one with 'bind' and/or 'advertise'."));
  }
  return found.front();
}

std::string FormatBanner(const agent::AgentConfig& config, std::string_view node_id, std::string_view advertise_addr) {
  // Consul's lines: a "==> " header, then each fact right-aligned on its colon in column 19.
  std::string out = "==> Starting muster agent...\n";
  auto line = [&out](std::string_view name, const std::string& value) {
    absl::StrAppend(&out, absl::StrFormat("%18s: %s\n", Absl(name), value));
  };
  line("Version", absl::StrCat("'", Absl(agent::kVersion), "'"));
  line("Node ID", absl::StrCat("'", Absl(node_id), "'"));
  line("Node name", absl::StrCat("'", config.node_name, "'"));
  line("Datacenter", absl::StrCat("'", config.datacenter, "' (Segment: '", config.server ? "<all>" : "", "')"));
  line("Server", absl::StrCat(Bool(config.server), " (Bootstrap: ", Bool(config.bootstrap), ")"));
  line("Client Addr", absl::StrCat("[", config.client_addr, "] (HTTP: ", config.ports.http, ", HTTPS: -1, DNS: ",
                                   config.ports.dns, ")"));
  line("Cluster Addr", absl::StrCat(Absl(advertise_addr), " (LAN: ", config.ports.serf_lan, ", WAN: ",
                                    config.server ? config.ports.serf_wan : -1, ")"));
  line("Encrypt", "Gossip: false, TLS-Outgoing: false, TLS-Incoming: false, Auto-Encrypt-TLS: false");
  out += "\n==> Log data will now stream in as it occurs:\n\n";
  return out;
}

}  // namespace muster::cmd
