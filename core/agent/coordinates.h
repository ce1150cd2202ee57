// Network coordinates at the agent (Consul's agent.sendCoordinate, Coordinate.Update and
// batchUpdate, the /v1/coordinate endpoints' JSON):
//  - every agent sends its LAN coordinate to the servers every SyncInterval (Consul's
//    sync_coordinate_rate_target of 64 updates a second across the cluster, at least
//    sync_coordinate_interval_min = 15 s apart, plus a random stagger of up to as much);
//  - the leader keeps the latest update per node (CoordinateUpdates) and every
//    coordinate_update_period (5 s) proposes them through raft, up to 5 batches of 128 (Consul's
//    CoordinateUpdateMaxBatches, CoordinateUpdateBatchSize); what does not fit waits for the
//    next period;
//  - the JSON of Consul's structs.Coordinate and CoordinateUpdateRequest.
// Pure: the stagger comes from the caller's seeded Rng.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "core/base/rng.h"
#include "core/base/time.h"
#include "core/gossip/coordinate.h"
#include "core/gossip/serf.h"
#include "core/state/types.h"
#include "nlohmann/json.hpp"

namespace muster::agent {

struct CoordinateOptions {
  double sync_rate_target = 64;                          // sync_coordinate_rate_target, updates/s
  Duration sync_interval_min = absl::Seconds(15);        // sync_coordinate_interval_min
  Duration update_period = absl::Seconds(5);             // CoordinateUpdatePeriod
  size_t update_batch_size = 128;                        // CoordinateUpdateBatchSize
  size_t update_max_batches = 5;                         // CoordinateUpdateMaxBatches
  // Nodes with an update waiting at the leader; past it a new node's update is refused
  // (an existing one's is replaced). Ten periods' worth of batches.
  size_t updates_pending_max = 6400;
};

// How long until this agent next sends its coordinate, in a pool of `members`: Consul's
// lib.RateScaledInterval(rate, min, members) plus lib.RandomStagger of as much.
Duration CoordinateSyncInterval(const CoordinateOptions& options, size_t members, Rng& rng);

// The leader's pending updates, the latest per (node, segment).
class CoordinateUpdates {
 public:
  explicit CoordinateUpdates(const CoordinateOptions& options) : options_(options) {}
  // False (and counted) when updates_pending_max nodes already wait and this one is new.
  bool Add(state::NodeCoordinate update);
  // Up to update_max_batches batches of update_batch_size, by node; the rest stays.
  std::vector<std::vector<state::NodeCoordinate>> TakeBatches();
  size_t pending() const { return pending_.size(); }
  uint64_t refused() const { return refused_; }
  void Clear() { pending_.clear(); }

 private:
  CoordinateOptions options_;
  absl::btree_map<std::pair<std::string, std::string>, state::NodeCoordinate> pending_;
  uint64_t refused_ = 0;
};

gossip::Coordinate ToGossip(const state::NodeCoordinate& c);
state::NodeCoordinate FromGossip(std::string node, const gossip::Coordinate& c);

// {"Vec", "Error", "Adjustment", "Height"} (Consul's coordinate.Coordinate).
nlohmann::ordered_json CoordJson(const gossip::Coordinate& c);
// {"Node", "Segment", "Coord"} (structs.Coordinate: /v1/coordinate/nodes, /node/:node rows).
nlohmann::ordered_json NodeCoordinateJson(const state::NodeCoordinate& c);
// PUT /v1/coordinate/update's body, also what agents send (structs.CoordinateUpdateRequest:
// Node, Segment, Coord), read back: fields in any case, bounded; the coordinate must be of
// `config`'s dimensionality with every value finite and in range (Consul's "invalid
// coordinate" / "incompatible coordinate").
absl::StatusOr<state::NodeCoordinate> ParseCoordinateUpdate(std::string_view json,
                                                            const gossip::CoordinateConfig& config);
// /v1/coordinate/datacenters: [{"Datacenter", "AreaID": "WAN", "Coordinates": [{"Node",
// "Coord"}]}] from the WAN pool's coordinates of the servers of each datacenter (ours from
// the members' cache; a WAN member is named "node.dc"), datacenters by name. `wan` null (a
// client): this datacenter's entry with no coordinates.
std::string DatacenterCoordinatesJson(const gossip::Serf* wan, std::string_view own_datacenter);

}  // namespace muster::agent
