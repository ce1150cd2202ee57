// Carries out one machine's Effects by the seam's rules (core/seam/effects.h): the one
// implementation of rules 1-4 for every host but io/. The Simulator runs one per node, and
// hand-driven test clusters and script drivers (tests/raft, tests/gossip) run the same, so a
// rule changes here and in io/host.cc only.
//  - rule 1: writes go to the node's Disk in issue order, with ids that increase within a
//    life; a sync write is handed to the host's `sync` sink, which calls Synced(id) when it is
//    durable (in issue order: a later sync never completes first); Synced makes that write
//    and every earlier one durable.
//  - rule 2: a message or response gated on a write leaves when the write is durable, and
//    nothing overtakes a gated one (the host's outgoing queue is ordered).
//  - rule 3: the Disk's reads see every issued write; a crash loses what was not durable.
//  - rule 4: the latest wake-up request is kept for the host to arm.
//  - the datagram limit (core/seam/channel.h) holds for every machine: an oversized
//    datagram is a broken machine, whatever host runs it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>

#include "core/base/node_id.h"
#include "core/base/rng.h"
#include "core/seam/effects.h"
#include "sim/disk.h"

namespace muster::sim {

class EffectExecutor {
 public:
  // Where each effect goes once the rules let it. Empty sinks drop what they would carry
  // (a script driver with no processes).
  struct Sinks {
    std::function<void(OutboundMessage)> send;
    std::function<void(Response)> respond;
    std::function<void(const ProcessStart&)> start_process;
    // A sync write was issued: the host decides when it is durable and then calls Synced.
    std::function<void(uint64_t write_id)> sync;
  };

  EffectExecutor(NodeId node, Sinks sinks) : node_(node), sinks_(std::move(sinks)) {}

  // Carries out a batch: writes, then messages, processes, responses, the wake-up.
  void Execute(Effects effects);
  // The host synced through `write_id`: durable now, and what waited on it leaves.
  void Synced(uint64_t write_id);
  // Syncs every issued write at once (test clusters' "persist"); returns the last sync
  // write's id (0 if none), for the WriteDurableInput the host then delivers.
  uint64_t SyncAll();
  // Power loss: unsynced writes are lost (a torn prefix of the oldest kept with `torn`),
  // gated messages and responses are gone, and a new life starts (ids may start over).
  void Crash(Rng& rng, bool torn);
  // Reboot with the data deleted.
  void Wipe();

  Disk& disk() { return disk_; }
  const Disk& disk() const { return disk_; }
  uint64_t durable_through() const { return durable_through_; }
  size_t gated() const { return gated_messages_.size() + gated_responses_.size(); }
  // The wake-up the machine asked for last (rule 4), if any; the host clears it when armed.
  std::optional<Time> TakeWake() {
    std::optional<Time> w = wake_at_;
    wake_at_.reset();
    return w;
  }

 private:
  void Release();

  NodeId node_;
  Sinks sinks_;
  Disk disk_;
  uint64_t last_write_id_ = 0;  // within this life
  uint64_t last_sync_id_ = 0;   // the last sync write issued
  uint64_t durable_through_ = 0;
  std::deque<OutboundMessage> gated_messages_;  // waiting on after_write_id
  std::deque<Response> gated_responses_;
  std::optional<Time> wake_at_;
};

}  // namespace muster::sim
