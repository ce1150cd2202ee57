#include "core/agent/addresses.h"

#include "gtest/gtest.h"

namespace muster::agent {
namespace {

TEST(AddressesTest, HostAndPortOfEachForm) {
  EXPECT_EQ(HostOf("10.0.0.1:8301"), "10.0.0.1");
  EXPECT_EQ(HostOf("[::1]:8301"), "::1");
  EXPECT_EQ(HostOf("n1"), "n1");
  EXPECT_EQ(HostOf("::1"), "::1");
  EXPECT_EQ(PortOf("10.0.0.1:8301", 1), 8301);
  EXPECT_EQ(PortOf("[::1]:8302", 1), 8302);
  EXPECT_EQ(PortOf("n1", 7), 7);
  EXPECT_EQ(PortOf("::1", 7), 7);
  EXPECT_EQ(PortOf("10.0.0.1:x", 7), 7);
}

TEST(AddressesTest, AJoinAddressGetsThePoolsPortWhenItNamesNone) {
  EXPECT_EQ(WithPort("10.0.0.1", 8301), "10.0.0.1:8301");
  EXPECT_EQ(WithPort("10.0.0.1:9301", 8301), "10.0.0.1:9301");
  EXPECT_EQ(WithPort("::1", 8301), "[::1]:8301");
  EXPECT_EQ(WithPort("[::1]", 8301), "[::1]:8301");
  EXPECT_EQ(WithPort("[::1]:9301", 8301), "[::1]:9301");
  EXPECT_EQ(WithPort("", 8301), "");
}

}  // namespace
}  // namespace muster::agent
