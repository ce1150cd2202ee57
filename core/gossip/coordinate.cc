#include "core/gossip/coordinate.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/check.h"

namespace muster::gossip {
namespace {

// Below this two coordinates count as one point, and an RTT as this (Serf's zeroThreshold).
constexpr double kZeroThreshold = 1.0e-6;
// Serf's maxRTT: a sample longer than this is a measurement gone wrong, not a network.
constexpr Duration kRttMax = absl::Seconds(10);

double Magnitude(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x * x;
  return std::sqrt(sum);
}

}  // namespace

Coordinate Coordinate::Initial(const CoordinateConfig& config) {
  Coordinate c;
  c.vec.assign(static_cast<size_t>(config.dimensionality), 0.0);
  c.error = config.vivaldi_error_max;
  c.adjustment = 0;
  c.height = config.height_min;
  return c;
}

bool Coordinate::IsValid() const {
  for (double x : vec) {
    if (!std::isfinite(x)) return false;
  }
  return std::isfinite(error) && std::isfinite(adjustment) && std::isfinite(height);
}

double Coordinate::RawDistanceSeconds(const Coordinate& other) const {
  MUSTER_CHECK_EQ(vec.size(), other.vec.size(), "coordinates of different dimensionality");
  double sum = 0;
  for (size_t i = 0; i < vec.size(); ++i) {
    const double d = vec[i] - other.vec[i];
    sum += d * d;
  }
  return std::sqrt(sum) + height + other.height;
}

double Coordinate::DistanceSeconds(const Coordinate& other) const {
  const double raw = RawDistanceSeconds(other);
  const double adjusted = raw + adjustment + other.adjustment;
  return adjusted > 0.0 ? adjusted : raw;
}

Duration Coordinate::DistanceTo(const Coordinate& other) const {
  return absl::Nanoseconds(static_cast<int64_t>(DistanceSeconds(other) * 1e9));
}

absl::Status CheckRemoteCoordinate(const Coordinate& c, const CoordinateConfig& config) {
  if (c.vec.size() != static_cast<size_t>(config.dimensionality)) {
    return absl::InvalidArgumentError(
        absl::StrCat("coordinate of dimensionality ", c.vec.size(), ", want ", config.dimensionality));
  }
  if (!c.IsValid()) return absl::InvalidArgumentError("coordinate with a NaN or infinite value");
  for (double x : c.vec) {
    if (std::fabs(x) > kCoordinateComponentMaxSeconds) {
      return absl::InvalidArgumentError("coordinate component out of range");
    }
  }
  if (c.error < 0 || c.error > kCoordinateComponentMaxSeconds || c.height < 0 ||
      c.height > kCoordinateComponentMaxSeconds || std::fabs(c.adjustment) > kCoordinateComponentMaxSeconds) {
    return absl::InvalidArgumentError("coordinate error, height or adjustment out of range");
  }
  return absl::OkStatus();
}

CoordinateClient::CoordinateClient(CoordinateConfig config, uint64_t seed)
    : config_(config), rng_(seed), coord_(Coordinate::Initial(config_)), origin_(Coordinate::Initial(config_)) {
  MUSTER_CHECK(config_.dimensionality > 0);
  MUSTER_CHECK(config_.latency_filter_size > 0);
  MUSTER_CHECK(config_.adjustment_window_size >= 0);
  adjustment_samples_.assign(static_cast<size_t>(config_.adjustment_window_size), 0.0);
}

absl::Status CoordinateClient::Update(const std::string& node, const Coordinate& other, Duration rtt) {
  if (absl::Status s = CheckRemoteCoordinate(other, config_); !s.ok()) {
    stats_.rejected++;
    return s;
  }
  if (rtt < absl::ZeroDuration() || rtt > kRttMax) {
    stats_.rejected++;
    return absl::InvalidArgumentError(
        absl::StrCat("round trip time ", absl::FormatDuration(rtt), " not within [0, ", absl::FormatDuration(kRttMax), "]"));
  }
  const double rtt_seconds = LatencyFilter(node, absl::ToDoubleSeconds(rtt));
  UpdateVivaldi(other, rtt_seconds);
  UpdateAdjustment(other, rtt_seconds);
  UpdateGravity();
  if (!coord_.IsValid()) {
    stats_.resets++;
    coord_ = Coordinate::Initial(config_);
  }
  stats_.updates++;
  return absl::OkStatus();
}

double CoordinateClient::LatencyFilter(const std::string& node, double rtt_seconds) {
  std::vector<double>& samples = latency_samples_[node];
  samples.push_back(rtt_seconds);
  if (samples.size() > static_cast<size_t>(config_.latency_filter_size)) samples.erase(samples.begin());
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  return sorted[sorted.size() / 2];
}

void CoordinateClient::UpdateVivaldi(const Coordinate& other, double rtt_seconds) {
  const double dist = coord_.DistanceSeconds(other);
  rtt_seconds = std::max(rtt_seconds, kZeroThreshold);
  const double wrongness = std::fabs(dist - rtt_seconds) / rtt_seconds;
  const double total_error = std::max(coord_.error + other.error, kZeroThreshold);
  const double weight = coord_.error / total_error;
  coord_.error = config_.vivaldi_ce * weight * wrongness + coord_.error * (1.0 - config_.vivaldi_ce * weight);
  coord_.error = std::min(coord_.error, config_.vivaldi_error_max);
  const double force = config_.vivaldi_cc * weight * (rtt_seconds - dist);
  ApplyForce(coord_, force, other);
}

void CoordinateClient::UpdateAdjustment(const Coordinate& other, double rtt_seconds) {
  if (adjustment_samples_.empty()) return;
  adjustment_samples_[adjustment_index_] = rtt_seconds - coord_.RawDistanceSeconds(other);
  adjustment_index_ = (adjustment_index_ + 1) % adjustment_samples_.size();
  double sum = 0;
  for (double s : adjustment_samples_) sum += s;
  coord_.adjustment = sum / (2.0 * static_cast<double>(adjustment_samples_.size()));
}

void CoordinateClient::UpdateGravity() {
  const double ratio = origin_.DistanceSeconds(coord_) / config_.gravity_rho;
  ApplyForce(coord_, -1.0 * ratio * ratio, origin_);
}

void CoordinateClient::ApplyForce(Coordinate& c, double force, const Coordinate& other) {
  MUSTER_CHECK_EQ(c.vec.size(), other.vec.size());
  std::vector<double> unit(c.vec.size());
  for (size_t i = 0; i < unit.size(); ++i) unit[i] = c.vec[i] - other.vec[i];
  double mag = Magnitude(unit);
  if (mag > kZeroThreshold) {
    for (double& u : unit) u /= mag;
  } else {
    // The two points coincide: push along a random direction, and leave the height alone.
    for (double& u : unit) u = rng_.UniformDouble() - 0.5;
    const double random_mag = Magnitude(unit);
    if (random_mag > kZeroThreshold) {
      for (double& u : unit) u /= random_mag;
    } else {
      for (double& u : unit) u = 0;
    }
    mag = 0;
  }
  for (size_t i = 0; i < unit.size(); ++i) c.vec[i] += unit[i] * force;
  if (mag > kZeroThreshold) {
    c.height = std::max((c.height + other.height) * force / mag + c.height, config_.height_min);
  }
}

}  // namespace muster::gossip
