// The discrete-event simulator kernel: hosts any core Machine through the seam under a
// virtual clock. One seeded Rng makes every choice (latency, loss, sync delays, machine
// seeds), events at equal times run in insertion order, and time jumps to the next event,
// so a seed reproduces a run exactly. A rolling hash of every delivered input is the run's
// fingerprint; two runs of one seed must have the same fingerprint.
//
// Faults it can inject (the fault model): message loss, duplication, delay/reordering,
// partitions of every shape (network.h); node kill with loss of unsynced writes (optionally
// torn), restart from durable storage, wipe; pause (a stalled process: inputs queue).
//
// Broken streams (core/seam/README.md): when a node is killed, every node that sent to or
// received from it over a stream in that life gets StreamBrokenInput for its address, after
// the link's mean delay, unless a partition blocks the way back (silence, not a reset); a
// stream send to a node that is down gets one (connection refused, `unsent`) after the round
// trip, once per peer until it is delivered. Neither draws from the Rng.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "core/base/log.h"
#include "core/base/rng.h"
#include "core/seam/machine.h"
#include "sim/disk.h"
#include "sim/effect_executor.h"
#include "sim/network.h"

namespace muster::sim {

struct DiskConfig {
  Duration sync_latency_min = absl::Microseconds(100);
  Duration sync_latency_max = absl::Microseconds(2000);
};

struct NodeStats {
  uint64_t messages_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t messages_received = 0;
  uint64_t bytes_received = 0;
};

// What the network did to the messages sent, so a swarm can show each fault really
// happened (not only that its probability was set).
struct NetworkStats {
  uint64_t sent = 0;
  uint64_t lost = 0;         // dropped by LinkConfig::loss
  uint64_t blocked = 0;      // dropped by a partition
  uint64_t duplicated = 0;   // delivered twice
  uint64_t reordered = 0;    // a datagram due to arrive before one sent earlier on its link
};

class Simulator {
 public:
  explicit Simulator(uint64_t seed);
  ~Simulator();

  uint64_t seed() const { return seed_; }
  Time now() const { return now_; }
  Rng& rng() { return rng_; }
  Network& network() { return network_; }
  void set_disk_config(const DiskConfig& config) { disk_config_ = config; }
  // Logs from every machine go here (may be null); the simulator adds nothing of its own.
  void set_log_sink(LogSink* sink) { log_sink_ = sink; }

  // Adds and starts a node. Ids count from 1; the address defaults to "n<id>".
  NodeId AddNode(MachineFactory factory, Address address = "");
  // A node with several endpoints (core/seam/channel.h), each reached at its own address
  // ("n1:8300", ...): a message sent to one arrives on that endpoint, from the address of the
  // endpoint it left. `address` is the kLan endpoint's (endpoints[kLan] is overwritten).
  NodeId AddNode(MachineFactory factory, Address address, std::array<Address, kEndpointCount> endpoints);
  // Crash: the machine is destroyed, its unsynced writes are lost (torn if asked), and
  // messages in flight to it are dropped on arrival.
  void Kill(NodeId node, bool torn_write = false);
  // Starts a new machine from the node's durable storage.
  void Restart(NodeId node);
  // Kill, wipe the disk, restart: a node that lost its data.
  void RestartWiped(NodeId node);
  // The node handles no inputs for `how_long`; what arrives meanwhile waits, then runs.
  void Pause(NodeId node, Duration how_long);
  // Clock skew: the node's clock reads virtual time + `offset` (inputs' `now`, its start time)
  // and its wake-ups are asked in that clock. Within one life the clock never runs backwards
  // (the fault model excludes it), so a smaller offset takes effect at the next restart; a
  // larger one is a forward step at once.
  void SetClockOffset(NodeId node, Duration offset);
  Duration ClockOffset(NodeId node) const;
  bool IsUp(NodeId node) const;
  Machine* machine(NodeId node);  // null while down
  Disk& disk(NodeId node);
  const NodeStats& stats(NodeId node) const;
  const NetworkStats& network_stats() const { return network_stats_; }
  std::vector<NodeId> nodes() const;  // ascending
  NodeId NodeAt(const Address& address) const;  // invalid NodeId if unknown
  const Address& AddressOf(NodeId node) const;

  // A client request to `node`; `on_response` runs when the node answers (never, if it
  // crashes first). Returns the request id.
  using ResponseHandler = std::function<void(const Response&)>;
  uint64_t Request(NodeId node, std::string method, std::string body, ResponseHandler on_response);

