#include "sim/simulator.h"

#include <algorithm>
#include <cstring>
#include <deque>

#include "core/base/check.h"
#include "core/base/hash.h"
#include "absl/container/btree_set.h"

namespace muster::sim {

// Everything the simulator keeps about one node across its crashes and restarts.
struct Simulator::Node {
  NodeId id;
  Address address;
  // Each endpoint's address (kLan's is `address`), "" for one the node does not open.
  std::array<Address, kEndpointCount> endpoints;
  MachineFactory factory;
  std::unique_ptr<Machine> machine;
  // Carries out the machine's effects by the seam's rules; holds the disk (across lives).
  std::unique_ptr<EffectExecutor> executor;
  NodeStats stats;
  bool up = false;
  // Bumped on every kill: events scheduled for an earlier life are dropped on arrival.
  uint64_t generation = 0;
  uint64_t incarnation = 0;

  // Sync writes complete in issue order: the latest completion time scheduled.
  Time last_sync_done;

  // Timer: only the newest armed wake-up counts.
  std::optional<Time> wake_at;
  uint64_t wake_token = 0;

  // Clock skew (SetClockOffset): local time = virtual time + clock_offset.
  Duration clock_offset;
  Duration next_clock_offset;  // applied at the next start when smaller than the current one

  // Pause: inputs that arrive while paused run, in order, when it ends.
  Time paused_until;
  std::deque<Input> paused_inputs;

  // Streams are ordered per connection: no message overtakes an earlier one.
  absl::flat_hash_map<NodeId, Time> last_stream_arrival;
  // Datagrams may overtake: the latest arrival scheduled per destination, to count them.
  absl::flat_hash_map<NodeId, Time> last_datagram_arrival;

  // Streams of this life, as (our endpoint, the peer's address): the ones we sent on or
  // received from, told StreamBroken when that peer is killed. At most one per peer endpoint,
  // so bounded by the addresses in the simulation.
  absl::btree_set<std::pair<Endpoint, Address>> streams;
  // Refused streams whose StreamBroken is on its way (one per connection attempt).
  absl::btree_set<std::pair<Endpoint, Address>> refusing;
};

Simulator::Simulator(uint64_t seed) : seed_(seed), rng_(seed), now_(SimEpoch()) {
  Fold(seed);
}

Simulator::~Simulator() = default;

void Simulator::Fold(uint64_t value) { fingerprint_ = HashCombine(fingerprint_, value); }

namespace {

// The bytes of what arrived, for the fingerprint: eight at a time (StableHash's one byte a
// multiply cost ~3% of a simulated agent run, whose messages are up to ~10 KB), the same in
// every run and process (fixed-width loads, no per-process seed; x86-64 and arm64 alike).
uint64_t PayloadHash(std::string_view bytes) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ bytes.size();
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    h = (h ^ word) * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
  return HashCombine(h, tail);
}

}  // namespace

void Simulator::Schedule(Time when, std::function<void()> fn) {
  const uint32_t slot = TakeSlot(when);
  actions_[slot].kind = Action::Kind::kCall;
  actions_[slot].fn = std::move(fn);
  Push(when, slot);
}

void Simulator::ScheduleDelivery(Time when, NodeId node, uint64_t generation, InputEvent input) {
  const uint32_t slot = TakeSlot(when);
  Action& a = actions_[slot];
  a.kind = Action::Kind::kDeliver;
  a.node = node;
  a.generation = generation;
  a.input = std::move(input);
  Push(when, slot);
}

void Simulator::ScheduleNodeEvent(Time when, Action::Kind kind, NodeId node, uint64_t generation, uint64_t value) {
  const uint32_t slot = TakeSlot(when);
  Action& a = actions_[slot];
  a.kind = kind;
  a.node = node;
  a.generation = generation;
  a.value = value;
  Push(when, slot);
}

void Simulator::At(Time when, std::function<void()> fn) { Schedule(std::max(when, now_), std::move(fn)); }

