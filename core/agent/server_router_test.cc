// The client's server router (server_router.h): the seeded order, failover, rebalancing and
// its period, the bound.
#include "core/agent/server_router.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace muster::agent {
namespace {

std::vector<RoutedServer> Servers(int n, int first = 1) {
  std::vector<RoutedServer> out;
  for (int i = first; i < first + n; ++i) out.push_back(RoutedServer{absl::StrCat("s", i), absl::StrCat("10.0.0.", i, ":8300")});
  return out;
}

std::vector<std::string> Order(const ServerRouter& r) {
  std::vector<std::string> out;
  for (const RoutedServer& s : r.servers()) out.push_back(s.name);
  return out;
}

TEST(ServerRouter, NoServerNoCurrent) {
  ServerRouter r(1);
  EXPECT_EQ(r.Current(), nullptr);
  r.NotifyFailed("10.0.0.1:8300");  // unknown: nothing
  const Duration period = r.Rebalance(1);
  EXPECT_GE(period, absl::Seconds(120));
  EXPECT_LE(period, absl::Seconds(180));
  EXPECT_EQ(r.Current(), nullptr);
}

TEST(ServerRouter, TheSameSeedGivesTheSameOrderAndSeedsSpreadClientsOverServers) {
  std::map<std::string, int> fronts;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    ServerRouter a(seed), b(seed);
    // Learnt one at a time, as gossip brings them (the seed server first, as every client would).
    for (int n = 1; n <= 3; ++n) {
      a.Sync(Servers(n));
      b.Sync(Servers(n));
    }
    ASSERT_EQ(Order(a), Order(b)) << "seed " << seed;
    ASSERT_NE(a.Current(), nullptr);
    ++fronts[a.Current()->name];
  }
  ASSERT_EQ(fronts.size(), 3u);
  for (const auto& [name, count] : fronts) EXPECT_GT(count, 70) << name << " is the front for " << count << " of 300";
}

TEST(ServerRouter, SyncRemovesGoneServersAndKeepsThePlaceOfKnownOnes) {
  ServerRouter r(7);
  r.Sync(Servers(3));
  const std::vector<std::string> before = Order(r);
  std::vector<RoutedServer> now = Servers(3);
  now[1].rpc_address = "10.0.1.2:8300";  // s2 moved
  r.Sync(now);
  EXPECT_EQ(Order(r), before);
  EXPECT_TRUE(r.Knows("10.0.1.2:8300"));
  EXPECT_FALSE(r.Knows("10.0.0.2:8300"));
  now.erase(now.begin());  // s1 failed in gossip
  r.Sync(now);
  std::vector<std::string> expected = before;
  std::erase(expected, "s1");
  EXPECT_EQ(Order(r), expected);
  r.Sync({});
  EXPECT_EQ(r.Current(), nullptr);
}

TEST(ServerRouter, AFailedCurrentServerGoesToTheBackOnce) {
  ServerRouter r(3);
  r.Sync(Servers(3));
  const std::vector<std::string> before = Order(r);
  const Address current = r.Current()->rpc_address;
  r.NotifyFailed(current);
  EXPECT_EQ(Order(r), (std::vector<std::string>{before[1], before[2], before[0]}));
  EXPECT_TRUE(r.servers().back().failed);
  // The other RPCs that were out to it fail too: it does not move again, nor does the new
  // current server.
  r.NotifyFailed(current);
  r.NotifyFailed(current);
  EXPECT_EQ(Order(r), (std::vector<std::string>{before[1], before[2], before[0]}));
  // A server not in front is only marked.
  r.NotifyFailed(r.servers()[1].rpc_address);
  EXPECT_EQ(r.Current()->name, before[1]);
  EXPECT_TRUE(r.servers()[1].failed);
  r.NotifyAnswered(r.servers()[1].rpc_address);
  EXPECT_FALSE(r.servers()[1].failed);
}

TEST(ServerRouter, ALoneServerStaysCurrentWhenItFails) {
  ServerRouter r(3);
  r.Sync(Servers(1));
  r.NotifyFailed("10.0.0.1:8300");
  ASSERT_NE(r.Current(), nullptr);
  EXPECT_EQ(r.Current()->name, "s1");
}

TEST(ServerRouter, RebalanceShufflesAndSkipsServersThatFailed) {
  ServerRouter r(11);
  r.Sync(Servers(5));
  std::map<std::string, int> fronts;
  for (int i = 0; i < 500; ++i) {
    r.Rebalance(8);
    ++fronts[r.Current()->name];
  }
  EXPECT_EQ(fronts.size(), 5u);
  for (const auto& [name, count] : fronts) EXPECT_GT(count, 60) << name;
  // Servers that failed since the last rebalance do not come to the front while one that did
  // not is left; the marks last one rebalance.
  for (int i = 0; i < 50; ++i) {
    for (const RoutedServer& s : Servers(4)) r.NotifyFailed(s.rpc_address);
    r.Rebalance(8);
    EXPECT_EQ(r.Current()->name, "s5");
    for (const RoutedServer& s : r.servers()) EXPECT_FALSE(s.failed) << s.name;
  }
  fronts.clear();
  for (int i = 0; i < 100; ++i) {
    for (const RoutedServer& s : Servers(5)) r.NotifyFailed(s.rpc_address);  // all marked: the shuffle stands
    r.Rebalance(8);
    ++fronts[r.Current()->name];
  }
  EXPECT_EQ(fronts.size(), 5u);
  EXPECT_EQ(r.rebalances(), 650u);
}

TEST(ServerRouter, ThePeriodIsConsulsAndGrowsWithTheCluster) {
  ServerRouter r(5);
  r.Sync(Servers(3));
  Duration shortest = absl::InfiniteDuration(), longest = absl::ZeroDuration();
  for (int i = 0; i < 1000; ++i) {
    const Duration d = r.RebalancePeriod(10);
    shortest = std::min(shortest, d);
    longest = std::max(longest, d);
  }
  EXPECT_GE(shortest, absl::Seconds(120));
  EXPECT_LE(longest, absl::Seconds(180));
  EXPECT_LT(shortest, absl::Seconds(125));  // the jitter spans [0, 60 s]
  EXPECT_GT(longest, absl::Seconds(175));
  // 100,000 members over 3 servers at 64 rebalances a second each: 100000 / 192 s.
  EXPECT_EQ(r.RebalancePeriod(100000), absl::Seconds(100000.0 / 192));
  // More servers take the same members sooner, down to the reuse floor.
  ServerRouter seven(5);
  seven.Sync(Servers(7));
  EXPECT_EQ(seven.RebalancePeriod(100000), absl::Seconds(100000.0 / 448));
  EXPECT_EQ(seven.Rebalance(100000), absl::Seconds(100000.0 / 448));
}

TEST(ServerRouter, TheListIsBounded) {
  ServerRouter r(2);
  EXPECT_FALSE(r.Sync(Servers(static_cast<int>(kRouterServersMax) + 10)));
  EXPECT_EQ(r.servers().size(), kRouterServersMax);
  EXPECT_TRUE(r.Sync(Servers(3)));
  EXPECT_EQ(r.servers().size(), 3u);
}

}  // namespace
}  // namespace muster::agent
