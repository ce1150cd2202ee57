#include "core/agent/bootstrap_expect.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace muster::agent {

BootstrapDecision DecideBootstrap(const BootstrapInput& in) {
  using Kind = BootstrapDecision::Kind;
  BootstrapDecision d;
  if (in.expect == 0) return d;
  if (in.has_raft_state) {
    d.kind = Kind::kDisabled;
    d.log = "Raft data found, disabling bootstrap mode";
    return d;
  }
  std::vector<ServerCandidate> servers;
  for (const ServerCandidate& s : in.alive_servers) {
    if (s.datacenter != in.datacenter) continue;  // another datacenter's server (WAN) counts not
    if (s.bootstrap) {
      d.kind = Kind::kDisabled;
      d.log = absl::StrCat("Member ", s.name, " has bootstrap mode. Expect disabled.");
      return d;
    }
    if (s.expect != 0 && s.expect != in.expect) {
      d.kind = Kind::kWait;
      d.log = absl::StrCat("Member ", s.name, " has a conflicting expect value (", s.expect, " vs our ", in.expect,
                           "). All nodes should expect the same number.");
      return d;
    }
    if (s.expect == in.expect) servers.push_back(s);
  }
  if (servers.size() < in.expect) {
    d.kind = Kind::kWait;
    return d;
  }
  std::sort(servers.begin(), servers.end(),
            [](const ServerCandidate& a, const ServerCandidate& b) { return a.raft_id < b.raft_id; });
  for (const ServerCandidate& s : servers) {
    auto it = in.peer_reports.find(s.name);
    if (it != in.peer_reports.end() && it->second) {
      d.kind = Kind::kDisabled;
      d.log = absl::StrCat("Existing Raft peers reported by ", s.name, ", disabling bootstrap mode");
      return d;
    }
  }
  std::vector<ServerCandidate> unasked;
  for (const ServerCandidate& s : servers) {
    if (s.name != in.self && !in.peer_reports.contains(s.name)) unasked.push_back(s);
  }
  if (!unasked.empty()) {
    d.kind = Kind::kAskPeers;
    d.servers = std::move(unasked);
    return d;
  }
  d.kind = Kind::kBootstrap;
  std::vector<std::string> addresses;
  for (const ServerCandidate& s : servers) addresses.push_back(s.rpc_address);
  d.log = absl::StrCat("Found expected number of peers, attempting bootstrap: ", absl::StrJoin(addresses, ","));
  d.servers = std::move(servers);
  return d;
}

}  // namespace muster::agent
