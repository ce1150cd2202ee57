// The coordinates table: batches skip unknown nodes and bad values, the table's index moves
// and wakes its watchers, a node's deregistration (also inside a transaction that rolls back)
// takes its coordinates with it, and snapshots carry them as version 3 only when there are any.
#include <limits>
#include <string>
#include <vector>

#include "core/state/fsm.h"
#include "core/state/store.h"
#include "core/state/test_util.h"
#include "gtest/gtest.h"

namespace muster::state {
namespace {

using testing::NodeReq;
using testing::T;

NodeCoordinate Coord(std::string node, double x, double height = 1e-5) {
  NodeCoordinate c;
  c.node = std::move(node);
  c.vec = {x, 0, 0, 0, 0, 0, 0, 0};
  c.error = 0.3;
  c.adjustment = -1e-4;
  c.height = height;
  return c;
}

TEST(CoordinateTableTest, ABatchWritesKnownNodesOnlyAndMovesTheIndex) {
  Store s;
  ASSERT_TRUE(s.Register(1, T(0), NodeReq("a")).ok());
  ASSERT_TRUE(s.Register(2, T(0), NodeReq("b")).ok());
  s.TakeChanges();
  EXPECT_EQ(s.Coordinates().index, 1u);  // never 0
  NodeCoordinate nan = Coord("b", std::numeric_limits<double>::quiet_NaN());
  NodeCoordinate wide = Coord("b", 0.1);
  wide.vec.assign(kCoordinateDimensionsMax + 1, 0.0);
  s.CoordinateBatchUpdate(3, {Coord("b", 0.002), Coord("a", 0.001), Coord("ghost", 0.5), nan, wide});
  Indexed<std::vector<NodeCoordinate>> all = s.Coordinates();
  EXPECT_EQ(all.index, 3u);
  ASSERT_EQ(all.value.size(), 2u);
  EXPECT_EQ(all.value[0], Coord("a", 0.001));  // by node
  EXPECT_EQ(all.value[1], Coord("b", 0.002));  // the valid one of b's three
  EXPECT_TRUE(s.TakeChanges().tables.contains(kTableCoordinates));
  EXPECT_EQ(s.NodeCoordinates("a").value.size(), 1u);
  EXPECT_TRUE(s.NodeCoordinates("ghost").value.empty());
  ASSERT_NE(s.CoordinateOf("b"), nullptr);
  EXPECT_EQ(s.CoordinateOf("b")->vec[0], 0.002);
  // A batch of nothing usable changes nothing.
  s.CoordinateBatchUpdate(4, {Coord("ghost", 0.5)});
  EXPECT_EQ(s.Coordinates().index, 3u);
  EXPECT_TRUE(s.TakeChanges().empty());
}

TEST(CoordinateTableTest, DeregisteringANodeDeletesItsCoordinates) {
  Store s;
  ASSERT_TRUE(s.Register(1, T(0), NodeReq("a")).ok());
  ASSERT_TRUE(s.Register(2, T(0), NodeReq("b")).ok());
  s.CoordinateBatchUpdate(3, {Coord("a", 0.001), Coord("b", 0.002)});
  ASSERT_TRUE(s.DeregisterNode(4, T(0), "a").ok());
  EXPECT_EQ(s.CoordinateOf("a"), nullptr);
  EXPECT_EQ(s.Coordinates().index, 4u);
  EXPECT_EQ(s.coordinate_count(), 1u);
  // Registered again, it has none until the next batch.
  ASSERT_TRUE(s.Register(5, T(0), NodeReq("a")).ok());
  EXPECT_EQ(s.CoordinateOf("a"), nullptr);
}

TEST(CoordinateTableTest, ARolledBackTransactionPutsANodesCoordinatesBack) {
  Store s;
  ASSERT_TRUE(s.Register(1, T(0), NodeReq("a")).ok());
  s.CoordinateBatchUpdate(2, {Coord("a", 0.001)});
  const std::string before = s.Snapshot();
  TxnOp remove;
  remove.kind = TxnKind::kNode;
  remove.verb = TxnVerb::kDelete;
  remove.node.name = "a";
  TxnOp fail;  // a check-index that fails: the whole transaction rolls back
  fail.verb = TxnVerb::kCheckIndex;
  fail.entry.key = "missing";
  fail.index = 7;
  absl::StatusOr<TxnResponse> r = s.Txn(3, T(0), {remove, fail});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok());
  EXPECT_EQ(s.Snapshot(), before);
  ASSERT_NE(s.CoordinateOf("a"), nullptr);
}

TEST(CoordinateTableTest, SnapshotsCarryCoordinatesAsVersionThree) {
  Fsm fsm;
  ASSERT_TRUE(fsm.Apply(1, commands::Register(T(0), NodeReq("a"))).status.ok());
  ASSERT_TRUE(fsm.Apply(2, commands::Register(T(0), NodeReq("b"))).status.ok());
  proto::state::Snapshot without;
  ASSERT_TRUE(without.ParseFromString(fsm.Snapshot()));
  EXPECT_EQ(without.version(), 1u);  // no coordinates: the bytes of before
  ApplyResult r = fsm.Apply(3, commands::CoordinateBatchUpdate(T(1), {Coord("a", 0.001), Coord("b", 0.004)}));
  ASSERT_TRUE(r.status.ok());
  const std::string bytes = fsm.Snapshot();
  proto::state::Snapshot with;
  ASSERT_TRUE(with.ParseFromString(bytes));
  EXPECT_EQ(with.version(), 3u);
  EXPECT_EQ(with.coordinates_size(), 2);
  Fsm copy;
  ASSERT_TRUE(copy.Restore(bytes).ok());
  EXPECT_EQ(copy.ContentHash(), fsm.ContentHash());
  EXPECT_EQ(copy.Snapshot(), bytes);
  EXPECT_EQ(copy.store().Coordinates().value, fsm.store().Coordinates().value);
  EXPECT_EQ(copy.store().Coordinates().index, 3u);
  // The hash sees a coordinate's value.
  Fsm moved;
  ASSERT_TRUE(moved.Restore(bytes).ok());
  ASSERT_TRUE(moved.Apply(4, commands::CoordinateBatchUpdate(T(2), {Coord("a", 0.002)})).status.ok());
  ASSERT_TRUE(copy.Apply(4, commands::CoordinateBatchUpdate(T(2), {Coord("a", 0.001)})).status.ok());
  EXPECT_NE(moved.ContentHash(), copy.ContentHash());

  // Refused: coordinates in a version-1 or -2 snapshot, a version 3 without them, one of an
  // unknown node, a NaN, and two for one key.
  auto refused = [](proto::state::Snapshot snap) { return !Fsm().Restore(snap.SerializeAsString()).ok(); };
  proto::state::Snapshot v = with;
  v.set_version(2);
  EXPECT_TRUE(refused(v));
  v = with;
  v.clear_coordinates();
  EXPECT_TRUE(refused(v));
  v = with;
  v.mutable_coordinates(0)->set_node("ghost");
  EXPECT_TRUE(refused(v));
  v = with;
  v.mutable_coordinates(1)->set_height(std::numeric_limits<double>::infinity());
  EXPECT_TRUE(refused(v));
  v = with;
  *v.mutable_coordinates(1) = v.coordinates(0);
  EXPECT_TRUE(refused(v));
  EXPECT_FALSE(refused(with));
}

TEST(CoordinateTableTest, ABlockingReadOfTheTableWakesOnABatch) {
  Fsm fsm;
  ASSERT_TRUE(fsm.Apply(1, commands::Register(T(0), NodeReq("a"))).status.ok());
  fsm.watches().Add(7, {WatchTopic::Table(kTableCoordinates)});
  ApplyResult r = fsm.Apply(2, commands::CoordinateBatchUpdate(T(1), {Coord("a", 0.001)}));
  EXPECT_EQ(r.woken, std::vector<uint64_t>{7});
}

}  // namespace
}  // namespace muster::state
