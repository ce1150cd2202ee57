// The host's inbox is bounded for what strangers send, never for the machine's own inputs.
#include "io/inbox.h"

#include "gtest/gtest.h"

namespace muster::io {
namespace {

TEST(InboxTest, MessagesPastTheBoundAreDroppedAndCounted) {
  Inbox inbox;
  for (size_t i = 0; i < kInboxMessagesMax + 10; ++i) inbox.Push(MessageInput{"n2", Channel::kDatagram, "x"});
  EXPECT_EQ(inbox.size(), kInboxMessagesMax);
  EXPECT_EQ(inbox.messages_dropped(), 10u);
  EXPECT_TRUE(inbox.full());
}

TEST(InboxTest, TheMachinesOwnInputsAreNeverDropped) {
  Inbox inbox;
  for (size_t i = 0; i < kInboxMessagesMax; ++i) inbox.Push(MessageInput{"n2", Channel::kDatagram, "x"});
  EXPECT_TRUE(inbox.Push(WriteDurableInput{7}));
  EXPECT_TRUE(inbox.Push(TickInput{}));
  EXPECT_TRUE(inbox.Push(ProcessExitedInput{3, 0, false, ""}));
  EXPECT_EQ(inbox.size(), kInboxMessagesMax + 3);
}

TEST(InboxTest, ReadingMakesRoomAgain) {
  Inbox inbox;
  for (size_t i = 0; i < kInboxMessagesMax; ++i) inbox.Push(MessageInput{"n2", Channel::kDatagram, "x"});
  EXPECT_FALSE(inbox.Push(MessageInput{"n2", Channel::kDatagram, "y"}));
  inbox.Pop();
  EXPECT_FALSE(inbox.full());
  EXPECT_TRUE(inbox.Push(MessageInput{"n2", Channel::kDatagram, "z"}));
}

}  // namespace
}  // namespace muster::io