// Actions are filled in place in their slot (no Action built and moved for each event).
uint32_t Simulator::TakeSlot(Time when) {
  MUSTER_CHECK(when >= now_, "cannot schedule in the past");
  if (!free_slots_.empty()) {
    const uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  MUSTER_CHECK_LT(actions_.size(), uint64_t{1} << 32, "too many pending events");
  actions_.emplace_back();
  return static_cast<uint32_t>(actions_.size() - 1);
}

void Simulator::Push(Time when, uint32_t slot) {
  queue_.push_back(Event{when, next_event_seq_++, slot});
  std::push_heap(queue_.begin(), queue_.end(), Later());
}

// What the event in `slot` needs is taken out and the slot freed before it runs: what it
// runs may schedule more, into the slot it frees.
void Simulator::Run(uint32_t slot) {
  Action& a = actions_[slot];
  const NodeId node = a.node;
  const uint64_t generation = a.generation;
  const uint64_t value = a.value;
  switch (a.kind) {
    case Action::Kind::kCall: {
      std::function<void()> fn = std::move(a.fn);
      a.fn = nullptr;
      free_slots_.push_back(slot);
      fn();
      return;
    }
    case Action::Kind::kDeliver: {
      Input input{now_, std::move(a.input)};
      free_slots_.push_back(slot);
      Deliver(node, generation, std::move(input));
      return;
    }
    case Action::Kind::kWake: {
      free_slots_.push_back(slot);
      Node& n = *nodes_.at(node.value - 1);
      if (!n.up || n.generation != generation || n.wake_token != value) return;
      n.wake_at.reset();
      Deliver(node, generation, Input{now_, TickInput{}});
      return;
    }
    case Action::Kind::kSynced:
      free_slots_.push_back(slot);
      OnSynced(node, generation, value);
      return;
  }
}

NodeId Simulator::AddNode(MachineFactory factory, Address address) {
  return AddNode(std::move(factory), std::move(address), {});
}

NodeId Simulator::AddNode(MachineFactory factory, Address address, std::array<Address, kEndpointCount> endpoints) {
  auto node = std::make_unique<Node>();
  node->id = NodeId{nodes_.size() + 1};
  node->address = address.empty() ? ToString(node->id) : std::move(address);
  node->endpoints = std::move(endpoints);
  node->endpoints[static_cast<int>(Endpoint::kLan)] = node->address;
  node->factory = std::move(factory);
  node->last_sync_done = now_;
  node->paused_until = now_;
  node->executor = std::make_unique<EffectExecutor>(node->id, Sinks(*node));
  for (int e = 0; e < kEndpointCount; ++e) {
    const Address& a = node->endpoints[e];
    if (a.empty()) continue;
    MUSTER_CHECK(!by_address_.contains(a), "duplicate address ", a);
    by_address_[a] = {node->id, static_cast<Endpoint>(e)};
  }
  nodes_.push_back(std::move(node));
  StartMachine(*nodes_.back());
  return nodes_.back()->id;
}

void Simulator::StartMachine(Node& node) {
  MUSTER_CHECK(!node.up);
  MachineContext ctx;
  ctx.id = node.id;
  ctx.address = node.address;
  ctx.endpoints = node.endpoints;
  ctx.seed = rng_.Next();
  node.clock_offset = node.next_clock_offset;
  ctx.now = now_ + node.clock_offset;
  ctx.log = log_sink_;
  ctx.storage = &node.executor->disk();
  ctx.incarnation = node.incarnation++;
  node.machine = node.factory(ctx);
  MUSTER_CHECK(node.machine != nullptr, "factory returned no machine");
  node.up = true;
  node.last_sync_done = now_;
  node.paused_until = now_;
  node.wake_at.reset();
  // The first input of every life: let the machine arm its timers.
  RunStep(node, Input{now_ + node.clock_offset, TickInput{}});
}

void Simulator::Kill(NodeId id, bool torn_write) {
  Node& node = *nodes_.at(id.value - 1);
  if (!node.up) return;
  node.up = false;
  node.machine.reset();
  node.generation++;
  node.executor->Crash(rng_, torn_write);
  node.paused_inputs.clear();
  node.wake_at.reset();
  node.streams.clear();
  node.refusing.clear();
  BreakStreamsTo(id);
  node.last_stream_arrival.clear();
  node.last_datagram_arrival.clear();
  for (auto it = pending_requests_.begin(); it != pending_requests_.end();) {
    it = it->second.node == id ? pending_requests_.erase(it) : std::next(it);
  }
  Fold(0xdead0000 + id.value);
}

void Simulator::BreakStreamsTo(NodeId killed) {
  for (const std::unique_ptr<Node>& peer : nodes_) {
    if (peer->id == killed || !peer->up) continue;
    auto arrival = peer->last_stream_arrival.find(killed);
    const bool unsent = arrival != peer->last_stream_arrival.end() && arrival->second > now_;
    for (auto it = peer->streams.begin(); it != peer->streams.end();) {
      if (NodeAt(it->second) != killed) {
        ++it;
        continue;
      }
      const StreamBrokenInput broken{it->first, it->second, unsent};
      it = peer->streams.erase(it);
      if (network_.Blocked(killed, peer->id)) continue;  // the reset never arrives: silence
      ScheduleDelivery(now_ + network_.MeanDelay(killed, peer->id), peer->id, peer->generation, broken);
    }
  }
}

void Simulator::RefuseStream(Node& from, NodeId to, const OutboundMessage& message) {
  if (network_.Blocked(from.id, to) || network_.Blocked(to, from.id)) return;  // no answer at all
  if (!from.refusing.insert({message.endpoint, message.to}).second) return;  // already refused
  const NodeId id = from.id;
  const uint64_t generation = from.generation;
  const StreamBrokenInput broken{message.endpoint, message.to, true};
  Schedule(now_ + network_.MeanDelay(id, to) + network_.MeanDelay(to, id), [this, id, generation, broken] {
    Node& n = *nodes_.at(id.value - 1);
    if (n.up && n.generation == generation) n.refusing.erase({broken.endpoint, broken.peer});
    Deliver(id, generation, Input{now_, broken});
  });
}

void Simulator::Restart(NodeId id) {
  Node& node = *nodes_.at(id.value - 1);
  if (node.up) Kill(id);
  StartMachine(node);
}

void Simulator::RestartWiped(NodeId id) {
  Node& node = *nodes_.at(id.value - 1);
  if (node.up) Kill(id);
  node.executor->Wipe();
  StartMachine(node);
}

void Simulator::Pause(NodeId id, Duration how_long) {
  Node& node = *nodes_.at(id.value - 1);
  if (!node.up) return;
  const Time until = std::max(node.paused_until, now_ + how_long);
  node.paused_until = until;
  const uint64_t generation = node.generation;
  Schedule(until, [this, id, generation] { Resume(id, generation); });
}

void Simulator::Resume(NodeId id, uint64_t generation) {
  Node& node = *nodes_.at(id.value - 1);
  if (!node.up || node.generation != generation || now_ < node.paused_until) return;
  while (!node.paused_inputs.empty() && node.up && node.generation == generation) {
    Input input = std::move(node.paused_inputs.front());
    node.paused_inputs.pop_front();
    input.now = now_ + node.clock_offset;  // a stalled process sees the late time when it finally runs
    RunStep(node, input);
  }
}

void Simulator::SetClockOffset(NodeId id, Duration offset) {
  Node& node = *nodes_.at(id.value - 1);
  node.next_clock_offset = offset;
  if (offset > node.clock_offset) node.clock_offset = offset;  // a forward step, now
}

Duration Simulator::ClockOffset(NodeId id) const { return nodes_.at(id.value - 1)->clock_offset; }

bool Simulator::IsUp(NodeId id) const { return nodes_.at(id.value - 1)->up; }
Machine* Simulator::machine(NodeId id) { return nodes_.at(id.value - 1)->machine.get(); }
Disk& Simulator::disk(NodeId id) { return nodes_.at(id.value - 1)->executor->disk(); }
const NodeStats& Simulator::stats(NodeId id) const { return nodes_.at(id.value - 1)->stats; }
const Address& Simulator::AddressOf(NodeId id) const { return nodes_.at(id.value - 1)->address; }

std::vector<NodeId> Simulator::nodes() const {
  std::vector<NodeId> ids;
  ids.reserve(nodes_.size());
  for (const auto& n : nodes_) ids.push_back(n->id);
  return ids;
}

NodeId Simulator::NodeAt(const Address& address) const {
  auto it = by_address_.find(address);
  return it == by_address_.end() ? NodeId{} : it->second.first;
}

uint64_t Simulator::Request(NodeId id, std::string method, std::string body, ResponseHandler on_response) {
  const uint64_t request_id = next_request_id_++;
  Node& node = *nodes_.at(id.value - 1);
  if (!node.up) return request_id;  // a request to a down node is never answered
  pending_requests_[request_id] = PendingRequest{id, std::move(on_response)};
  Deliver(id, node.generation, Input{now_, RequestInput{request_id, std::move(method), std::move(body)}});
  return request_id;
}

void Simulator::Deliver(NodeId id, uint64_t generation, Input input) {
  Node& node = *nodes_.at(id.value - 1);
  if (!node.up || node.generation != generation) return;
  input.now = now_ + node.clock_offset;
  if (now_ < node.paused_until) {
    node.paused_inputs.push_back(std::move(input));
    return;
  }
  RunStep(node, input);
}

void Simulator::RunStep(Node& node, const Input& input) {
  // Fingerprint: when, where, what kind, and the bytes of what arrived.
  Fold(static_cast<uint64_t>(absl::ToUnixNanos(input.now)));
  Fold(node.id.value);
  Fold(input.what.index());
  if (const auto* m = std::get_if<MessageInput>(&input.what)) {
    Fold(PayloadHash(m->payload));
    node.stats.messages_received++;
    node.stats.bytes_received += m->payload.size();
  } else if (const auto* r = std::get_if<RequestInput>(&input.what)) {
    Fold(StableHash(r->method));
    Fold(PayloadHash(r->body));
  } else if (const auto* w = std::get_if<WriteDurableInput>(&input.what)) {
    Fold(w->write_id);
  } else if (const auto* p = std::get_if<ProcessExitedInput>(&input.what)) {
    Fold(p->process_id);
  } else if (const auto* b = std::get_if<StreamBrokenInput>(&input.what)) {
    Fold(StableHash(b->peer));
  }
  events_processed_++;

  Effects effects;
  node.machine->Step(input, &effects);
  if (observer_) observer_(node.id, input, effects);
  Execute(node, std::move(effects));
}

EffectExecutor::Sinks Simulator::Sinks(Node& node) {
  Node* n = &node;  // nodes live as long as the simulator
  EffectExecutor::Sinks sinks;
  sinks.send = [this, n](OutboundMessage m) { SendNow(*n, std::move(m)); };
  sinks.respond = [this, n](Response r) { Respond(*n, std::move(r)); };
  sinks.start_process = [this, n](const ProcessStart& process) {
    ProcessExitedInput result = process_runner_ ? process_runner_(n->id, process) : HealthyEnd(process);
    result.process_id = process.id;
    const Duration delay = result.timed_out ? std::max(process_delay_, process.timeout) : process_delay_;
    ScheduleDelivery(now_ + delay, n->id, n->generation, std::move(result));
  };
  sinks.sync = [this, n](uint64_t write_id) {
    // Syncs finish in issue order: a later sync never completes before an earlier one.
    const Time done = std::max(n->last_sync_done, now_ + rng_.UniformDuration(disk_config_.sync_latency_min,
                                                                              disk_config_.sync_latency_max));
    n->last_sync_done = done;
    ScheduleNodeEvent(done, Action::Kind::kSynced, n->id, n->generation, write_id);
  };
  return sinks;
}

ProcessExitedInput Simulator::HealthyEnd(const ProcessStart& start) {
  ProcessExitedInput end;
  end.process_id = start.id;
  end.exit_code = start.kind == ProcessStart::Kind::kHttp ? 200 : 0;
  return end;
}

void Simulator::Execute(Node& node, Effects effects) {
  node.executor->Execute(std::move(effects));
  if (std::optional<Time> wake = node.executor->TakeWake()) ArmWake(node, *wake);
}

void Simulator::OnSynced(NodeId id, uint64_t generation, uint64_t write_id) {
  Node& node = *nodes_.at(id.value - 1);
  if (!node.up || node.generation != generation) return;
  node.executor->Synced(write_id);  // releases, in order, what waited on it (rule 2)
  Deliver(id, generation, Input{now_, WriteDurableInput{write_id}});
}

void Simulator::SendNow(Node& from, OutboundMessage message) {
  from.stats.messages_sent++;
  from.stats.bytes_sent += message.payload.size();
  auto where = by_address_.find(message.to);
  if (where == by_address_.end()) return;  // nobody there: the packet vanishes, as on a real network
  const NodeId to = where->second.first;
  const Endpoint arrives_on = where->second.second;
  // The sender's address is the one of the endpoint it leaves from, as a peer sees in io/
  // (the frame names the advertised address of the socket it was sent from).
  const Address& from_address = from.endpoints[static_cast<int>(message.endpoint)].empty()
                                    ? from.address
                                    : from.endpoints[static_cast<int>(message.endpoint)];
  const bool is_stream = message.channel == Channel::kStream;
  const Network::Fate fate = network_.Decide(from.id, to, is_stream, rng_);
  network_stats_.sent++;
  if (fate.copies == 0) (network_.Blocked(from.id, to) ? network_stats_.blocked : network_stats_.lost)++;
  if (fate.copies == 2) network_stats_.duplicated++;
  Node& target = *nodes_.at(to.value - 1);
  const uint64_t target_generation = target.generation;
  if (is_stream && !target.up) {
    RefuseStream(from, to, message);
  } else if (is_stream) {
    from.streams.insert({message.endpoint, message.to});
    if (fate.copies > 0) target.streams.insert({arrives_on, from_address});
  }
  for (int copy = 0; copy < fate.copies; ++copy) {
    Time arrival = now_ + fate.delay[copy];
    if (is_stream) {
      Time& last = from.last_stream_arrival[to];
      arrival = std::max(arrival, last);
      last = arrival;
    } else if (copy == 0) {
      Time& last = from.last_datagram_arrival[to];
      if (arrival < last) network_stats_.reordered++;
      last = std::max(last, arrival);
    }
    ScheduleDelivery(arrival, to, target_generation,
                     MessageInput{from_address, message.channel,
                                  copy + 1 < fate.copies ? message.payload : std::move(message.payload), arrives_on});
  }
}

void Simulator::Respond(Node& node, Response response) {
  auto it = pending_requests_.find(response.request_id);
  if (it == pending_requests_.end() || it->second.node != node.id) return;
  ResponseHandler handler = std::move(it->second.handler);
  pending_requests_.erase(it);
  Fold(response.request_id);
  if (handler) handler(response);
}

void Simulator::ArmWake(Node& node, Time when) {
  when = std::max(when - node.clock_offset, now_);  // the machine asked in its own clock
  if (node.wake_at.has_value() && *node.wake_at == when) return;
  node.wake_at = when;
  ScheduleNodeEvent(when, Action::Kind::kWake, node.id, node.generation, ++node.wake_token);
}

bool Simulator::Step() {
  if (queue_.empty()) return false;
  std::pop_heap(queue_.begin(), queue_.end(), Later());
  const Event event = queue_.back();
  queue_.pop_back();
  MUSTER_CHECK(event.when >= now_, "time went backwards");
  now_ = event.when;
  Run(event.slot);
  return true;
}

void Simulator::RunUntil(Time deadline) {
  while (!queue_.empty() && queue_.front().when <= deadline) Step();
  if (deadline > now_) now_ = deadline;
}

bool Simulator::RunUntil(const std::function<bool()>& done, Duration budget) {
  const Time deadline = now_ + budget;
  while (!done()) {
    if (queue_.empty() || queue_.front().when > deadline) {
      if (deadline > now_) now_ = deadline;
      return done();
    }
    Step();
  }
  return true;
}

}  // namespace muster::sim
