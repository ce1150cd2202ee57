// Raft's wire and disk messages (proto/raft.proto, package muster.proto.raft, like every
// other message package of ours), under the short name raft code uses: raft::pb.
#pragma once

#include "proto/raft.pb.h"

namespace muster::raft {
namespace pb = ::muster::proto::raft;
}  // namespace muster::raft
