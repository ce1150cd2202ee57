// Configuration of the memberlist level (SWIM + Lifeguard), with the two profiles Consul
// uses. Every value is configurable; the profiles only pick the defaults. Units are in
// the names' types (absl::Duration) or suffixes.
#pragma once

#include <cstdint>
#include <string>

#include "core/base/time.h"
#include "core/seam/channel.h"

namespace muster::gossip {

// Names: ours put units and qualifiers last (members_max, datagram_bytes_max, meta_bytes_max,
// count_sync_interval). Those that mirror a Go memberlist option keep its name, on purpose,
// so memberlist's docs read across: probe_interval, probe_timeout, indirect_checks
// (IndirectChecks), gossip_interval, gossip_nodes (GossipNodes), gossip_to_the_dead_time,
// dead_node_reclaim_time, retransmit_mult (RetransmitMult), suspicion_mult (SuspicionMult),
// suspicion_max_timeout_mult (SuspicionMaxTimeoutMult), push_pull_interval,
// awareness_max_multiplier (AwarenessMaxMultiplier). Serf's options: serf.h.
struct MemberlistConfig {
  std::string name;  // this node's unique name
  // Probing (SWIM failure detection).
  Duration probe_interval = absl::Seconds(1);
  Duration probe_timeout = absl::Milliseconds(500);
  int indirect_checks = 3;
  bool stream_fallback_ping = true;  // the TCP ping after the indirect ones
  // Dissemination.
  Duration gossip_interval = absl::Milliseconds(200);
  int gossip_nodes = 3;
  Duration gossip_to_the_dead_time = absl::Seconds(30);
  // memberlist's DeadNodeReclaimTime: how long after a member died before an alive from
  // another address may take its name over (a left member's name may move at once). Zero
  // means never while the dead member is listed, memberlist's default; 30 s is what Consul
  // sets for its LAN and WAN pools ("allow dead nodes to be replaced after 30 seconds").
  Duration dead_node_reclaim_time = absl::Seconds(30);
  int retransmit_mult = 4;
  // Suspicion: timeout_min = suspicion_mult * max(1, log10(N)) * probe_interval, and with
  // Lifeguard it starts at suspicion_max_timeout_mult * timeout_min and shrinks towards
  // timeout_min as independent confirmations arrive.
  int suspicion_mult = 4;
  int suspicion_max_timeout_mult = 6;
  // Confirmations that bring the timeout down to its minimum; -1 means memberlist's
  // choice, suspicion_mult - 2.
  int suspicion_confirmations = -1;
  // Anti-entropy.
  Duration push_pull_interval = absl::Seconds(30);
  // Pings and acks say how many members their sender knows alive; a node that knows fewer,
  // and whose own count has not changed for two probe intervals, pushes-pulls with that
  // sender at most once per this interval (catches a member the epidemic missed in seconds, not at
  // the next periodic push-pull, which is minutes apart in large pools).
  Duration count_sync_interval = absl::Seconds(5);
  // Lifeguard: local health awareness (probe stretching, nacks), shrinking suspicion
  // timeouts, and the buddy system. Off gives classic SWIM with a fixed suspicion timeout.
  bool lifeguard = true;
  int awareness_max_multiplier = 8;
  // Room left in each datagram for a host's framing (envelope), so the payload plus
  // framing stays under kDatagramPayloadBytesMax.
  uint32_t datagram_bytes_max = kDatagramPayloadBytesMax - 32;
  uint32_t meta_bytes_max = 512;
  // The most members this node keeps (alive, suspect, dead and left together). An alive
  // naming a new member past it is dropped and counted: a forged push-pull (a stream frame
  // may carry 64 MiB) or a flood of alives must not grow the table without bound. memberlist
  // has no such limit; Consul's largest LAN pools are a few tens of thousands of agents.
  int members_max = 65536;

  // Bug injection, never set outside tests: each breaks one rule of SWIM or Lifeguard at one
  // `if` naming it, so the swarm (tests/gossip_sim) can show it catches the rule's breach (the
  // kill matrix in README.md).
  bool unsafe_no_refutation = false;                 // a node does not refute a suspicion or death of itself
  bool unsafe_accept_older_incarnation = false;      // an alive or suspect older than what we hold is applied
  bool unsafe_suspicion_ignores_confirmations = false;  // Lifeguard: confirmations do not shorten the timeout
  bool unsafe_revive_dead_same_incarnation = false;  // an alive of the incarnation a member died in revives it

  static MemberlistConfig Lan(std::string name) {
    MemberlistConfig c;
    c.name = std::move(name);
    return c;
  }
  static MemberlistConfig Wan(std::string name) {
    MemberlistConfig c;
    c.name = std::move(name);
    c.probe_interval = absl::Seconds(5);
    c.probe_timeout = absl::Seconds(3);
    c.gossip_interval = absl::Milliseconds(500);
    c.gossip_nodes = 4;
    c.suspicion_mult = 6;
    c.push_pull_interval = absl::Seconds(60);
    c.count_sync_interval = absl::Seconds(25);
    c.gossip_to_the_dead_time = absl::Seconds(60);
    return c;
  }
  // A profile for a single machine or tests on loopback (memberlist's "local").
  static MemberlistConfig Local(std::string name) {
    MemberlistConfig c;
    c.name = std::move(name);
    c.probe_interval = absl::Seconds(1);
    c.probe_timeout = absl::Milliseconds(200);
    c.gossip_interval = absl::Milliseconds(100);
    c.suspicion_mult = 3;
    c.push_pull_interval = absl::Seconds(15);
    c.indirect_checks = 1;
    return c;
  }
  int ConfirmationsExpected() const {
    return suspicion_confirmations >= 0 ? suspicion_confirmations : suspicion_mult - 2;
  }
};

}  // namespace muster::gossip
