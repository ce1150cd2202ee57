// An agent's identity: its node name (its gossip name) and its node ID, a UUID kept in the
// data dir (`node-id`), as Consul's. A server's raft server ID comes from its node ID (Consul's
// raft protocol 3 uses the node ID itself; our raft numbers servers with 64 bits, so the ID is
// the UUID's first 8 bytes). Two servers whose IDs share those 8 bytes are refused like two
// agents with one node ID (a 2^-64 chance for random UUIDs; a hand-written ID that collides
// gets the same clear error).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/base/node_id.h"

namespace muster::agent {

// The canonical form of a node ID: 36 characters, lowercase hex in 8-4-4-4-12 groups.
// Refuses anything else (Consul accepts the same shape, case-insensitively).
absl::StatusOr<std::string> ParseNodeId(std::string_view text);

// A new node ID from 128 random bits (version 4, RFC 4122 variant); the host supplies the
// bits (from the OS), so the core draws nothing unseeded.
std::string FormatNodeId(uint64_t high, uint64_t low);

// The raft server ID of a node ID (its first 64 bits); an error if those are zero, which
// raft reserves for "nobody".
absl::StatusOr<NodeId> RaftIdOf(std::string_view node_id);

// Node names: what Consul accepts as a DNS label-like name (letters, digits, '-', '_', '.';
// 1 to 128 bytes), since it appears in DNS answers and the catalog.
absl::Status ValidateNodeName(std::string_view name);

}  // namespace muster::agent
