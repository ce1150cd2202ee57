#include "core/gossip/broadcast_queue.h"

#include <algorithm>
#include <cstdint>

#include "core/base/check.h"
#include "core/base/portable_math.h"

namespace muster::gossip {

int RetransmitLimit(int retransmit_mult, int num_nodes) {
  // ceil(log10(num_nodes + 1)), memberlist's retransmitLimit, in integers.
  int scale = DecimalDigits(static_cast<uint64_t>(std::max(0, num_nodes)));
  return retransmit_mult * scale;
}

void BroadcastQueue::Queue(std::string key, std::string message) {
  if (!key.empty()) {
    auto it = by_key_.find(key);
    if (it != by_key_.end()) Remove(it->second);
  }
  OrderKey k{0, next_id_++};
  smallest_message_bytes_ = std::min(smallest_message_bytes_, message.size());
  if (!key.empty()) by_key_[key] = k;
  order_.emplace(k, Item{std::move(key), std::move(message), 0, k.id});
  while (order_.size() > max_queued_) Remove(std::prev(order_.end())->first);
  MUSTER_CHECK_LE(order_.size(), max_queued_);
}

void BroadcastQueue::Remove(const OrderKey& k) {
  auto it = order_.find(k);
  MUSTER_CHECK(it != order_.end());
  if (!it->second.key.empty()) {
    auto kit = by_key_.find(it->second.key);
    if (kit != by_key_.end() && kit->second.id == k.id) by_key_.erase(kit);
  }
  order_.erase(it);
}

void BroadcastQueue::Forget(const std::string& key) {
  auto it = by_key_.find(key);
  if (it != by_key_.end()) Remove(it->second);
}

std::vector<std::string> BroadcastQueue::Take(size_t overhead_per_message, size_t bytes_max,
                                              int retransmit_mult, int num_nodes, int transmits_min) {
  std::vector<std::string> out;
  if (order_.empty()) return out;
  const int limit = std::max({1, transmits_min, RetransmitLimit(retransmit_mult, num_nodes)});
  size_t used = 0;
  std::vector<Item> taken;
  for (auto it = order_.begin(); it != order_.end();) {
    // Nothing queued can fit into what is left: stop scanning (a long queue would
    // otherwise be walked in full on every send).
    if (bytes_max - used < overhead_per_message + smallest_message_bytes_) break;
    size_t cost = overhead_per_message + it->second.message.size();
    if (used + cost > bytes_max) {
      ++it;
      continue;
    }
    used += cost;
    Item item = std::move(it->second);
    it = order_.erase(it);
    item.transmits++;
    if (item.transmits < limit) {
      out.push_back(item.message);
      taken.push_back(std::move(item));
    } else {
      if (!item.key.empty()) by_key_.erase(item.key);
      out.push_back(std::move(item.message));
    }
  }
  // Re-insert with the new transmit counts (ids keep their age); the by-key index is
  // updated in place.
  for (Item& item : taken) {
    OrderKey k{item.transmits, item.id};
    if (!item.key.empty()) {
      auto kit = by_key_.find(item.key);
      MUSTER_CHECK(kit != by_key_.end() && kit->second.id == item.id);
      kit->second = k;
    }
    order_.emplace(k, std::move(item));
  }
  MUSTER_CHECK_LE(used, bytes_max);
  return out;
}

}  // namespace muster::gossip
