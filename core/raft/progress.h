// What a leader knows about one follower's log, and the flow control of what it sends
// (etcd's Progress and Inflights): Probe sends one message and waits for the answer;
// Replicate pipelines optimistically within limits on messages and bytes in flight;
// Snapshot streams an InstallSnapshot in chunks and sends no entries meanwhile.
#pragma once

#include <cstdint>
#include <deque>
#include <string_view>

#include "core/base/check.h"
#include "core/base/time.h"

namespace muster::raft {

class Inflights {
 public:
  Inflights(size_t count_max, uint64_t bytes_max) : count_max_(count_max), bytes_max_(bytes_max) {}
  bool Full() const { return items_.size() >= count_max_ || bytes_ >= bytes_max_; }
  void Add(uint64_t last_index, uint64_t bytes) {
    MUSTER_CHECK(items_.empty() || items_.back().last_index < last_index, "inflights out of order");
    MUSTER_CHECK(!Full(), "adding to full inflights");
    items_.push_back({last_index, bytes});
    bytes_ += bytes;
  }
  // Frees every message whose last index is <= `index` (they were acknowledged).
  void FreeLE(uint64_t index) {
    while (!items_.empty() && items_.front().last_index <= index) {
      bytes_ -= items_.front().bytes;
      items_.pop_front();
    }
  }
  void Reset() {
    items_.clear();
    bytes_ = 0;
  }
  size_t count() const { return items_.size(); }
  uint64_t bytes() const { return bytes_; }

 private:
  struct Item {
    uint64_t last_index;
    uint64_t bytes;
  };
  size_t count_max_;
  uint64_t bytes_max_;
  std::deque<Item> items_;
  uint64_t bytes_ = 0;
};

struct Progress {
  enum class State { kProbe, kReplicate, kSnapshot };

  Progress(uint64_t next_index, size_t inflight_count_max, uint64_t inflight_bytes_max)
      : next(next_index), inflights(inflight_count_max, inflight_bytes_max) {}

  uint64_t match = 0;
  uint64_t next = 1;
  State state = State::kProbe;
  bool probe_sent = false;       // kProbe: one message is out, wait for its answer
  Inflights inflights;
  bool recent_active = false;    // heard from within the current check-quorum window
  bool voter = true;
  uint64_t acked_round = 0;      // highest heartbeat round acknowledged
  uint64_t commit_sent = 0;      // highest commit index sent to this peer
  Time last_progress;            // when `match` last advanced (or the state last changed)
  // When the leader last heard from this peer in its term (autopilot's LastContact); the
  // leader's start for a peer it has not heard from yet.
  Time last_contact;
  uint64_t snap_index = 0;       // kSnapshot: which snapshot is being sent
  uint64_t snap_offset = 0;      // kSnapshot: offset of the chunk in flight
  uint64_t snap_seq = 0;         // kSnapshot: sequence number of the chunk in flight
  Time snap_sent;                // kSnapshot: when the chunk in flight was last sent

  bool Paused() const {
    switch (state) {
      case State::kProbe: return probe_sent;
      case State::kReplicate: return inflights.Full();
      case State::kSnapshot: return true;
    }
    return true;
  }

  void BecomeProbe(Time now) {
    // After a snapshot the follower has at least the snapshot's index.
    if (state == State::kSnapshot) {
      next = std::max(match + 1, snap_index + 1);
    } else {
      next = match + 1;
    }
    state = State::kProbe;
    probe_sent = false;
    inflights.Reset();
    last_progress = now;
  }
  void BecomeReplicate(Time now) {
    state = State::kReplicate;
    next = match + 1;
    probe_sent = false;
    inflights.Reset();
    last_progress = now;
  }
  void BecomeSnapshot(uint64_t index, Time now) {
    state = State::kSnapshot;
    snap_index = index;
    snap_offset = 0;
    probe_sent = false;
    inflights.Reset();
    last_progress = now;
  }

  // An acknowledgement that the follower's log matches through `index`. True if news.
  bool MaybeUpdate(uint64_t index, Time now) {
    bool updated = false;
    if (index > match) {
      match = index;
      updated = true;
      probe_sent = false;
      last_progress = now;
    }
    next = std::max(next, index + 1);
    return updated;
  }

  // A rejection of the append whose preceding index was `rejected`; `hint` is where the
  // leader's log and the follower's may last agree. False if the rejection is stale.
  bool MaybeDecrTo(uint64_t rejected, uint64_t hint) {
    if (state == State::kReplicate) {
      if (rejected <= match) return false;  // stale: an older message's answer
      next = std::max(match + 1, std::min(rejected, hint + 1));
      return true;
    }
    if (next - 1 != rejected) return false;  // stale in probe: not our last probe's answer
    next = std::max(match + 1, std::min(rejected, hint + 1));
    probe_sent = false;
    return true;
  }
};

inline std::string_view StateName(Progress::State s) {
  switch (s) {
    case Progress::State::kProbe: return "probe";
    case Progress::State::kReplicate: return "replicate";
    case Progress::State::kSnapshot: return "snapshot";
  }
  return "?";
}

}  // namespace muster::raft
