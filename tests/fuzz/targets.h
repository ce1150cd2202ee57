// The decoders the randomized tests feed: every byte string that can arrive from another
// agent or a client. Each target owns a live victim (a machine that has state, not a bare
// parser), a corpus of real encodings captured from a simulated cluster or built by the
// code's own builders, and a bound check for growth.
//
//   gossip     a Serf node (memberlist packets, push-pull streams, serf messages inside)
//   raft       a raft server (KvMachine): every raft message over datagram and stream
//   state      the state FSM: log commands, as a leader would apply them
//   snapshot   the state FSM's snapshot restore
//   frame      io/'s framing of datagrams and stream frames, and the Envelope message
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace muster::fuzz {

class FuzzTarget {
 public:
  virtual ~FuzzTarget() = default;
  virtual std::string name() const = 0;
  virtual const std::vector<std::string>& corpus() const = 0;
  // Feeds one input. A crash or a failed MUSTER_CHECK aborts the process: that is the bug.
  virtual void RunOne(std::string_view input) = 0;
  // Empty if the victim's state is within its bounds; otherwise what grew.
  virtual std::string CheckBounds() const = 0;
  // A fresh victim (the corpus stays), so one run explores many lives.
  virtual void Reset() = 0;
  // Inputs the victim answered (sent a message for) over every life: shows the corpus gets
  // past the parsers into the protocol. 0 for targets without messages.
  virtual uint64_t inputs_answered() const { return 0; }
  // A line on the current victim's state (members known, log length), to see inputs land.
  virtual std::string Describe() const { return ""; }
};

std::unique_ptr<FuzzTarget> MakeGossipTarget(uint64_t seed);
std::unique_ptr<FuzzTarget> MakeRaftTarget(uint64_t seed);
std::unique_ptr<FuzzTarget> MakeStateTarget(uint64_t seed);
std::unique_ptr<FuzzTarget> MakeSnapshotTarget(uint64_t seed);
std::unique_ptr<FuzzTarget> MakeFrameTarget(uint64_t seed);

std::vector<std::string> TargetNames();
std::unique_ptr<FuzzTarget> MakeTarget(std::string_view name, uint64_t seed);  // null if unknown

// Resident memory of this process, from /proc/self/statm (0 where unavailable).
size_t ResidentBytes();

}  // namespace muster::fuzz
