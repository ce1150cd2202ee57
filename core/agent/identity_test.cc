#include "core/agent/identity.h"

#include "gtest/gtest.h"

namespace muster::agent {
namespace {

TEST(Identity, NodeIdsAreCanonicalUuids) {
  absl::StatusOr<std::string> id = ParseNodeId("ADF4238A-882B-9DDC-4A9D-5B6758E4159E");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "adf4238a-882b-9ddc-4a9d-5b6758e4159e");
  EXPECT_FALSE(ParseNodeId("").ok());
  EXPECT_FALSE(ParseNodeId("adf4238a-882b-9ddc-4a9d-5b6758e4159").ok());    // 35
  EXPECT_FALSE(ParseNodeId("adf4238a_882b-9ddc-4a9d-5b6758e4159e").ok());   // no hyphen
  EXPECT_FALSE(ParseNodeId("adf4238a-882b-9ddc-4a9d-5b6758e4159g").ok());   // not hex
  EXPECT_NE(ParseNodeId("x").status().message().find("36 characters"), std::string_view::npos);
}

TEST(Identity, FormattedIdsAreVersion4AndParse) {
  for (uint64_t i = 0; i < 100; ++i) {
    const std::string id = FormatNodeId(i * 0x9e3779b97f4a7c15ULL, ~i * 0xbf58476d1ce4e5b9ULL);
    ASSERT_TRUE(ParseNodeId(id).ok()) << id;
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;
  }
}

TEST(Identity, RaftIdIsTheFirst64Bits) {
  absl::StatusOr<NodeId> r = RaftIdOf("adf4238a-882b-9ddc-4a9d-5b6758e4159e");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->value, 0xadf4238a882b9ddcULL);
  EXPECT_EQ(RaftIdOf("ADF4238A-882B-9DDC-0000-000000000000")->value, 0xadf4238a882b9ddcULL);
  EXPECT_FALSE(RaftIdOf("00000000-0000-0000-4a9d-5b6758e4159e").ok());
  EXPECT_FALSE(RaftIdOf("nonsense").ok());
}

TEST(Identity, NodeNames) {
  EXPECT_TRUE(ValidateNodeName("web-01.dc1_a").ok());
  EXPECT_FALSE(ValidateNodeName("").ok());
  EXPECT_FALSE(ValidateNodeName("has space").ok());
  EXPECT_FALSE(ValidateNodeName(std::string(129, 'a')).ok());
  EXPECT_TRUE(ValidateNodeName(std::string(128, 'a')).ok());
}

}  // namespace
}  // namespace muster::agent
