// Configurations for tests that build Raft nodes by hand: voters 1..n at "n1".."nN", and the
// options of one of them.
#pragma once

#include <memory>
#include <string>

#include "core/base/check.h"
#include "core/raft/raft.h"
#include "proto/raft_pb.h"

namespace muster::raft {

inline pb::Configuration VotersConfiguration(int n) {
  pb::Configuration config;
  for (int i = 1; i <= n; ++i) {
    pb::Server* s = config.add_servers();
    s->set_id(i);
    s->set_address("n" + std::to_string(i));
    s->set_voter(true);
  }
  return config;
}

// The options of server `id` at the address VotersConfiguration gives it ("n<id>").
inline RaftOptions ServerOptions(uint64_t id) {
  RaftOptions o;
  o.id = NodeId{id};
  o.address = "n" + std::to_string(id);
  return o;
}

// Server 1 alone: bootstrapped as the only voter and leader at `now`, nothing durable yet
// (the writes that did it are in `ready`).
inline std::unique_ptr<Raft> SingleServerLeader(Time now, Ready* ready) {
  auto r = std::make_unique<Raft>(ServerOptions(1), nullptr, 1, now, Logger(nullptr, "raft"));
  MUSTER_CHECK(r->Bootstrap(now, VotersConfiguration(1), ready).ok());
  r->Campaign(now, ready);
  MUSTER_CHECK(r->role() == Role::kLeader);
  return r;
}

}  // namespace muster::raft
