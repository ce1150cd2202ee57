// What a server says about itself in its LAN gossip tags, in Consul's keys, and reading them
// back from a member: how servers find each other (bootstrap-expect, clients' server lists)
// without any other discovery. Tags come from the network: every value is checked and a
// member whose tags do not make a server is reported (and ignored), never trusted.
//   role=consul  dc=<datacenter>  id=<node ID>  port=<server RPC port>  vsn=<protocol>
//   expect=<N> (with -bootstrap-expect)  bootstrap=1 (with -bootstrap)
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/agent/bootstrap_expect.h"
#include "core/gossip/serf.h"

namespace muster::agent {

struct ServerTags {
  std::string datacenter;
  std::string node_id;
  uint16_t rpc_port = 8300;
  uint32_t protocol = 1;
  uint32_t expect = 0;
  bool bootstrap = false;
};

gossip::TagMap EncodeServerTags(const ServerTags& tags);

// The server a member announces: nullopt if it is not a server (no role=consul); an error if
// it claims to be one with tags that do not parse. The RPC address is the member's host with
// the tagged port ("10.0.0.1:8301" -> "10.0.0.1:8300", "[::1]:8301" -> "[::1]:8300"; a member
// address without a port, as the simulator's "n1", gives "n1:8300").
absl::StatusOr<std::optional<ServerCandidate>> ServerOf(const gossip::Member& member);

}  // namespace muster::agent
