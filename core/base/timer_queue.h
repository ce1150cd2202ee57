// The one timer mechanism of every core component (raft, gossip, the agent's duties):
// callbacks keyed by (due time, insertion order), run when the host ticks the machine at or
// after their time. The earliest due time is the component's wake-up, which it requests
// through its batch (core/seam/effects.h rule 4). Deterministic: equal times run in the order
// they were added. Never reads a clock: `now` comes from the input being handled.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "absl/container/btree_map.h"
#include "core/base/check.h"
#include "core/base/time.h"

namespace muster {

class TimerQueue {
 public:
  using Fn = std::function<void()>;

  uint64_t Add(Time at, Fn fn) {
    uint64_t id = next_id_++;
    timers_.emplace(std::make_pair(at, id), std::move(fn));
    due_.emplace(id, at);
    MUSTER_CHECK_LE(timers_.size(), kTimersMax, "timer leak");
    return id;
  }
  // Cancelling an unknown or already-run timer is a no-op.
  void Cancel(uint64_t id) {
    auto it = due_.find(id);
    if (it == due_.end()) return;
    timers_.erase(std::make_pair(it->second, id));
    due_.erase(it);
  }
  std::optional<Time> Next() const {
    if (timers_.empty()) return std::nullopt;
    return timers_.begin()->first.first;
  }
  // Runs every timer due at `now`, including ones added by callbacks for times <= now.
  void RunDue(Time now) {
    for (int guard = 0; !timers_.empty() && timers_.begin()->first.first <= now; ++guard) {
      MUSTER_CHECK_LT(guard, 1'000'000, "timer storm");
      auto it = timers_.begin();
      Fn fn = std::move(it->second);
      due_.erase(it->first.second);
      timers_.erase(it);
      fn();
    }
  }
  // Moves a timer: cancels `*id` (if still pending) and adds `fn` at `at`, storing the new id.
  // For deadlines that are pushed back often (an election timeout reset by each heartbeat).
  void Reset(uint64_t* id, Time at, Fn fn) {
    Cancel(*id);
    *id = Add(at, std::move(fn));
  }
  bool pending(uint64_t id) const { return due_.contains(id); }
  void Clear() {
    timers_.clear();
    due_.clear();
  }
  size_t size() const { return timers_.size(); }

 private:
  static constexpr size_t kTimersMax = 1'000'000;
  uint64_t next_id_ = 1;
  absl::btree_map<std::pair<Time, uint64_t>, Fn> timers_;
  absl::btree_map<uint64_t, Time> due_;
};

}  // namespace muster
