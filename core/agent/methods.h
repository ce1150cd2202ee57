// The request methods the agent serves (RequestInput.method), and how each is carried out.
// One table, so that dispatch, forwarding, redirection after a leader change and blocking all
// agree on what a method is. A method not in the table is refused (INVALID_ARGUMENT).
#pragma once

#include <optional>
#include <string_view>

namespace muster::agent {

enum class MethodKind {
  // Answered by this agent from its own state (gossip, its config, its local services):
  // never forwarded.
  kAgent,
  // A read of the state store: in the request's consistency mode (stale: this server;
  // default: the leader's lease; consistent: a ReadIndex round), blocking with ?index.
  // Safe to send again to a new leader.
  kRead,
  // A change proposed by the leader through the log, answered once applied. Never sent
  // twice: after a leader change its outcome is unknown.
  kWrite,
  // Answered by the leader from its own raft state, without the log (raft configuration,
  // autopilot health). Safe to send again.
  kLeader,
};

std::optional<MethodKind> KindOf(std::string_view method);

}  // namespace muster::agent
