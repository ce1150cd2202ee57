// A client agent's choice of the server its RPCs go to, as Consul's client-side router
// (agent/router/manager.go): the servers of our datacenter that LAN gossip shows alive, in a
// seeded random order, requests going to the list's front, one server at a time.
//  - A server that joins goes to a uniformly random place in the list (so the list is always
//    a seeded shuffle, and clients that learnt of the servers in the same order still spread
//    over them); one that leaves or fails in gossip is removed; one updated keeps its place.
//  - A failed RPC (a timeout, the server failing in gossip while the RPC was out, an
//    UNAVAILABLE answer) moves that server to the back if it is the current one (Consul's
//    NotifyFailedServer: only the front cycles, so several RPCs failing on one server move it
//    once), and marks it until it answers again or rejoins.
//  - Every rebalance period the list is shuffled again and the first unmarked server brought to
//    the front (Consul pings each in turn; the mark of a failure since the last rebalance
//    stands in for a failed ping), then the marks are cleared. The period is Consul's: clientRPCMinReuseDuration (120 s) plus up to half of it of
//    jitter, or longer in a big cluster so that rebalancing clients open at most 64 connections
//    a second per server (lan_members / (servers * 64) seconds).
// Pure and deterministic for a seed; the list is bounded (kRouterServersMax).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/base/node_id.h"
#include "core/base/rng.h"
#include "core/base/time.h"

namespace muster::agent {

// Servers a client routes among; past it, more servers of our datacenter are ignored (a real
// datacenter has 3 to 7).
inline constexpr size_t kRouterServersMax = 256;

struct ServerRouterOptions {
  // Consul's clientRPCMinReuseDuration: the shortest time requests stay on one server.
  Duration reuse_min = absl::Seconds(120);
  // Consul's clientRPCJitterFraction: up to reuse_min / 2 more, drawn at each rebalance.
  int jitter_fraction = 2;
  // Consul's newRebalanceConnsPerSecPerServer: the cluster-wide rate of rebalancing each
  // server may see.
  double rebalance_conns_per_sec_per_server = 64;
};

struct RoutedServer {
  std::string name;     // its node name in gossip
  Address rpc_address;  // from its tags
  bool failed = false;  // an RPC to it failed since it last answered, joined or a rebalance
};

class ServerRouter {
 public:
  ServerRouter(uint64_t seed, ServerRouterOptions options = {});

  // The servers gossip shows alive in our datacenter now: new ones are added (each at a
  // random place), gone ones removed, known ones keep their place and take a new address.
  // Returns false if some were ignored past kRouterServersMax.
  bool Sync(const std::vector<RoutedServer>& alive);

  // Where requests go now; nullptr with no server known.
  const RoutedServer* Current() const;
  // An RPC to the server at `rpc_address` failed: marked, and sent to the back if current.
  void NotifyFailed(const Address& rpc_address);
  // The server at `rpc_address` answered: its mark is cleared.
  void NotifyAnswered(const Address& rpc_address);
  bool Knows(const Address& rpc_address) const;

  // Shuffles, brings the first unmarked server to the front, clears the marks, and returns how
  // long until the next rebalance for a LAN pool of `lan_members` (jitter drawn from the seed).
  Duration Rebalance(size_t lan_members);
  // The period alone (draws the jitter).
  Duration RebalancePeriod(size_t lan_members);

  const std::vector<RoutedServer>& servers() const { return servers_; }
  uint64_t rebalances() const { return rebalances_; }

 private:
  int IndexOf(const Address& rpc_address) const;

  ServerRouterOptions options_;
  Rng rng_;
  std::vector<RoutedServer> servers_;  // front: the current server
  uint64_t rebalances_ = 0;
};

}  // namespace muster::agent
