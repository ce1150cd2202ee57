// When a server with -bootstrap-expect=N bootstraps raft, as Consul's servers decide it
// (agent docs, "bootstrap_expect"; its leader code's maybeBootstrap): a pure decision over
// what LAN gossip says about the servers of our datacenter, re-taken on every member change.
//  - a server with raft state never bootstraps again ("Raft data found, disabling bootstrap
//    mode"), whatever its flags say;
//  - a member in -bootstrap mode disables expect mode (only one node should bootstrap);
//  - a member expecting another number is logged and holds the bootstrap back (all servers
//    must expect the same number);
//  - with fewer than N servers known we wait;
//  - with N or more, every one of them is asked whether it already has raft peers (an RPC the
//    agent sends); one that has disables bootstrap ("Existing Raft peers reported by X"), so a
//    new server never bootstraps beside a running cluster;
//  - once all have answered "none", bootstrap with every server known, ordered by raft ID so
//    each server writes the same configuration ("Found expected number of peers, attempting
//    bootstrap: ...").
// Servers started together see the same members once gossip settles; a server starting
// beside a cluster that already bootstrapped is stopped by the peer reports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/base/node_id.h"

namespace muster::agent {

// A LAN member that says (by its tags) it is a server.
struct ServerCandidate {
  std::string name;        // node name
  std::string node_id;     // its UUID
  NodeId raft_id;          // from node_id (identity.h)
  Address rpc_address;
  std::string datacenter;
  uint32_t expect = 0;     // its -bootstrap-expect (0: none)
  bool bootstrap = false;  // its -bootstrap
};

struct BootstrapInput {
  std::string self;     // our node name (we answer our own peer report: has_raft_state)
  uint32_t expect = 0;  // ours; 0: not in expect mode
  std::string datacenter;
  bool has_raft_state = false;  // our log, snapshot or configuration is not empty
  std::vector<ServerCandidate> alive_servers;  // alive LAN servers, ourselves included
  // Answers to "do you have raft peers?", by node name: true if it has.
  absl::btree_map<std::string, bool> peer_reports;
};

struct BootstrapDecision {
  enum class Kind {
    kNone,      // not in expect mode
    kWait,      // not enough servers known (or a mismatch to resolve)
    kAskPeers,  // enough servers: ask those in `servers` without an answer yet
    kBootstrap, // bootstrap with `servers` (ordered by raft ID)
    kDisabled,  // never, for this life: raft state here or there, or a -bootstrap member
  };
  Kind kind = Kind::kNone;
  std::vector<ServerCandidate> servers;
  std::string log;  // what to log, in Consul's words (empty: nothing new to say)
};

BootstrapDecision DecideBootstrap(const BootstrapInput& input);

}  // namespace muster::agent
