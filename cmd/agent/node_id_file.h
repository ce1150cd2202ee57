// The agent's node ID, kept in the data dir as Consul keeps it (`<data-dir>/node-id`, the UUID
// and nothing else): read when it is there, otherwise made from OS randomness (or taken from
// -node-id) and written, synced and renamed into place before the agent starts, so a crash
// never leaves a half-written or unsynced ID behind. A -node-id that differs from the file's
// is refused: the ID is the agent's raft server ID, and changing it under a data dir would
// make one server two.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace muster::cmd {

inline constexpr char kNodeIdFileName[] = "node-id";

// A fresh version-4 node ID from the OS's randomness (getrandom).
absl::StatusOr<std::string> RandomNodeId();

// The node ID for an agent with `data_dir` (created if missing). `configured` is -node-id /
// node_id in canonical form, or empty.
absl::StatusOr<std::string> LoadOrCreateNodeId(const std::string& data_dir, const std::string& configured);

}  // namespace muster::cmd
