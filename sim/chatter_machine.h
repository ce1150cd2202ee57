// A small machine for testing the simulator itself: every `period` it sends a numbered
// datagram (or stream message) to each peer, persists its counter, and records what it
// receives. It exercises every kind of effect the seam has, so kernel tests and the
// events-per-second benchmark run real traffic without depending on raft or gossip.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/rng.h"
#include "core/seam/machine.h"

namespace muster::sim {

struct ChatterConfig {
  std::vector<Address> peers;
  Duration period = absl::Milliseconds(10);
  Channel channel = Channel::kDatagram;
  // Each message waits until the counter that names it is durable (tests seam rule 2).
  bool persist_before_send = false;
  uint64_t messages_max = UINT64_MAX;  // stop after sending this many rounds
};

class ChatterMachine final : public Machine {
 public:
  struct Received {
    Address from;
    uint64_t seq;
    Time at;
  };

  ChatterMachine(const MachineContext& ctx, ChatterConfig config);
  void Step(const Input& input, Effects* out) override;

  uint64_t sent_rounds() const { return seq_; }
  uint64_t recovered_seq() const { return recovered_seq_; }
  const std::vector<Received>& received() const { return received_; }
  const std::vector<uint64_t>& durable_acks() const { return durable_acks_; }
  uint64_t requests_served() const { return requests_served_; }

  static MachineFactory Factory(ChatterConfig config, std::vector<ChatterMachine*>* live = nullptr);

 private:
  void SendRound(Time now, Effects* out);

  MachineContext ctx_;
  ChatterConfig config_;
  Rng rng_;
  uint64_t seq_ = 0;
  uint64_t recovered_seq_ = 0;
  uint64_t next_write_id_ = 1;
  Time next_send_;
  std::vector<Received> received_;
  std::vector<uint64_t> durable_acks_;
  uint64_t requests_served_ = 0;
};

}  // namespace muster::sim
