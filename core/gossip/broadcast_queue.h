// The retransmit-limited broadcast queue that disseminates updates by piggybacking them on
// probes and gossip. Each update goes out about retransmit_mult * ceil(log10(N + 1))
// times, least-sent first (newest first among equals), so fresh news travels first and
// stale news stops costing bytes. A new update about the same key (a member's name)
// replaces the queued one: only the latest word on a member is worth sending.
// Bounded: holds at most `max_queued` updates, dropping the most-sent ones beyond that.
#pragma once

#include <cstdint>
#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"

namespace muster::gossip {

int RetransmitLimit(int retransmit_mult, int num_nodes);

class BroadcastQueue {
 public:
  explicit BroadcastQueue(size_t max_queued = 4096) : max_queued_(max_queued) {}

  // `key` empty: never replaced (user events are each their own news).
  void Queue(std::string key, std::string message);
  // Takes messages while `overhead_per_message + size` fits into the remaining `bytes_max`,
  // counting one transmission each; drops those that reached the limit for `num_nodes`
  // (RetransmitLimit, but never fewer than `transmits_min`).
  std::vector<std::string> Take(size_t overhead_per_message, size_t bytes_max, int retransmit_mult,
                                int num_nodes, int transmits_min = 1);
  size_t size() const { return order_.size(); }
  bool empty() const { return order_.empty(); }
  // Drops everything about `key` (e.g., a member that was forgotten).
  void Forget(const std::string& key);

 private:
  struct Item {
    std::string key;
    std::string message;
    int transmits = 0;
    uint64_t id = 0;
  };
  // Order: fewest transmits first, then newest (highest id) first.
  struct OrderKey {
    int transmits;
    uint64_t id;
    bool operator<(const OrderKey& o) const {
      if (transmits != o.transmits) return transmits < o.transmits;
      return id > o.id;
    }
  };
  void Remove(const OrderKey& k);

  size_t max_queued_;
  uint64_t next_id_ = 1;
  // No message ever queued was smaller (a lower bound on what is queued now).
  size_t smallest_message_bytes_ = SIZE_MAX;
  absl::btree_map<OrderKey, Item> order_;
  absl::btree_map<std::string, OrderKey> by_key_;
};

}  // namespace muster::gossip
