// The network-coordinate table (Consul's "coordinates"): one coordinate per (node, segment),
// written by the leader's CoordinateBatchUpdate entries and deleted with its node; and its
// codec. Reads are indexed by the table, so a blocking /v1/coordinate/nodes wakes on a batch.
#include <cmath>

#include "core/state/codec.h"
#include "core/state/store.h"

namespace muster::state {

bool CoordinateValuesValid(const NodeCoordinate& c) {
  if (c.vec.empty() || c.vec.size() > kCoordinateDimensionsMax) return false;
  for (double x : c.vec) {
    if (!std::isfinite(x)) return false;
  }
  return std::isfinite(c.error) && std::isfinite(c.adjustment) && std::isfinite(c.height);
}

void Store::CoordinateBatchUpdate(uint64_t idx, const std::vector<NodeCoordinate>& updates) {
  bool changed = false;
  for (const NodeCoordinate& u : updates) {
    if (!nodes_.contains(u.node) || !CoordinateValuesValid(u)) continue;
    coordinates_[Key2{u.node, u.segment}] = u;
    changed = true;
  }
  if (changed) Touch(kTableCoordinates, idx);
}

void Store::DeleteNodeCoordinates(uint64_t idx, const std::string& node) {
  auto it = coordinates_.lower_bound(Key2{node, ""});
  if (it == coordinates_.end() || it->first.first != node) return;
  while (it != coordinates_.end() && it->first.first == node) it = coordinates_.erase(it);
  Touch(kTableCoordinates, idx);
}

Indexed<std::vector<NodeCoordinate>> Store::Coordinates() const {
  Indexed<std::vector<NodeCoordinate>> out;
  out.index = std::max<uint64_t>(1, TableIndex(kTableCoordinates));
  for (const auto& [key, c] : coordinates_) out.value.push_back(c);
  return out;
}

Indexed<std::vector<NodeCoordinate>> Store::NodeCoordinates(std::string_view node) const {
  Indexed<std::vector<NodeCoordinate>> out;
  out.index = std::max<uint64_t>(1, TableIndex(kTableCoordinates));
  const std::string name(node);
  for (auto it = coordinates_.lower_bound(Key2{name, ""}); it != coordinates_.end() && it->first.first == name; ++it) {
    out.value.push_back(it->second);
  }
  return out;
}

const NodeCoordinate* Store::CoordinateOf(std::string_view node, std::string_view segment) const {
  auto it = coordinates_.find(Key2{std::string(node), std::string(segment)});
  return it == coordinates_.end() ? nullptr : &it->second;
}

pb::NodeCoordinate ToProto(const NodeCoordinate& c) {
  pb::NodeCoordinate p;
  p.set_node(c.node);
  p.set_segment(c.segment);
  for (double x : c.vec) p.add_vec(x);
  p.set_error(c.error);
  p.set_adjustment(c.adjustment);
  p.set_height(c.height);
  return p;
}

NodeCoordinate FromProto(const pb::NodeCoordinate& p) {
  NodeCoordinate c;
  c.node = p.node();
  c.segment = p.segment();
  c.vec.assign(p.vec().begin(), p.vec().end());
  c.error = p.error();
  c.adjustment = p.adjustment();
  c.height = p.height();
  return c;
}

}  // namespace muster::state
