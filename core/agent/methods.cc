#include "core/agent/methods.h"

#include <utility>

namespace muster::agent {
namespace {

// By family, then name. A few dozen rows: a scan is as quick as a map and needs no
// static initialisation.
constexpr std::pair<std::string_view, MethodKind> kMethods[] = {
    {"agent.force-leave", MethodKind::kAgent},
    {"agent.check.deregister", MethodKind::kAgent},
    {"agent.check.register", MethodKind::kAgent},
    {"agent.check.update", MethodKind::kAgent},
    {"agent.checks", MethodKind::kAgent},
    {"agent.health.service.id", MethodKind::kAgent},
    {"agent.health.service.name", MethodKind::kAgent},
    {"agent.maintenance", MethodKind::kAgent},
    {"agent.service", MethodKind::kAgent},
    {"agent.service.deregister", MethodKind::kAgent},
    {"agent.service.maintenance", MethodKind::kAgent},
    {"agent.service.register", MethodKind::kAgent},
    {"agent.services", MethodKind::kAgent},
    {"agent.join", MethodKind::kAgent},
    {"agent.leave", MethodKind::kAgent},
    {"agent.members", MethodKind::kAgent},
    {"agent.self", MethodKind::kAgent},
    {"catalog.datacenters", MethodKind::kAgent},
    {"catalog.deregister", MethodKind::kWrite},
    {"catalog.node", MethodKind::kRead},
    {"catalog.node-services", MethodKind::kRead},
    {"catalog.nodes", MethodKind::kRead},
    {"catalog.register", MethodKind::kWrite},
    {"catalog.service", MethodKind::kRead},
    {"catalog.services", MethodKind::kRead},
    {"catalog.sync-self", MethodKind::kWrite},
    // The DNS interface (core/agent/dns_resolve.h): stale by default, as Consul's DNS.
    {"dns.query", MethodKind::kRead},
    {"coordinate.datacenters", MethodKind::kAgent},
    {"coordinate.node", MethodKind::kRead},
    {"coordinate.nodes", MethodKind::kRead},
    {"coordinate.update", MethodKind::kWrite},
    {"event.fire", MethodKind::kAgent},
    {"event.list", MethodKind::kAgent},
    {"health.checks", MethodKind::kRead},
    {"health.node", MethodKind::kRead},
    {"health.service", MethodKind::kRead},
    {"health.state", MethodKind::kRead},
    {"kv.delete", MethodKind::kWrite},
    {"kv.get", MethodKind::kRead},
    {"kv.put", MethodKind::kWrite},
    {"operator.autopilot.get", MethodKind::kRead},
    {"operator.autopilot.health", MethodKind::kLeader},
    {"operator.autopilot.set", MethodKind::kWrite},
    {"operator.raft.configuration", MethodKind::kLeader},
    {"operator.raft.remove-peer", MethodKind::kWrite},
    {"session.create", MethodKind::kWrite},
    {"session.destroy", MethodKind::kWrite},
    {"session.info", MethodKind::kRead},
    {"session.node", MethodKind::kRead},
    {"session.list", MethodKind::kRead},
    {"session.renew", MethodKind::kWrite},
    {"status.leader", MethodKind::kAgent},
    {"status.peers", MethodKind::kAgent},
    {"txn", MethodKind::kWrite},
    {"txn.read", MethodKind::kRead},
};

}  // namespace

std::optional<MethodKind> KindOf(std::string_view method) {
  for (const auto& [name, kind] : kMethods) {
    if (name == method) return kind;
  }
  return std::nullopt;
}

}  // namespace muster::agent
