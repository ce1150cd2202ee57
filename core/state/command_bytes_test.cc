// The bytes a proposer puts in the log must be a function of the command alone: the raft log,
// every replica's state hash and the simulator's fingerprint are built on them. Protobuf map
// fields break that (their order follows a per-instance hash seed), so state.proto has none;
// these tests pin it in one process, and command_bytes_two_process_test across two.
#include <string>

#include "core/state/fsm.h"
#include "core/state/types.h"
#include "gtest/gtest.h"

namespace muster::state {
namespace {

RegisterRequest RegistrationWithMetadata() {
  RegisterRequest r;
  r.node.name = "node-1";
  r.node.address = "10.0.0.1";
  for (int i = 0; i < 16; ++i) {
    r.node.meta["key-" + std::to_string(i)] = "value-" + std::to_string(i);
    r.node.tagged_addresses["tag-" + std::to_string(i)] = "10.0.1." + std::to_string(i);
  }
  Service s;
  s.id = "web-1";
  s.name = "web";
  for (int i = 0; i < 16; ++i) {
    s.meta["m" + std::to_string(i)] = std::to_string(i);
    s.tagged_addresses["t" + std::to_string(i)] = {"10.0.2." + std::to_string(i), 8000 + i};
  }
  r.service = s;
  return r;
}

TEST(CommandBytesTest, SameCommandSameBytesInOneProcess) {
  const RegisterRequest req = RegistrationWithMetadata();
  const Time t = absl::FromUnixSeconds(1700000000);
  const std::string first = commands::Register(t, req).SerializeAsString();
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(commands::Register(t, req).SerializeAsString(), first) << "encoding " << i;
  }
}

TEST(CommandBytesTest, BytesRoundTripThroughTheFsm) {
  const RegisterRequest req = RegistrationWithMetadata();
  Fsm a, b;
  const std::string bytes = commands::Register(absl::FromUnixSeconds(1), req).SerializeAsString();
  a.Apply(1, bytes);
  b.Apply(1, bytes);
  EXPECT_EQ(a.ContentHash(), b.ContentHash());
  std::optional<Node> n = a.store().GetNode("node-1");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->meta, req.node.meta);
  EXPECT_EQ(n->tagged_addresses, req.node.tagged_addresses);
  EXPECT_EQ(a.Snapshot(), b.Snapshot());
}

}  // namespace
}  // namespace muster::state
