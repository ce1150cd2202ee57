#include "core/base/buggify.h"

#include "gtest/gtest.h"

namespace muster {
namespace {

TEST(Buggify, OffNeverFires) {
  Buggify b;
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(b.Fire("site"));
  EXPECT_TRUE(b.fired().empty());
}

TEST(Buggify, ASiteIsOnOrOffForAWholeRunAndFiresAtItsRate) {
  int sites_on = 0;
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    Buggify b({.seed = seed, .site_probability = 0.25, .fire_probability = 0.5});
    int fired = 0;
    for (int i = 0; i < 200; ++i) fired += b.Fire("raft.example") ? 1 : 0;
    if (fired > 0) {
      ++sites_on;
      EXPECT_GT(fired, 60) << seed;
      EXPECT_LT(fired, 140) << seed;
    }
  }
  EXPECT_GT(sites_on, 60);
  EXPECT_LT(sites_on, 140);
}

TEST(Buggify, SameSeedSameChoicesWhateverOrderSitesAreReached) {
  Buggify a({.seed = 9, .site_probability = 0.5, .fire_probability = 1.0});
  Buggify b({.seed = 9, .site_probability = 0.5, .fire_probability = 1.0});
  bool a1 = a.Fire("one"), a2 = a.Fire("two");
  bool b2 = b.Fire("two"), b1 = b.Fire("one");
  EXPECT_EQ(a1, b1);
  EXPECT_EQ(a2, b2);
}

}  // namespace
}  // namespace muster
