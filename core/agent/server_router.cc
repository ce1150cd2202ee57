// A client's server list and its rotation (server_router.h).
#include "core/agent/server_router.h"

#include <algorithm>
#include <utility>

#include "absl/container/btree_map.h"
#include "core/base/check.h"

namespace muster::agent {

ServerRouter::ServerRouter(uint64_t seed, ServerRouterOptions options) : options_(options), rng_(seed) {
  MUSTER_CHECK(options_.reuse_min > absl::ZeroDuration() && options_.jitter_fraction > 0 &&
                   options_.rebalance_conns_per_sec_per_server > 0,
               "router options out of range");
}

bool ServerRouter::Sync(const std::vector<RoutedServer>& alive) {
  absl::btree_map<std::string, const RoutedServer*> by_name;
  for (const RoutedServer& s : alive) by_name.emplace(s.name, &s);
  // Gone ones out, known ones updated in place.
  std::erase_if(servers_, [&](const RoutedServer& s) { return !by_name.contains(s.name); });
  for (RoutedServer& s : servers_) {
    const RoutedServer& now = *by_name.at(s.name);
    if (s.rpc_address != now.rpc_address) {
      s.rpc_address = now.rpc_address;
      s.failed = false;  // another address: what failed was the old one
    }
    by_name.erase(s.name);
  }
  // New ones (in name order, the map's) each at a uniformly random place: inserting every
  // element at a uniform position of the list so far builds a uniform shuffle.
  bool all_kept = true;
  for (const auto& [name, s] : by_name) {
    if (servers_.size() >= kRouterServersMax) {
      all_kept = false;
      continue;
    }
    const size_t at = rng_.Uniform(servers_.size() + 1);
    servers_.insert(servers_.begin() + static_cast<std::ptrdiff_t>(at), RoutedServer{s->name, s->rpc_address, false});
  }
  MUSTER_CHECK_LE(servers_.size(), kRouterServersMax);
  return all_kept;
}

const RoutedServer* ServerRouter::Current() const { return servers_.empty() ? nullptr : &servers_.front(); }

int ServerRouter::IndexOf(const Address& rpc_address) const {
  for (size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i].rpc_address == rpc_address) return static_cast<int>(i);
  }
  return -1;
}

bool ServerRouter::Knows(const Address& rpc_address) const { return IndexOf(rpc_address) >= 0; }

void ServerRouter::NotifyFailed(const Address& rpc_address) {
  const int i = IndexOf(rpc_address);
  if (i < 0) return;
  servers_[i].failed = true;
  // Only the current server cycles: the RPCs that were out to it when it failed each report
  // it, and it must move back once, not once per RPC (Consul's NotifyFailedServer).
  if (i == 0 && servers_.size() > 1) std::rotate(servers_.begin(), servers_.begin() + 1, servers_.end());
}

void ServerRouter::NotifyAnswered(const Address& rpc_address) {
  const int i = IndexOf(rpc_address);
  if (i >= 0) servers_[i].failed = false;
}

Duration ServerRouter::RebalancePeriod(size_t lan_members) {
  const Duration jitter_max = options_.reuse_min / options_.jitter_fraction;
  const Duration reuse = options_.reuse_min + rng_.UniformDuration(absl::ZeroDuration(), jitter_max);
  if (servers_.empty()) return reuse;
  // Consul's RateScaledInterval: lan_members rebalances spread so the cluster's servers see at
  // most conns_per_sec_per_server each a second.
  const double rate = options_.rebalance_conns_per_sec_per_server * static_cast<double>(servers_.size());
  const Duration scaled = absl::Seconds(static_cast<double>(lan_members) / rate);
  return std::max(reuse, scaled);
}

Duration ServerRouter::Rebalance(size_t lan_members) {
  ++rebalances_;
  for (size_t i = servers_.size(); i > 1; --i) {
    std::swap(servers_[i - 1], servers_[rng_.Uniform(i)]);
  }
  // The first server not recently failed comes to the front, the order otherwise kept (Consul
  // cycles past the servers that do not answer its ping); with all marked, the shuffle stands.
  auto healthy = std::find_if(servers_.begin(), servers_.end(), [](const RoutedServer& s) { return !s.failed; });
  if (healthy != servers_.end()) std::rotate(servers_.begin(), healthy, servers_.end());
  // A mark stands for one period, as a ping's answer would: a server that failed once (a
  // timeout in a partition since healed) is not kept from the front for ever.
  for (RoutedServer& s : servers_) s.failed = false;
  return RebalancePeriod(lan_members);
}

}  // namespace muster::agent
