// Configurations for tests that build Raft nodes by hand: voters 1..n at "n1".."nN".
#pragma once

#include <string>

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

}  // namespace muster::raft
