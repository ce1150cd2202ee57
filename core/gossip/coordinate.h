// Network coordinates: Vivaldi with a height, as Serf's coordinate package (written anew from
// its published description; Dabek et al., "Vivaldi: A Decentralized Network Coordinate
// System", and Ledlie et al., "Network Coordinates in the Wild"). Each node keeps a point in
// a Euclidean space plus a height (the access-link delay); the distance between two nodes'
// coordinates estimates their round-trip time. Every measured RTT to a peer, with the peer's
// own coordinate, moves ours: a spring force weighted by the two error estimates, a latency
// filter (median of the last samples per peer), an adjustment term (the mean residual over a
// window, which the Euclidean space cannot express), and a weak gravity towards the origin
// so the whole system does not drift. Units are seconds, as Serf's.
//
// Pure and deterministic: the only randomness (a direction when two coordinates coincide)
// comes from a seeded Rng; only +, -, *, / and sqrt (correctly rounded everywhere), so a
// simulated run gives the same coordinates on every machine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "core/base/rng.h"
#include "core/base/time.h"

namespace muster::gossip {

// Consul's defaults for Serf's coordinate client (coordinate.DefaultConfig); names keep the
// Go field they mirror, so Serf's docs read across.
struct CoordinateConfig {
  int dimensionality = 8;
  double vivaldi_error_max = 1.5;  // VivaldiErrorMax: a new coordinate's error, and the cap
  double vivaldi_ce = 0.25;        // VivaldiCE: how fast the error estimate moves
  double vivaldi_cc = 0.25;        // VivaldiCC: how far one sample moves the coordinate
  int adjustment_window_size = 20;  // AdjustmentWindowSize: residuals averaged (0: off)
  double height_min = 10.0e-6;      // HeightMin: 10 µs
  int latency_filter_size = 3;      // LatencyFilterSize: samples per peer, median taken
  double gravity_rho = 150.0;       // GravityRho: gravity's length scale, seconds
};

// A node's coordinate (Serf's coordinate.Coordinate; JSON Vec, Error, Adjustment, Height).
struct Coordinate {
  std::vector<double> vec;
  double error = 0;
  double adjustment = 0;
  double height = 0;

  // The origin with the maximum error: what a node starts from.
  static Coordinate Initial(const CoordinateConfig& config);
  // Every component a finite number.
  bool IsValid() const;
  bool IsCompatibleWith(const Coordinate& other) const { return vec.size() == other.vec.size(); }
  // The estimated round-trip time to `other`: the Euclidean distance of the vectors plus both
  // heights, plus both adjustments unless that would make it zero or negative (Serf's
  // DistanceTo). Seconds.
  double DistanceSeconds(const Coordinate& other) const;
  Duration DistanceTo(const Coordinate& other) const;
  // Without the adjustments.
  double RawDistanceSeconds(const Coordinate& other) const;

  friend bool operator==(const Coordinate&, const Coordinate&) = default;
};

// Bounds on a coordinate received from elsewhere (a peer's ack, an agent's update): the
// configured dimensionality, every value finite, and magnitudes no real network produces
// (Vivaldi's gravity keeps honest coordinates within a few seconds of the origin; an RTT over
// 10 s is refused before it moves anything). A coordinate past them is refused whole, so a
// forged one cannot drag ours to infinity or NaN.
inline constexpr double kCoordinateComponentMaxSeconds = 100.0;
absl::Status CheckRemoteCoordinate(const Coordinate& c, const CoordinateConfig& config);

struct CoordinateClientStats {
  uint64_t updates = 0;  // RTT samples applied
  uint64_t rejected = 0;  // samples refused (bad coordinate or RTT)
  uint64_t resets = 0;    // our coordinate became invalid and was reset (Serf's Resets)
};

// Serf's coordinate.Client: one node's coordinate, fed with (peer, peer's coordinate, RTT).
class CoordinateClient {
 public:
  CoordinateClient(CoordinateConfig config, uint64_t seed);

  const Coordinate& coordinate() const { return coord_; }
  const CoordinateConfig& config() const { return config_; }
  const CoordinateClientStats& stats() const { return stats_; }
  // Applies one observation of the RTT to `node`, whose coordinate is `other`. Refuses (and
  // changes nothing) a coordinate CheckRemoteCoordinate refuses, or an RTT that is negative or
  // over 10 s (Serf's maxRTT).
  absl::Status Update(const std::string& node, const Coordinate& other, Duration rtt);
  // Drops the latency samples kept for `node` (a member reaped).
  void ForgetNode(const std::string& node) { latency_samples_.erase(node); }
  size_t nodes_filtered() const { return latency_samples_.size(); }

 private:
  double LatencyFilter(const std::string& node, double rtt_seconds);
  void UpdateVivaldi(const Coordinate& other, double rtt_seconds);
  void UpdateAdjustment(const Coordinate& other, double rtt_seconds);
  void UpdateGravity();
  // Moves `c` along the unit vector from `other` to `c` by `force` seconds (a random
  // direction when they coincide), and its height in proportion (Serf's ApplyForce).
  void ApplyForce(Coordinate& c, double force, const Coordinate& other);

  CoordinateConfig config_;
  Rng rng_;
  Coordinate coord_;
  Coordinate origin_;
  std::vector<double> adjustment_samples_;
  size_t adjustment_index_ = 0;
  // Per peer, its last latency_filter_size RTT samples (oldest first). Bounded by the members
  // the owner keeps: it forgets a node when the member is reaped.
  absl::btree_map<std::string, std::vector<double>> latency_samples_;
  CoordinateClientStats stats_;
};

}  // namespace muster::gossip
