#include "core/seam/envelope.h"

#include <string>

#include "core/base/rng.h"
#include "core/seam/channel.h"
#include "gtest/gtest.h"

namespace muster {
namespace {

TEST(Envelope, SealsAndOpens) {
  const std::string body("\0\1gossip", 8);
  absl::StatusOr<Opened> o = Open(Seal(proto::Envelope::KIND_GOSSIP, body));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->kind, proto::Envelope::KIND_GOSSIP);
  EXPECT_EQ(o->version, kProtocolVersion);
  EXPECT_EQ(o->body, body);
  // An empty body is a legal message of its kind.
  ASSERT_TRUE(Open(Seal(proto::Envelope::KIND_RAFT, "")).ok());
}

TEST(Envelope, ANewerVersionIsRefusedNotMisread) {
  proto::Envelope e;
  e.set_protocol_version(kProtocolVersion + 8);
  e.set_kind(proto::Envelope::KIND_RAFT);
  e.set_body("from the future");
  absl::StatusOr<Opened> o = Open(e.SerializeAsString());
  ASSERT_FALSE(o.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(o.status())) << o.status();
  EXPECT_NE(o.status().message().find("newer than ours"), std::string_view::npos) << o.status();
  e.set_protocol_version(0);  // no version: not ours
  EXPECT_TRUE(absl::IsFailedPrecondition(Open(e.SerializeAsString()).status()));
}

TEST(Envelope, UnknownKindsAndGarbageAreRefused) {
  proto::Envelope e;
  e.set_protocol_version(kProtocolVersion);
  e.set_kind(static_cast<proto::Envelope::Kind>(77));
  EXPECT_NE(Open(e.SerializeAsString()).status().message().find("unknown message kind 77"), std::string_view::npos);
  e.set_kind(proto::Envelope::KIND_UNSPECIFIED);
  EXPECT_FALSE(Open(e.SerializeAsString()).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(Open("").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Open(std::string("\xff\xff\xff\xff\xff", 5)).status()));
  // Random bytes and every truncation of a real envelope: refused or opened, never a crash,
  // and what opens is a kind we know.
  Rng rng(7);
  const std::string real = Seal(proto::Envelope::KIND_RPC, std::string(300, 'x'));
  for (size_t cut = 0; cut < real.size(); ++cut) {
    absl::StatusOr<Opened> o = Open(std::string_view(real).substr(0, cut));
    if (o.ok()) {
      EXPECT_TRUE(proto::Envelope::Kind_IsValid(o->kind));
    }
  }
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng.Uniform(64), '\0');
    for (char& c : junk) c = static_cast<char>(rng.Uniform(256));
    absl::StatusOr<Opened> o = Open(junk);
    if (o.ok()) {
      EXPECT_NE(o->kind, proto::Envelope::KIND_UNSPECIFIED);
      EXPECT_TRUE(proto::Envelope::Kind_IsValid(o->kind));
    }
  }
}

TEST(Envelope, TheOverheadBoundHoldsUpToTheDatagramLimit) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{127}, size_t{128}, size_t{16383}, size_t{16384},
                   size_t{kDatagramPayloadBytesMax}, size_t{1} << 20}) {
    EXPECT_LE(Seal(proto::Envelope::KIND_GOSSIP, std::string(n, 'g')).size(), n + kEnvelopeOverheadBytesMax) << n;
  }
  // Gossip keeps 32 bytes under the limit for the framing.
  EXPECT_LE(Seal(proto::Envelope::KIND_GOSSIP, std::string(kDatagramPayloadBytesMax - 32, 'g')).size(),
            kDatagramPayloadBytesMax);
}

}  // namespace
}  // namespace muster
