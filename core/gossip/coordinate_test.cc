// The Vivaldi client: distances as Serf computes them, the refusal of bad remote input, the
// latency filter, determinism, and convergence to a known latency matrix.
#include "core/gossip/coordinate.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace muster::gossip {
namespace {

Coordinate Point(std::vector<double> vec, double height, double adjustment = 0, double error = 1.0) {
  Coordinate c;
  c.vec = std::move(vec);
  c.height = height;
  c.adjustment = adjustment;
  c.error = error;
  return c;
}

std::vector<double> Vec8(double x, double y) { return {x, y, 0, 0, 0, 0, 0, 0}; }

TEST(CoordinateTest, InitialIsTheOriginWithTheMaximumError) {
  CoordinateConfig config;
  Coordinate c = Coordinate::Initial(config);
  EXPECT_EQ(c.vec, std::vector<double>(8, 0.0));
  EXPECT_EQ(c.error, 1.5);
  EXPECT_EQ(c.adjustment, 0.0);
  EXPECT_EQ(c.height, 10.0e-6);
  EXPECT_TRUE(c.IsValid());
}

TEST(CoordinateTest, DistanceIsEuclideanPlusHeightsPlusAdjustments) {
  const Coordinate a = Point(Vec8(0, 0), 0.001);
  const Coordinate b = Point(Vec8(0.003, 0.004), 0.002);
  EXPECT_DOUBLE_EQ(a.RawDistanceSeconds(b), 0.005 + 0.003);
  EXPECT_DOUBLE_EQ(a.DistanceSeconds(b), 0.008);
  EXPECT_EQ(a.DistanceTo(b), absl::Milliseconds(8));
  // Adjustments add up...
  const Coordinate a_adj = Point(Vec8(0, 0), 0.001, 0.0005);
  const Coordinate b_adj = Point(Vec8(0.003, 0.004), 0.002, 0.0015);
  EXPECT_DOUBLE_EQ(a_adj.DistanceSeconds(b_adj), 0.010);
  // ...unless they would make the distance zero or negative: then the raw one counts.
  const Coordinate b_neg = Point(Vec8(0.003, 0.004), 0.002, -0.009);
  EXPECT_DOUBLE_EQ(a.DistanceSeconds(b_neg), 0.008);
  EXPECT_DOUBLE_EQ(a.DistanceSeconds(b_neg), b_neg.DistanceSeconds(a));
}

TEST(CoordinateTest, RemoteCoordinatesOutOfBoundsAreRefusedAndChangeNothing) {
  CoordinateClient client({}, 7);
  const Coordinate before = client.coordinate();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<Coordinate> bad = {
      Point(Vec8(nan, 0), 0.001),
      Point(Vec8(0, inf), 0.001),
      Point(Vec8(0, 0), nan),
      Point(Vec8(0, 0), 0.001, -inf),
      Point(Vec8(0, 0), 0.001, 0, nan),
      Point(Vec8(1e300, 0), 0.001),
      Point(Vec8(0, 0), 1e9),
      Point(Vec8(0, 0), -1.0),
      Point(Vec8(0, 0), 0.001, 0, -1.0),
      Point({0.1, 0.2}, 0.001),                       // dimensionality 2
      Point(std::vector<double>(4096, 0.0), 0.001),  // far too many
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_FALSE(client.Update("peer", bad[i], absl::Milliseconds(5)).ok()) << i;
  }
  const Coordinate good = Point(Vec8(0.001, 0), 0.001);
  EXPECT_FALSE(client.Update("peer", good, absl::Milliseconds(-1)).ok());
  EXPECT_FALSE(client.Update("peer", good, absl::Seconds(11)).ok());
  EXPECT_EQ(client.coordinate(), before);
  EXPECT_EQ(client.stats().rejected, bad.size() + 2);
  EXPECT_EQ(client.stats().updates, 0u);
  EXPECT_EQ(client.nodes_filtered(), 0u);  // a refused sample leaves no latency sample behind
  EXPECT_TRUE(client.Update("peer", good, absl::Milliseconds(5)).ok());
  EXPECT_EQ(client.stats().updates, 1u);
  EXPECT_NE(client.coordinate(), before);
}

TEST(CoordinateTest, TheLatencyFilterTakesTheMedianOfTheLastThreeSamples) {
  // Two clients fed the same samples, one with a spike in the middle: after the filter's
  // window has passed the spike, a single outlier has moved nothing the median ignores.
  CoordinateConfig config;
  config.adjustment_window_size = 0;
  CoordinateClient steady(config, 1), spiky(config, 1);
  const Coordinate peer = Point(Vec8(0.01, 0), 0.0001, 0, 0.5);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(steady.Update("peer", peer, absl::Milliseconds(20)).ok());
    ASSERT_TRUE(spiky.Update("peer", peer, i == 5 ? absl::Seconds(2) : absl::Milliseconds(20)).ok());
  }
  EXPECT_EQ(steady.coordinate(), spiky.coordinate());
  // Samples of a forgotten peer are gone.
  EXPECT_EQ(spiky.nodes_filtered(), 1u);
  spiky.ForgetNode("peer");
  EXPECT_EQ(spiky.nodes_filtered(), 0u);
}

