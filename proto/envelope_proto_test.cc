#include "proto/envelope.pb.h"

#include "gtest/gtest.h"

namespace muster {
namespace {

TEST(EnvelopeProtoTest, RoundTrips) {
  proto::Envelope e;
  e.set_protocol_version(1);
  e.set_kind(proto::Envelope::KIND_RAFT);
  e.set_body(std::string("\0\1payload", 9));
  std::string bytes = e.SerializeAsString();
  proto::Envelope back;
  ASSERT_TRUE(back.ParseFromString(bytes));
  EXPECT_EQ(back.protocol_version(), 1u);
  EXPECT_EQ(back.kind(), proto::Envelope::KIND_RAFT);
  EXPECT_EQ(back.body(), std::string("\0\1payload", 9));
}

TEST(EnvelopeProtoTest, RejectsGarbage) {
  proto::Envelope back;
  EXPECT_FALSE(back.ParseFromString(std::string("\xff\xff\xff\xff\xff", 5)));
}

}  // namespace
}  // namespace muster
