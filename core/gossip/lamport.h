// A Lamport clock: Serf orders member intents, user events and queries with one each.
// Witnessing a remote time moves the clock past it, so an event created after seeing
// another always carries a larger time.
#pragma once

#include <cstdint>

namespace muster::gossip {

class LamportClock {
 public:
  uint64_t Time() const { return counter_; }
  // Returns the new time (the first value is 1).
  uint64_t Increment() { return ++counter_; }
  // Seeing remote time v: counter = max(counter, v + 1), so the next local time is
  // ordered after v.
  void Witness(uint64_t v) {
    if (v + 1 > counter_) counter_ = v + 1;
  }

 private:
  uint64_t counter_ = 0;
};

}  // namespace muster::gossip
