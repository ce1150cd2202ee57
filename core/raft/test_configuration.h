// Configurations for tests that build Raft nodes by hand: voters 1..n at "n1".."nN", and the
// options of one of them.
#pragma once

#include <string>

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

}  // namespace muster::raft
