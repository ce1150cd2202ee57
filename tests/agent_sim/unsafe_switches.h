// The rules the agent simulations' mutation check switches off (RaftOptions' unsafe_*, and
// AgentMachineOptions' own for the agent's rules), each by name, with the rule it breaks: the
// checkers over whole agents must catch each on some seeds (mutation_test.cc: the crash loop
// for raft's and the reads', the lock and events workloads for the locks' and user events').
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include "core/agent/agent_machine.h"

namespace muster::agent_sim {

struct UnsafeSwitch {
  std::string_view name;
  std::string_view rule;
  std::function<void(agent::AgentMachineOptions&)> apply;
};

inline const std::vector<UnsafeSwitch>& UnsafeSwitches() {
  static const std::vector<UnsafeSwitch> all = {
      {"ack_before_durable", "a leader counts its own entries toward commit before they are synced",
       [](agent::AgentMachineOptions& o) { o.raft.unsafe_ack_before_durable = true; }},
      {"ack_append_before_persist", "a follower acknowledges entries before they are synced",
       [](agent::AgentMachineOptions& o) { o.raft.unsafe_ack_append_before_persist = true; }},
      {"vote_twice_in_term", "a voter grants a second candidate in one term",
       [](agent::AgentMachineOptions& o) { o.raft.unsafe_vote_twice_in_term = true; }},
      {"reply_before_persist", "votes leave before the vote is synced",
       [](agent::AgentMachineOptions& o) { o.raft.unsafe_reply_before_persist = true; }},
      {"followers_serve_default_reads", "followers answer default-mode reads from their own state (as ?stale)",
       [](agent::AgentMachineOptions& o) { o.unsafe_followers_serve_default_reads = true; }},
      {"acquire_takes_held_locks", "an acquire of a key another session holds takes it (two holders)",
       [](agent::AgentMachineOptions& o) { o.unsafe_acquire_takes_held_locks = true; }},
      {"acquire_from_suspect_holders",
       "an acquire takes a lock whose holder's node the leader's gossip suspects (or calls dead), before the "
       "session's invalidation and lock-delay",
       [](agent::AgentMachineOptions& o) { o.unsafe_acquire_from_suspect_holders = true; }},
      {"user_events_handled_twice",
       "a user event is handed to the handlers each time gossip brings it (Serf's Lamport-time dedup and the "
       "agent's event-ID check both off)",
       [](agent::AgentMachineOptions& o) {
         o.unsafe_user_events_no_id_check = true;
         o.lan.unsafe_user_events_no_dedup = true;
       }},
  };
  return all;
}

inline const UnsafeSwitch* FindUnsafeSwitch(std::string_view name) {
  for (const UnsafeSwitch& u : UnsafeSwitches()) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

}  // namespace muster::agent_sim