  // Processes and probes started by machines (every ProcessStart kind): the runner decides
  // the outcome (default: HealthyEnd) and the simulator delivers it after `delay`, or after
  // the start's timeout when the outcome says it timed out (as a real host reports it).
  using ProcessRunner = std::function<ProcessExitedInput(NodeId, const ProcessStart&)>;
  void set_process_runner(ProcessRunner runner) { process_runner_ = std::move(runner); }
  void set_process_delay(Duration delay) { process_delay_ = delay; }
  // A healthy end of each kind, no output: exit 0 for a process or a TCP probe, status 200
  // for an HTTP probe (whose 0 would mean "no answer").
  static ProcessExitedInput HealthyEnd(const ProcessStart& start);

  // Called after every machine step, with the input and the effects it produced: where
  // invariant checkers hook in.
  using StepObserver = std::function<void(NodeId, const Input&, const Effects&)>;
  void set_step_observer(StepObserver observer) { observer_ = std::move(observer); }

  // Schedules a callback in virtual time (fault schedules, workload).
  void At(Time when, std::function<void()> fn);
  void After(Duration delay, std::function<void()> fn) { At(now_ + delay, std::move(fn)); }

  // Runs one event; false when the queue is empty.
  bool Step();
  void RunUntil(Time deadline);
  void RunFor(Duration how_long) { RunUntil(now_ + how_long); }
  // Runs until `done()` holds (checked after each event) or `budget` of virtual time
  // passes; true if it held.
  bool RunUntil(const std::function<bool()>& done, Duration budget);

  uint64_t fingerprint() const { return fingerprint_; }
  uint64_t events_processed() const { return events_processed_; }

 private:
  struct Node;
  // What an event does: a callback (fault schedules, the workload, stream resets), or one of
  // the kernel's own deliveries, which are most events (a message's arrival, a wake-up, a
  // sync's end) and are kept as data: no std::function built, allocated and freed for each.
  struct Action {
    enum class Kind : uint8_t { kCall, kDeliver, kWake, kSynced };
    Kind kind = Kind::kCall;
    NodeId node;
    uint64_t generation = 0;  // the node's life it was scheduled for
    uint64_t value = 0;       // kWake: the wake token; kSynced: the write id
    InputEvent input;         // kDeliver
    std::function<void()> fn;  // kCall
  };
  // The heap holds only the order; the action waits in `actions_[slot]` (slots are reused).
  struct Event {
    Time when;
    uint64_t seq = 0;  // insertion order breaks ties, so equal times run deterministically
    uint32_t slot = 0;
  };
  // Min-heap order for std::push_heap / pop_heap: the earliest (when, seq) on top.
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.when != b.when ? a.when > b.when : a.seq > b.seq;
    }
  };

  void Schedule(Time when, std::function<void()> fn);
  // `input` reaches `node` at `when` if it is still in life `generation` (else dropped).
  void ScheduleDelivery(Time when, NodeId node, uint64_t generation, InputEvent input);
  // A wake-up (value: its token) or a sync's end (value: the write id).
  void ScheduleNodeEvent(Time when, Action::Kind kind, NodeId node, uint64_t generation, uint64_t value);
  uint32_t TakeSlot(Time when);
  void Push(Time when, uint32_t slot);
  void Run(uint32_t slot);
  void Deliver(NodeId node, uint64_t generation, Input input);
  void RunStep(Node& node, const Input& input);
  EffectExecutor::Sinks Sinks(Node& node);
  void Execute(Node& node, Effects effects);
  void SendNow(Node& node, OutboundMessage message);
  void Respond(Node& node, Response response);
  void Resume(NodeId node, uint64_t generation);
  void OnSynced(NodeId node, uint64_t generation, uint64_t write_id);
  void ArmWake(Node& node, Time when);
  void StartMachine(Node& node);
  void BreakStreamsTo(NodeId killed);
  void RefuseStream(Node& from, NodeId to, const OutboundMessage& message);
  void Fold(uint64_t value);

  uint64_t seed_;
  Rng rng_;
  Time now_;
  Network network_;
  DiskConfig disk_config_;
  LogSink* log_sink_ = nullptr;
  ProcessRunner process_runner_;
  Duration process_delay_ = absl::Milliseconds(10);
  StepObserver observer_;
  std::vector<std::unique_ptr<Node>> nodes_;  // index = id - 1
  absl::flat_hash_map<Address, std::pair<NodeId, Endpoint>> by_address_;
  std::vector<Event> queue_;  // a binary heap ordered by Later
  std::vector<Action> actions_;  // by slot; the free ones are listed in free_slots_
  std::vector<uint32_t> free_slots_;
  struct PendingRequest {
    NodeId node;
    ResponseHandler handler;
  };
  absl::btree_map<uint64_t, PendingRequest> pending_requests_;
  uint64_t next_event_seq_ = 0;
  uint64_t next_request_id_ = 1;
  uint64_t fingerprint_ = 0;
  uint64_t events_processed_ = 0;
  NetworkStats network_stats_;
};

}  // namespace muster::sim
