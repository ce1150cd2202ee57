// Coordinates on the wire: every direct ack carries the sender's coordinate, each direct
// answer to our probe moves ours, and what a hostile or old peer puts in an ack (nothing, too
// many bytes, garbage, NaN, another dimensionality, huge values) is refused without moving
// anything or breaking the probe.
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/gossip/limits.h"
#include "core/gossip/serf.h"
#include "gtest/gtest.h"

namespace muster::gossip {
namespace {

namespace pb = ::muster::proto::gossip;

std::string Packet(const pb::Message& m) { return PackMessages({m.SerializeAsString()}); }

pb::Coordinate Wire(std::vector<double> vec, double height, double error = 0.5, double adjustment = 0) {
  pb::Coordinate c;
  for (double x : vec) c.add_vec(x);
  c.set_height(height);
  c.set_error(error);
  c.set_adjustment(adjustment);
  return c;
}

class CoordinateAckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    serf_ = std::make_unique<Serf>(SerfConfig::Lan("a"), "addr-a", 5, Logger());
    serf_->Start(now_, &out_);
    pb::Message alive;
    alive.mutable_alive()->set_node("b");
    alive.mutable_alive()->set_addr("addr-b");
    alive.mutable_alive()->set_incarnation(1);
    serf_->HandleMessage(now_, MessageInput{"addr-b", Channel::kDatagram, Packet(alive)}, &out_);
  }

  // Runs timers until a's next direct ping to b goes out; its sequence number.
  uint32_t NextPing() {
    for (int i = 0; i < 10000; ++i) {
      for (const OutboundMessage& m : std::exchange(out_.messages, {})) {
        pb::Packet p;
        if (m.to != "addr-b" || m.channel != Channel::kDatagram || !p.ParseFromString(m.payload)) continue;
        for (const pb::Message& msg : p.messages()) {
          if (msg.has_ping()) return msg.ping().seq();
        }
      }
      now_ = out_.wake_at.value_or(now_ + absl::Milliseconds(10));
      out_.wake_at.reset();
      serf_->Tick(now_, &out_);
    }
    ADD_FAILURE() << "no ping to b";
    return 0;
  }

  // Answers a's next ping after `rtt` with an ack carrying `payload`.
  void AnswerNextPing(const std::string& payload, Duration rtt = absl::Milliseconds(10)) {
    const uint32_t seq = NextPing();
    now_ += rtt;
    pb::Message ack;
    ack.mutable_ack()->set_seq(seq);
    ack.mutable_ack()->set_members(2);
    ack.mutable_ack()->set_payload(payload);
    serf_->HandleMessage(now_, MessageInput{"addr-b", Channel::kDatagram, Packet(ack)}, &out_);
  }

  Time now_ = absl::FromUnixSeconds(1000);
  Effects out_;
  std::unique_ptr<Serf> serf_;
};

TEST_F(CoordinateAckTest, OurAcksCarryOurCoordinate) {
  pb::Message ping;
  ping.mutable_ping()->set_seq(77);
  ping.mutable_ping()->set_target("a");
  ping.mutable_ping()->set_source("b");
  serf_->HandleMessage(now_, MessageInput{"addr-b", Channel::kDatagram, Packet(ping)}, &out_);
  std::optional<pb::Coordinate> carried;
  for (const OutboundMessage& m : out_.messages) {
    pb::Packet p;
    ASSERT_TRUE(p.ParseFromString(m.payload));
    for (const pb::Message& msg : p.messages()) {
      if (msg.has_ack() && msg.ack().seq() == 77) {
        carried.emplace();
        ASSERT_TRUE(carried->ParseFromString(msg.ack().payload()));
        EXPECT_LE(msg.ack().payload().size(), kAckPayloadBytesMax);
      }
    }
  }
  ASSERT_TRUE(carried.has_value());
  EXPECT_EQ(carried->vec_size(), 8);
  EXPECT_EQ(carried->error(), 1.5);
  EXPECT_EQ(carried->height(), 10e-6);
}

