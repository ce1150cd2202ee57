// The host's queue of inputs waiting for the machine, bounded. Messages from the network (and
// broken streams, one per connection) are the only inputs a stranger controls the rate of, so past kInboxMessagesMax a new message is
// dropped and counted (datagram semantics; raft and gossip resend what matters). The machine's
// own inputs (ticks, durable writes, process exits) are never dropped: their number follows
// the machine's own effects. Requests are refused by the caller once the inbox is full, so each
// still gets exactly one answer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <variant>

#include "core/base/check.h"
#include "core/seam/input.h"

namespace muster::io {

inline constexpr size_t kInboxMessagesMax = 65536;

class Inbox {
 public:
  static bool FromNetwork(const InputEvent& e) {
    return std::holds_alternative<MessageInput>(e) || std::holds_alternative<StreamBrokenInput>(e);
  }
  // False (and the input dropped) for a message past the bound.
  bool Push(InputEvent event) {
    if (FromNetwork(event) && messages_ >= kInboxMessagesMax) {
      ++messages_dropped_;
      return false;
    }
    if (FromNetwork(event)) ++messages_;
    events_.push_back(std::move(event));
    return true;
  }
  InputEvent Pop() {
    MUSTER_CHECK(!events_.empty());
    InputEvent e = std::move(events_.front());
    events_.pop_front();
    if (FromNetwork(e)) --messages_;
    return e;
  }
  bool full() const { return messages_ >= kInboxMessagesMax; }
  bool empty() const { return events_.empty(); }
  size_t size() const { return events_.size(); }
  void clear() {
    events_.clear();
    messages_ = 0;
  }
  uint64_t messages_dropped() const { return messages_dropped_; }

 private:
  std::deque<InputEvent> events_;
  size_t messages_ = 0;
  uint64_t messages_dropped_ = 0;
};

}  // namespace muster::io
