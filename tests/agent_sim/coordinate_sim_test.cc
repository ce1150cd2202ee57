// Network coordinates end to end under the simulator: three servers and two clients at set
// points of a plane (each link's one-way delay half their distance plus an access delay), so
// every pair's true RTT is known. Gossip's probes move each agent's Vivaldi coordinate, the
// agents send theirs every 15-30 s, the leader commits them in batches, and then
//  - every node's coordinate in the table estimates its RTT to every other within 20% + 3 ms;
//  - ?near=s1 (asked through a client) and ?near=_agent on the client s5 answer the near node
//    first and the rest in the order of their true RTT from it (the sites are spaced so that
//    order is unambiguous, and it is not the lexical one);
//  - every server answers the same table (it came through the log);
//  - /v1/coordinate/datacenters holds the three servers' WAN coordinates, near their RTTs too.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/agent_sim/agent_cluster.h"

namespace muster::agent_sim {
namespace {

using Json = nlohmann::json;

struct Site {
  double x_ms, y_ms;
};
constexpr double kAccessMs = 0.5;

Duration OneWay(const Site& a, const Site& b) {
  const double d = std::hypot(a.x_ms - b.x_ms, a.y_ms - b.y_ms);
  return absl::Microseconds(static_cast<int64_t>((d / 2 + kAccessMs) * 1000));
}

TEST(CoordinateSimTest, AgentsCoordinatesReachTheTableAndNearSortsByTrueRoundTripTime) {
  // s1 at the origin; from it s5, s3, s4 and s2 are 6, 16, 30 and 48 ms of distance away (RTT
  // +2 ms); from s5: s1 6, s3 17.1, s4 36, s2 44.9. Neither order is the lexical one.
  const std::vector<Site> sites = {{0, 0}, {30, 38}, {0, 16}, {-30, 0}, {6, 0}};
  const int seeds = 3;
  for (int s = 0; s < seeds; ++s) {
    sim::Simulator sim(7100 + s);
    sim::LinkConfig base;
    base.latency_jitter_mean = absl::Microseconds(50);
    std::vector<NodeId> nodes;
    for (int i = 1; i <= 5; ++i) {
      AgentSpec spec;
      spec.index = i;
      spec.server = i <= 3;
      spec.bootstrap_expect = spec.server ? 3 : 0;
      if (i > 1) spec.join = {LanAddress(1)};
      nodes.push_back(AddAgent(sim, spec));
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      for (size_t j = 0; j < nodes.size(); ++j) {
        if (i == j) continue;
        sim::LinkConfig link = base;
        link.latency_min = OneWay(sites[i], sites[j]);
        sim.network().SetLink(nodes[i], nodes[j], link);
      }
    }
    ASSERT_TRUE(sim.RunUntil([&] { return Leaders(sim).size() == 1; }, absl::Seconds(30))) << "seed " << 7100 + s;
    sim.RunFor(absl::Seconds(600));

    // Every server's table, stale (its own state): equal once the last batch reached all.
    Json table;
    for (int attempt = 0;; ++attempt) {
      std::vector<std::string> tables;
      for (size_t i = 0; i < 3; ++i) {
        proto::agent::Call stale;
        stale.set_consistency("stale");
        auto r = Send(sim, nodes[i], "coordinate.nodes", stale);
        ASSERT_TRUE(sim.RunUntil([&] { return r->answered; }, absl::Seconds(5)));
        ASSERT_TRUE(r->status.ok()) << r->status;
        tables.push_back(r->reply.body());
      }
      if (tables[0] == tables[1] && tables[0] == tables[2]) {
        table = Json::parse(tables[0]);
        break;
      }
      ASSERT_LT(attempt, 5) << "the servers' coordinate tables differ";
      sim.RunFor(absl::Milliseconds(200));
    }
    ASSERT_EQ(table.size(), 5u) << table.dump();
    auto coord_of = [&](const std::string& node) -> const Json& {
      for (const Json& row : table) {
        if (row["Node"] == node) return row["Coord"];
      }
      ADD_FAILURE() << "no coordinate of " << node;
      return table[0]["Coord"];
    };
    auto distance = [](const Json& a, const Json& b) {
      double sum = 0;
      for (size_t k = 0; k < a["Vec"].size(); ++k) {
        const double d = a["Vec"][k].get<double>() - b["Vec"][k].get<double>();
        sum += d * d;
      }
      const double raw = std::sqrt(sum) + a["Height"].get<double>() + b["Height"].get<double>();
      const double adjusted = raw + a["Adjustment"].get<double>() + b["Adjustment"].get<double>();
      return adjusted > 0 ? adjusted : raw;
    };
    double worst = 0;
    for (size_t i = 0; i < nodes.size(); ++i) {
      for (size_t j = i + 1; j < nodes.size(); ++j) {
        const double want = 2 * absl::ToDoubleSeconds(OneWay(sites[i], sites[j])) + 2 * 50e-6;
        const double got = distance(coord_of(NodeName(i + 1)), coord_of(NodeName(j + 1)));
        worst = std::max(worst, std::fabs(got - want) / want);
        EXPECT_NEAR(got, want, 0.2 * want + 0.003) << "seed " << 7100 + s << " " << i + 1 << "-" << j + 1;
      }
    }
    std::printf("seed %d: worst relative RTT error in the table after 600 s: %.1f%%\n", 7100 + s, worst * 100);

    // The WAN pool measures the servers too (probes every 5 s): /v1/coordinate/datacenters.
    auto dcs = Send(sim, nodes[1], "coordinate.datacenters", proto::agent::Call());
    ASSERT_TRUE(sim.RunUntil([&] { return dcs->answered; }, absl::Seconds(5)));
    const Json wan = Json::parse(dcs->reply.body());
    ASSERT_EQ(wan.size(), 1u) << wan.dump();
    EXPECT_EQ(wan[0]["Datacenter"], "dc1");
    ASSERT_EQ(wan[0]["Coordinates"].size(), 3u) << wan.dump();
    for (const Json& a : wan[0]["Coordinates"]) {
      for (const Json& b : wan[0]["Coordinates"]) {
        if (a["Node"] >= b["Node"]) continue;
        const int i = a["Node"].get<std::string>()[1] - '1', j = b["Node"].get<std::string>()[1] - '1';
        const double want = 2 * absl::ToDoubleSeconds(OneWay(sites[i], sites[j])) + 2 * 50e-6;
        EXPECT_NEAR(distance(a["Coord"], b["Coord"]), want, 0.3 * want + 0.005) << a["Node"] << "-" << b["Node"];
      }
    }

    proto::agent::Call near;
    near.set_near("s1");
    auto r = Send(sim, nodes[3], "catalog.nodes", near);  // through a client, forwarded
    ASSERT_TRUE(sim.RunUntil([&] { return r->answered; }, absl::Seconds(10)));
    ASSERT_TRUE(r->status.ok()) << r->status;
    std::vector<std::string> order;
    for (const Json& row : Json::parse(r->reply.body())) order.push_back(row["Node"].get<std::string>());
    EXPECT_EQ(order, (std::vector<std::string>{"s1", "s5", "s3", "s4", "s2"})) << "seed " << 7100 + s;
    // _agent on a client names the client.
    proto::agent::Call agent_near;
    agent_near.set_near("_agent");
    auto mine = Send(sim, nodes[4], "catalog.nodes", agent_near);
    ASSERT_TRUE(sim.RunUntil([&] { return mine->answered; }, absl::Seconds(10)));
    ASSERT_TRUE(mine->status.ok());
    std::vector<std::string> from_s5;
    for (const Json& row : Json::parse(mine->reply.body())) from_s5.push_back(row["Node"].get<std::string>());
    EXPECT_EQ(from_s5, (std::vector<std::string>{"s5", "s1", "s3", "s4", "s2"})) << "seed " << 7100 + s;
  }
}

}  // namespace
}  // namespace muster::agent_sim