TEST_F(CoordinateAckTest, ADirectAckMovesOurCoordinateAndCachesThePeers) {
  const Coordinate before = serf_->coordinate();
  AnswerNextPing(Wire({0.002, 0, 0, 0, 0, 0, 0, 0}, 0.001).SerializeAsString());
  EXPECT_EQ(serf_->coordinate_client().stats().updates, 1u);
  EXPECT_NE(serf_->coordinate(), before);
  const Coordinate* b = serf_->cached_coordinate("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->height, 0.001);
  EXPECT_EQ(serf_->cached_coordinate("a"), &serf_->coordinate());
}

TEST_F(CoordinateAckTest, AnAckWithoutACoordinateIsAnAckAsBefore) {
  AnswerNextPing("");
  EXPECT_EQ(serf_->coordinate_client().stats().updates, 0u);
  EXPECT_EQ(serf_->stats().coordinates_rejected, 0u);
  EXPECT_EQ(serf_->cached_coordinate("b"), nullptr);
  EXPECT_EQ(serf_->memberlist().stats().probes_failed, 0u);
}

TEST_F(CoordinateAckTest, HostilePayloadsAreRefusedAndMoveNothing) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<std::string> bad = {
      "\xff\xff\xff garbage",
      Wire({nan, 0, 0, 0, 0, 0, 0, 0}, 0.001).SerializeAsString(),
      Wire({0, 0, 0, 0, 0, 0, 0, 0}, inf).SerializeAsString(),
      Wire({0, 0, 0, 0, 0, 0, 0, 0}, 0.001, nan).SerializeAsString(),
      Wire({0, 0, 0, 0, 0, 0, 0, 0}, 0.001, 0.5, -inf).SerializeAsString(),
      Wire({1e200, 0, 0, 0, 0, 0, 0, 0}, 0.001).SerializeAsString(),
      Wire({0, 0, 0, 0, 0, 0, 0, 0, 0}, 0.001).SerializeAsString(),  // 9 dimensions
      Wire({0.001}, 0.001).SerializeAsString(),                         // 1 dimension
  };
  const Coordinate before = serf_->coordinate();
  for (const std::string& payload : bad) AnswerNextPing(payload);
  EXPECT_EQ(serf_->stats().coordinates_rejected, bad.size());
  EXPECT_EQ(serf_->coordinate(), before);
  EXPECT_EQ(serf_->cached_coordinate("b"), nullptr);
  // A payload over the bound does not even get in: memberlist drops the whole ack.
  const uint64_t rejected = serf_->memberlist().stats().messages_rejected;
  AnswerNextPing(std::string(kAckPayloadBytesMax + 1, 'x'));
  EXPECT_EQ(serf_->memberlist().stats().messages_rejected, rejected + 1);
  EXPECT_EQ(serf_->coordinate(), before);
  // And a good one after all that still counts.
  AnswerNextPing(Wire({0.002, 0, 0, 0, 0, 0, 0, 0}, 0.001).SerializeAsString());
  EXPECT_EQ(serf_->coordinate_client().stats().updates, 1u);
}

TEST_F(CoordinateAckTest, AReapedMemberIsForgotten) {
  AnswerNextPing(Wire({0.002, 0, 0, 0, 0, 0, 0, 0}, 0.001).SerializeAsString());
  ASSERT_NE(serf_->cached_coordinate("b"), nullptr);
  EXPECT_EQ(serf_->coordinate_client().nodes_filtered(), 1u);
  pb::Message dead;
  dead.mutable_dead()->set_node("b");
  dead.mutable_dead()->set_incarnation(1);
  dead.mutable_dead()->set_from("b");  // a graceful leave
  serf_->HandleMessage(now_, MessageInput{"addr-b", Channel::kDatagram, Packet(dead)}, &out_);
  ASSERT_TRUE(serf_->ForceLeave(now_, "b", /*prune=*/true, &out_).ok());
  EXPECT_EQ(serf_->member("b"), nullptr);
  EXPECT_EQ(serf_->cached_coordinate("b"), nullptr);
  EXPECT_EQ(serf_->coordinate_client().nodes_filtered(), 0u);
}

}  // namespace
}  // namespace muster::gossip
