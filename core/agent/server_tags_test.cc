#include "core/agent/server_tags.h"

#include "gtest/gtest.h"

namespace muster::agent {
namespace {

gossip::Member MemberWith(gossip::TagMap tags, std::string addr = "10.0.0.1:8301") {
  gossip::Member m;
  m.name = "s1";
  m.addr = std::move(addr);
  m.tags = std::move(tags);
  return m;
}

ServerTags Tags() {
  ServerTags t;
  t.datacenter = "dc1";
  t.node_id = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
  t.expect = 3;
  return t;
}

TEST(ServerTags, RoundTripThroughAMember) {
  absl::StatusOr<std::optional<ServerCandidate>> s = ServerOf(MemberWith(EncodeServerTags(Tags())));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->name, "s1");
  EXPECT_EQ((*s)->datacenter, "dc1");
  EXPECT_EQ((*s)->raft_id.value, 0xadf4238a882b9ddcULL);
  EXPECT_EQ((*s)->rpc_address, "10.0.0.1:8300");
  EXPECT_EQ((*s)->expect, 3u);
  EXPECT_FALSE((*s)->bootstrap);
}

TEST(ServerTags, RpcAddressKeepsTheHostOfAnyAddressForm) {
  EXPECT_EQ((*ServerOf(MemberWith(EncodeServerTags(Tags()), "[::1]:8301")))->rpc_address, "[::1]:8300");
  EXPECT_EQ((*ServerOf(MemberWith(EncodeServerTags(Tags()), "n1")))->rpc_address, "n1:8300");
}

TEST(ServerTags, ClientsAreNotServersAndBadClaimsAreRefused) {
  absl::StatusOr<std::optional<ServerCandidate>> client = ServerOf(MemberWith({{"role", "node"}}));
  ASSERT_TRUE(client.ok());
  EXPECT_FALSE(client->has_value());
  gossip::TagMap t = EncodeServerTags(Tags());
  t["port"] = "99999";
  EXPECT_FALSE(ServerOf(MemberWith(t)).ok());
  t = EncodeServerTags(Tags());
  t["id"] = "not-a-uuid";
  EXPECT_NE(ServerOf(MemberWith(t)).status().message().find("member s1 claims to be a server but"), std::string_view::npos);
  t = EncodeServerTags(Tags());
  t["expect"] = "1000000";
  EXPECT_FALSE(ServerOf(MemberWith(t)).ok());
  t = EncodeServerTags(Tags());
  t.erase("dc");
  EXPECT_FALSE(ServerOf(MemberWith(t)).ok());
}

}  // namespace
}  // namespace muster::agent
