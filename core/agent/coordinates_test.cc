// Coordinates at the agent, as pure functions: the sync interval's scaling, the leader's
// batching, the update body's checks, the /v1/coordinate JSON, and ?near sorting by distance
// on the state store (store_reads).
#include "core/agent/coordinates.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/agent/store_reads.h"
#include "core/state/test_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace muster::agent {
namespace {

namespace pba = ::muster::proto::agent;
using OJson = nlohmann::ordered_json;

state::NodeCoordinate At(std::string node, double x_ms, double y_ms = 0) {
  state::NodeCoordinate c;
  c.node = std::move(node);
  c.vec = {x_ms / 1000, y_ms / 1000, 0, 0, 0, 0, 0, 0};
  c.error = 0.2;
  c.height = 1e-5;
  return c;
}

TEST(CoordinateSyncTest, TheIntervalIsFifteenSecondsAtLeastAndScalesPastAThousandMembers) {
  CoordinateOptions o;
  Rng rng(3);
  for (int i = 0; i < 100; ++i) {
    const Duration small = CoordinateSyncInterval(o, 5, rng);
    EXPECT_GE(small, absl::Seconds(15));
    EXPECT_LE(small, absl::Seconds(30));
    // 6,400 members at 64 a second: every 100 s, plus the stagger.
    const Duration big = CoordinateSyncInterval(o, 6400, rng);
    EXPECT_GE(big, absl::Seconds(100));
    EXPECT_LE(big, absl::Seconds(200));
  }
}

TEST(CoordinateUpdatesTest, TheLatestPerNodeInBatchesAndTheRestWaits) {
  CoordinateOptions o;
  o.update_batch_size = 3;
  o.update_max_batches = 2;
  o.updates_pending_max = 8;
  CoordinateUpdates u(o);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(u.Add(At(absl::StrCat("n", i), i)));
  EXPECT_TRUE(u.Add(At("n0", 42)));   // replaces n0's, takes no room
  EXPECT_FALSE(u.Add(At("n9", 9)));  // a ninth node: refused
  EXPECT_EQ(u.refused(), 1u);
  std::vector<std::vector<state::NodeCoordinate>> batches = u.TakeBatches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].size(), 3u);
  EXPECT_EQ(batches[1].size(), 3u);
  EXPECT_EQ(batches[0][0], At("n0", 42));
  EXPECT_EQ(u.pending(), 2u);  // n6, n7: next period
  batches = u.TakeBatches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].back().node, "n7");
  EXPECT_TRUE(u.TakeBatches().empty());
}

TEST(CoordinateJsonTest, AnUpdateBodyIsReadInAnyCaseAndCheckedAsUntrusted) {
  gossip::CoordinateConfig config;
  const std::string good =
      R"({"node":"web1","Segment":"","Coord":{"Vec":[0.001,0,0,0,0,0,0,0],"Error":0.3,"Adjustment":-0.0001,"Height":0.00002}})";
  absl::StatusOr<state::NodeCoordinate> c = ParseCoordinateUpdate(good, config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node, "web1");
  EXPECT_EQ(c->vec[0], 0.001);
  EXPECT_EQ(c->adjustment, -0.0001);
  EXPECT_EQ(c->height, 0.00002);
  // Its JSON is Consul's shape, and reads back the same.
  const OJson j = NodeCoordinateJson(*c);
  EXPECT_EQ(j.dump().substr(0, 40), R"({"Node":"web1","Segment":"","Coord":{"Ve)");
  absl::StatusOr<state::NodeCoordinate> again = ParseCoordinateUpdate(j.dump(), config);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *c);

  const std::vector<std::string> bad = {
      "",
      "[]",
      "{\"Node\":\"a\"}",                                                          // no Coord
      R"({"Coord":{"Vec":[0,0,0,0,0,0,0,0]}})",                                      // no Node
      R"({"Node":"a","Coord":{"Vec":[0,0,0]}})",                                     // 3 dimensions
      R"({"Node":"a","Coord":{"Vec":[0,0,0,0,0,0,0,"x"]}})",                         // not a number
      R"({"Node":"a","Coord":{"Vec":[0,0,0,0,0,0,0,1e300]}})",                       // out of range
      R"({"Node":"a","Coord":{"Vec":[0,0,0,0,0,0,0,0],"Height":-1}})",              // negative height
      R"({"Node":"a","Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":"big"}})",
      R"({"Node":"a","Coord":{"Vec":[0,0,0,0,0,0,0,0]},"x":[[[[[[[[1]]]]]]]]})",  // too deep
      std::string(5000, ' '),
      std::string("{\"Node\":\"a\0\"}", 13),
  };
  for (const std::string& b : bad) EXPECT_FALSE(ParseCoordinateUpdate(b, config).ok()) << b;
}

