#include "core/testing/batch_printer.h"

#include "gtest/gtest.h"

namespace muster::script {
namespace {

TEST(FormatBatch, AnEmptyBatchPrintsNothing) { EXPECT_EQ(FormatBatch(Effects{}), ""); }

TEST(FormatBatch, EveryEffectWithItsDurabilityGate) {
  Effects e;
  StorageWrite w;
  w.id = 3;
  w.sync = true;
  w.Put("hard", "12345");
  w.Delete(std::string("l/\x01", 3));
  w.DeleteRange("a", "");
  e.writes.push_back(w);
  e.writes.push_back(StorageWrite{.id = 4, .ops = {}, .sync = false});
  e.messages.push_back(OutboundMessage{"n2", Channel::kStream, "vote", 3});
  e.messages.push_back(OutboundMessage{"b", Channel::kDatagram, "ping!", 0});
  e.responses.push_back(Response{7, absl::OkStatus(), "body", 3});
  e.responses.push_back(Response{8, absl::UnavailableError("leadership lost"), "", 0});
  e.events.push_back(Event{"member-join", "a"});
  e.WakeAt(SimEpoch() + absl::Milliseconds(1500));
  EXPECT_EQ(FormatBatch(e),
            "write 3 sync: put hard (5 B); delete l/\\x01; delete-range [a, end)\n"
            "write 4\n"
            "message to n2 stream 4 B after_write_id=3\n"
            "message to b datagram 5 B after_write_id=0\n"
            "response 7 OK after_write_id=3: 4 B\n"
            "response 8 UNAVAILABLE: leadership lost after_write_id=0: 0 B\n"
            "event member-join: a\n"
            "wake_at +1.5s");
}

TEST(FormatBatch, MachinesDescribeTheirOwnKeysAndPayloads) {
  Effects e;
  StorageWrite w;
  w.id = 1;
  w.Put("k", "v");
  e.writes.push_back(w);
  e.messages.push_back(OutboundMessage{"n1", Channel::kStream, "xy", 1});
  e.WakeAt(SimEpoch());
  BatchFormat f;
  f.describe_key = [](const std::string& key) { return "key:" + key; };
  f.describe_message = [](const OutboundMessage& m) { return "says " + m.payload; };
  f.show_wake_at = false;
  EXPECT_EQ(FormatBatch(e, f), "write 1: put key:k (1 B)\nmessage to n1 stream 2 B after_write_id=1: says xy");
}

TEST(FormatNodeBatch, IndentsTheBatchUnderTheNode) {
  Effects e;
  EXPECT_EQ(FormatNodeBatch("n1", e), "");
  e.messages.push_back(OutboundMessage{"n2", Channel::kStream, "x", 2});
  e.WakeAt(SimEpoch() + absl::Seconds(1));
  EXPECT_EQ(FormatNodeBatch("n1", e), "n1 batch:\n  message to n2 stream 1 B after_write_id=2\n  wake_at +1s");
}

}  // namespace
}  // namespace muster::script
