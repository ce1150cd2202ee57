#include "core/gossip/broadcast_queue.h"

#include <string>

#include "core/gossip/memberlist.h"
#include "gtest/gtest.h"
#include "proto/gossip.pb.h"

namespace muster::gossip {
namespace {

TEST(BroadcastQueueTest, RetransmitLimitGrowsWithLogN) {
  EXPECT_EQ(RetransmitLimit(4, 1), 4);
  EXPECT_EQ(RetransmitLimit(4, 9), 4);
  EXPECT_EQ(RetransmitLimit(4, 10), 8);
  EXPECT_EQ(RetransmitLimit(4, 99), 8);
  EXPECT_EQ(RetransmitLimit(4, 500), 12);
}

TEST(BroadcastQueueTest, EachMessageIsSentExactlyLimitTimes) {
  BroadcastQueue q;
  q.Queue("a", "AAAA");
  int sent = 0;
  for (int i = 0; i < 20; ++i) sent += static_cast<int>(q.Take(3, 1400, 4, 5).size());
  EXPECT_EQ(sent, RetransmitLimit(4, 5));
  EXPECT_TRUE(q.empty());
}

TEST(BroadcastQueueTest, AFloorRaisesTheLimitInSmallPoolsOnly) {
  auto sends = [](int num_nodes, int transmits_min) {
    BroadcastQueue q;
    q.Queue("", "query");
    int sent = 0;
    for (int i = 0; i < 50; ++i) sent += static_cast<int>(q.Take(3, 1400, 4, num_nodes, transmits_min).size());
    return sent;
  };
  EXPECT_EQ(sends(5, 12), 12) << "4 * ceil(log10(6)) = 4, raised to the floor";
  EXPECT_EQ(sends(50, 12), 12) << "8, raised";
  EXPECT_EQ(sends(5000, 12), 16) << "above the floor the limit is memberlist's";
}

TEST(BroadcastQueueTest, NewsAboutTheSameKeyReplacesOlder) {
  BroadcastQueue q;
  q.Queue("n1", "suspect n1");
  q.Queue("n2", "alive n2");
  q.Queue("n1", "alive n1 inc 2");
  EXPECT_EQ(q.size(), 2u);
  auto out = q.Take(3, 1400, 4, 5);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], "alive n1 inc 2");  // newest first
  EXPECT_EQ(out[1], "alive n2");
}

TEST(BroadcastQueueTest, LeastSentFirstAndRespectsTheByteLimit) {
  BroadcastQueue q;
  q.Queue("old", std::string(100, 'o'));
  q.Take(3, 1400, 4, 5);  // "old" sent once
  q.Queue("new", std::string(100, 'n'));
  auto out = q.Take(3, 103, 4, 5);  // room for one
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0][0], 'n');
  // Too big for the room: skipped, a smaller one behind it still goes.
  q.Queue("big", std::string(500, 'b'));
  q.Queue("small", std::string(10, 's'));
  out = q.Take(3, 200, 4, 5);
  for (const auto& m : out) EXPECT_NE(m[0], 'b');
  size_t bytes = 0;
  for (const auto& m : out) bytes += m.size() + 3;
  EXPECT_LE(bytes, 200u);
}

TEST(BroadcastQueueTest, BoundedQueueDropsTheMostSent) {
  BroadcastQueue q(/*max_queued=*/3);
  q.Queue("", "a");
  q.Take(3, 1400, 4, 5);
  q.Queue("", "b");
  q.Queue("", "c");
  q.Queue("", "d");
  EXPECT_EQ(q.size(), 3u);
  auto out = q.Take(3, 1400, 4, 5);
  for (const auto& m : out) EXPECT_NE(m, "a");
}

TEST(CompoundPacketTest, PackedMessagesParseAsOnePacket) {
  std::vector<std::string> msgs;
  for (int i = 0; i < 5; ++i) {
    proto::gossip::Message m;
    m.mutable_alive()->set_incarnation(i + 1);
    m.mutable_alive()->set_node("n" + std::to_string(i));
    msgs.push_back(m.SerializeAsString());
  }
  std::string packet = PackMessages(msgs);
  size_t expected = 0;
  for (const auto& m : msgs) expected += PackedSize(m.size());
  EXPECT_EQ(packet.size(), expected);
  proto::gossip::Packet p;
  ASSERT_TRUE(p.ParseFromString(packet));
  ASSERT_EQ(p.messages_size(), 5);
  EXPECT_EQ(p.messages(3).alive().node(), "n3");
  EXPECT_EQ(PackedSize(200), 203u);
  EXPECT_EQ(PackedSize(100), 102u);
}

}  // namespace
}  // namespace muster::gossip