// Randomized: bodies mutated byte by byte from a good one (flips, cuts, insertions of JSON's
// own characters) never crash the decoder, and whatever it takes is a coordinate the table
// and the distance function accept.
TEST(CoordinateJsonTest, MutatedBodiesAreTakenOnlyWhenValid) {
  gossip::CoordinateConfig config;
  const std::string good =
      R"({"Node":"web1","Segment":"","Coord":{"Vec":[0.001,0,0,0,0,0,0,0.5],"Error":0.3,"Adjustment":-0.0001,"Height":0.00002}})";
  const std::string alphabet = "{}[]\":,-+.eE0123456789 naNInfinity\\u0000\xff";
  Rng rng(11);
  int taken = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body = good;
    const int edits = 1 + static_cast<int>(rng.Uniform(4));
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t at = rng.Uniform(body.size());
      switch (rng.Uniform(3)) {
        case 0: body[at] = alphabet[rng.Uniform(alphabet.size())]; break;
        case 1: body.erase(at, 1 + rng.Uniform(8)); break;
        default: body.insert(at, 1, alphabet[rng.Uniform(alphabet.size())]); break;
      }
    }
    absl::StatusOr<state::NodeCoordinate> c = ParseCoordinateUpdate(body, config);
    if (!c.ok()) continue;
    ++taken;
    EXPECT_TRUE(state::CoordinateValuesValid(*c)) << body;
    EXPECT_TRUE(gossip::CheckRemoteCoordinate(ToGossip(*c), config).ok()) << body;
    EXPECT_FALSE(c->node.empty());
    EXPECT_TRUE(std::isfinite(ToGossip(*c).DistanceSeconds(gossip::Coordinate::Initial(config))));
  }
  EXPECT_GT(taken, 100);  // the mutations do reach the checks past the parser
  EXPECT_LT(taken, 20000);
}

TEST(CoordinateJsonTest, DatacentersWithoutAWanPoolListOursEmpty) {
  EXPECT_EQ(DatacenterCoordinatesJson(nullptr, "dc1"), R"([{"Datacenter":"dc1","AreaID":"WAN","Coordinates":[]}])");
}

// ?near on the store: the near node first, then by distance, nodes without a coordinate last.
class NearTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uint64_t idx = 1;
    for (const char* n : {"a", "b", "c", "d", "e"}) ASSERT_TRUE(store_.Register(idx++, state::testing::T(0), state::testing::NodeReq(n)).ok());
    // a at the origin; e 5 ms away, c 10 ms, b 40 ms; d has no coordinate.
    store_.CoordinateBatchUpdate(idx++, {At("a", 0), At("b", 40), At("c", 0, 10), At("e", 3, 4)});
  }
  std::vector<std::string> Order(std::string near) {
    pba::Call call;
    call.set_near(std::move(near));
    pba::Reply reply;
    AutopilotConfig autopilot;
    absl::Status s = ServeStoreRead(store_, StoreReadContext{autopilot, "c"}, "catalog.nodes", call, &reply);
    EXPECT_TRUE(s.ok()) << s;
    std::vector<std::string> names;
    for (const OJson& row : OJson::parse(reply.body())) names.push_back(row["Node"].get<std::string>());
    return names;
  }
  state::Store store_;
};

TEST_F(NearTest, SortsByEstimatedRoundTripTimeWithNodesWithoutCoordinatesLast) {
  EXPECT_EQ(Order(""), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(Order("a"), (std::vector<std::string>{"a", "e", "c", "b", "d"}));
  EXPECT_EQ(Order("b"), (std::vector<std::string>{"b", "e", "a", "c", "d"}));
  // _agent is the serving agent (c here).
  EXPECT_EQ(Order("_agent"), (std::vector<std::string>{"c", "e", "a", "b", "d"}));
  // A near node without a coordinate: first, the rest as they were.
  EXPECT_EQ(Order("d"), (std::vector<std::string>{"d", "a", "b", "c", "e"}));
  // An unknown near node: nothing moves.
  EXPECT_EQ(Order("zz"), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

TEST_F(NearTest, CoordinateReadsAnswerTheTableAndBlockOnIt) {
  pba::Call call;
  pba::Reply reply;
  AutopilotConfig autopilot;
  ASSERT_TRUE(ServeStoreRead(store_, StoreReadContext{autopilot, "c"}, "coordinate.nodes", call, &reply).ok());
  const OJson all = OJson::parse(reply.body());
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0]["Node"], "a");
  EXPECT_EQ(all[0]["Coord"]["Vec"].size(), 8u);
  EXPECT_EQ(reply.index(), 6u);
  call.set_key("d");
  EXPECT_EQ(ServeStoreRead(store_, StoreReadContext{autopilot, "c"}, "coordinate.node", call, &reply).code(),
            absl::StatusCode::kNotFound);
  call.set_key("b");
  ASSERT_TRUE(ServeStoreRead(store_, StoreReadContext{autopilot, "c"}, "coordinate.node", call, &reply).ok());
  EXPECT_EQ(OJson::parse(reply.body()).size(), 1u);
  EXPECT_EQ(StoreReadTopics("coordinate.nodes", call).size(), 1u);
  EXPECT_EQ(StoreReadTopics("coordinate.node", call).size(), 1u);
}

}  // namespace
}  // namespace muster::agent