TEST(CoordinateTest, CoincidingPointsPushApartInARandomButSeededDirection) {
  CoordinateClient a({}, 42), b({}, 42), c({}, 43);
  const Coordinate origin = Coordinate::Initial(CoordinateConfig{});
  for (CoordinateClient* x : {&a, &b, &c}) ASSERT_TRUE(x->Update("o", origin, absl::Milliseconds(10)).ok());
  EXPECT_EQ(a.coordinate(), b.coordinate());
  EXPECT_NE(a.coordinate().vec, c.coordinate().vec);
  EXPECT_GT(origin.DistanceSeconds(a.coordinate()), 0.0);
}

// Nodes at set positions on a plane (RTT = Euclidean distance + 2 ms of access delay),
// each measuring one random peer per round against the peer's current coordinate, as every
// probe's ack does: after enough rounds every pair's estimate is within 15% of its RTT.
TEST(CoordinateTest, ConvergesToAKnownLatencyMatrix) {
  struct Site {
    double x_ms, y_ms;
  };
  const std::vector<Site> sites = {{0, 0}, {10, 0}, {0, 30}, {40, 40}, {25, 5}, {60, 10}};
  const double access_ms = 1.0;  // each end: 2 ms per round trip
  auto rtt = [&](size_t i, size_t j) {
    const double dx = sites[i].x_ms - sites[j].x_ms, dy = sites[i].y_ms - sites[j].y_ms;
    return absl::Microseconds(static_cast<int64_t>((std::sqrt(dx * dx + dy * dy) + 2 * access_ms) * 1000));
  };
  std::vector<CoordinateClient> clients;
  for (size_t i = 0; i < sites.size(); ++i) clients.emplace_back(CoordinateConfig{}, 100 + i);
  Rng pick(5);
  for (int round = 0; round < 400; ++round) {
    for (size_t i = 0; i < clients.size(); ++i) {
      size_t j = pick.Uniform(clients.size() - 1);
      if (j >= i) ++j;
      const Coordinate peer = clients[j].coordinate();
      ASSERT_TRUE(clients[i].Update(absl::StrCat("n", j), peer, rtt(i, j)).ok());
    }
  }
  double worst = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    for (size_t j = i + 1; j < clients.size(); ++j) {
      const double want = absl::ToDoubleSeconds(rtt(i, j));
      const double got = clients[i].coordinate().DistanceSeconds(clients[j].coordinate());
      worst = std::max(worst, std::fabs(got - want) / want);
      EXPECT_NEAR(got, want, 0.15 * want) << i << "-" << j;
    }
    EXPECT_LT(clients[i].coordinate().error, 0.2) << i;
  }
  std::printf("worst relative RTT error after 400 rounds: %.1f%%\n", worst * 100);
}

}  // namespace
}  // namespace muster::gossip
