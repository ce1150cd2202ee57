#include "core/agent/coordinates.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/agent/consul_json.h"

namespace muster::agent {
namespace {

// A coordinate update body: a node name, a segment and a dozen numbers.
constexpr size_t kCoordinateBodyBytesMax = 4096;
constexpr size_t kCoordinateNameBytesMax = 256;
constexpr size_t kDatacentersMax = 256;

}  // namespace

Duration CoordinateSyncInterval(const CoordinateOptions& options, size_t members, Rng& rng) {
  Duration interval = absl::Seconds(static_cast<double>(members) / options.sync_rate_target);
  interval = std::max(interval, options.sync_interval_min);
  return interval + rng.UniformDuration(absl::ZeroDuration(), interval);
}

bool CoordinateUpdates::Add(state::NodeCoordinate update) {
  std::pair<std::string, std::string> key{update.node, update.segment};
  auto it = pending_.find(key);
  if (it != pending_.end()) {
    it->second = std::move(update);
    return true;
  }
  if (pending_.size() >= options_.updates_pending_max) {
    ++refused_;
    return false;
  }
  pending_.emplace(std::move(key), std::move(update));
  return true;
}

std::vector<std::vector<state::NodeCoordinate>> CoordinateUpdates::TakeBatches() {
  std::vector<std::vector<state::NodeCoordinate>> batches;
  while (!pending_.empty() && batches.size() < options_.update_max_batches) {
    std::vector<state::NodeCoordinate>& batch = batches.emplace_back();
    while (!pending_.empty() && batch.size() < options_.update_batch_size) {
      batch.push_back(std::move(pending_.begin()->second));
      pending_.erase(pending_.begin());
    }
  }
  return batches;
}

gossip::Coordinate ToGossip(const state::NodeCoordinate& c) {
  gossip::Coordinate g;
  g.vec = c.vec;
  g.error = c.error;
  g.adjustment = c.adjustment;
  g.height = c.height;
  return g;
}

state::NodeCoordinate FromGossip(std::string node, const gossip::Coordinate& c) {
  state::NodeCoordinate s;
  s.node = std::move(node);
  s.vec = c.vec;
  s.error = c.error;
  s.adjustment = c.adjustment;
  s.height = c.height;
  return s;
}

nlohmann::ordered_json CoordJson(const gossip::Coordinate& c) {
  nlohmann::ordered_json j;
  j["Vec"] = c.vec;
  j["Error"] = c.error;
  j["Adjustment"] = c.adjustment;
  j["Height"] = c.height;
  return j;
}

nlohmann::ordered_json NodeCoordinateJson(const state::NodeCoordinate& c) {
  nlohmann::ordered_json j;
  j["Node"] = c.node;
  j["Segment"] = c.segment;
  j["Coord"] = CoordJson(ToGossip(c));
  return j;
}

absl::StatusOr<state::NodeCoordinate> ParseCoordinateUpdate(std::string_view json,
                                                            const gossip::CoordinateConfig& config) {
  if (json.size() > kCoordinateBodyBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat("Request decode failed: body over ", kCoordinateBodyBytesMax, " bytes"));
  }
  if (json.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("Request decode failed: invalid character '\\x00' in the body");
  }
  // Two levels are all a coordinate update has (the body, Coord, Vec): refuse deeper ones
  // while parsing, so a body of nested brackets costs nothing.
  bool too_deep = false;
  nlohmann::ordered_json::parser_callback_t depth_check = [&too_deep](int depth, nlohmann::ordered_json::parse_event_t,
                                                                      nlohmann::ordered_json&) {
    if (depth > 4) too_deep = true;
    return !too_deep;
  };
  nlohmann::ordered_json body = nlohmann::ordered_json::parse(json.begin(), json.end(), depth_check, false);
  if (too_deep || body.is_discarded() || !body.is_object()) {
    return absl::InvalidArgumentError("Request decode failed: the body is not a coordinate update object");
  }
  state::NodeCoordinate c;
  auto read_string = [&](std::string_view field, std::string* out) -> absl::Status {
    const Json* v = Member(body, field);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_string() || v->get_ref<const std::string&>().size() > kCoordinateNameBytesMax) {
      return absl::InvalidArgumentError(absl::StrCat("Request decode failed: ", std::string(field), ": a string of at most ",
                                                     kCoordinateNameBytesMax, " bytes"));
    }
    *out = v->get<std::string>();
    return absl::OkStatus();
  };
  if (absl::Status s = read_string("Node", &c.node); !s.ok()) return s;
  if (absl::Status s = read_string("Segment", &c.segment); !s.ok()) return s;
  if (c.node.empty()) return absl::InvalidArgumentError("Missing node name");
  const Json* coord = Member(body, "Coord");
  if (coord == nullptr || !coord->is_object()) return absl::InvalidArgumentError("invalid coordinate");
  auto read_number = [&](std::string_view field, double* out) -> bool {
    const Json* v = Member(*coord, field);
    if (v == nullptr) return true;  // Go's zero value
    if (!v->is_number()) return false;
    *out = v->get<double>();
    return true;
  };
  gossip::Coordinate g;
  if (const Json* vec = Member(*coord, "Vec"); vec != nullptr) {
    if (!vec->is_array() || vec->size() > state::kCoordinateDimensionsMax) {
      return absl::InvalidArgumentError("incompatible coordinate");
    }
    for (const Json& x : *vec) {
      if (!x.is_number()) return absl::InvalidArgumentError("invalid coordinate");
      g.vec.push_back(x.get<double>());
    }
  }
  if (!read_number("Error", &g.error) || !read_number("Adjustment", &g.adjustment) ||
      !read_number("Height", &g.height)) {
    return absl::InvalidArgumentError("invalid coordinate");
  }
  if (g.vec.size() != static_cast<size_t>(config.dimensionality)) {
    return absl::InvalidArgumentError("incompatible coordinate");
  }
  if (absl::Status s = gossip::CheckRemoteCoordinate(g, config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid coordinate: ", s.message()));
  }
  state::NodeCoordinate out = FromGossip(std::move(c.node), g);
  out.segment = std::move(c.segment);
  return out;
}

std::string DatacenterCoordinatesJson(const gossip::Serf* wan, std::string_view own_datacenter) {
  // Datacenter -> its servers' coordinates, by WAN member name.
  absl::btree_map<std::string, nlohmann::ordered_json> by_dc;
  by_dc[std::string(own_datacenter)] = nlohmann::ordered_json::array();
  if (wan != nullptr) {
    for (const auto& [name, member] : wan->members()) {
      if (member.status != gossip::MemberStatus::kAlive) continue;
      auto dc = member.tags.find("dc");
      if (dc == member.tags.end()) continue;
      // Tags are a stranger's: as many datacenters as catalog.datacenters lists, no more.
      if (!by_dc.contains(dc->second) && by_dc.size() >= kDatacentersMax) continue;
      const gossip::Coordinate* c = wan->cached_coordinate(name);
      nlohmann::ordered_json& list = by_dc[dc->second];
      if (!list.is_array()) list = nlohmann::ordered_json::array();
      if (c == nullptr) continue;
      nlohmann::ordered_json row;
      row["Node"] = name;
      row["Coord"] = CoordJson(*c);
      list.push_back(std::move(row));
    }
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (auto& [dc, coordinates] : by_dc) {
    nlohmann::ordered_json entry;
    entry["Datacenter"] = dc;
    entry["AreaID"] = "WAN";
    entry["Coordinates"] = std::move(coordinates);
    out.push_back(std::move(entry));
  }
  return out.dump();
}

}  // namespace muster::agent
