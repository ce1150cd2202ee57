#include "core/seam/composition.h"

#include <algorithm>
#include <utility>

#include "core/base/check.h"

namespace muster {

// Writes issued and not yet acknowledged by the host, over all components: the disk's
// sync lag bounds them in practice (raft's own bound is kLogWritesInFlightMax = 4096); past
// this the host has stopped acknowledging, a bug of the host, not of the input.
inline constexpr size_t kCompositionWritesInFlightMax = 1 << 16;
// Processes started and not yet ended (health checks and event handlers; each ends by its
// timeout at the latest).
inline constexpr size_t kCompositionProcessesMax = 1 << 16;

Composition::ComponentId Composition::Add(std::string name) {
  components_.push_back(Component{.name = std::move(name)});
  return components_.size() - 1;
}

uint64_t Composition::GateFor(const Component& c, uint64_t write_id) const {
  if (write_id == 0 || write_id <= c.durable_write_id) return 0;
  MUSTER_CHECK_LE(write_id, c.last_write_id, c.name, " gates on a write it never issued");
  // The component's write at or before `write_id`: every write up to it must be durable, and
  // machine ids keep the component's order, so that write's machine id is the gate.
  // No such write in flight: everything up to it is durable already (ids may skip).
  auto it = c.machine_ids.upper_bound(write_id);
  if (it == c.machine_ids.begin()) return 0;
  return std::prev(it)->second;
}

void Composition::Merge(ComponentId id, Effects&& batch, Effects* out) {
  Component& c = components_.at(id);
  for (StorageWrite& w : batch.writes) {
    MUSTER_CHECK_LT(c.last_write_id, w.id, c.name, "'s write ids must increase");
    c.last_write_id = w.id;
    const uint64_t machine_id = next_write_id_++;
    c.machine_ids.emplace(w.id, machine_id);
    in_flight_.push_back(InFlight{machine_id, id, w.id});
    MUSTER_CHECK_LE(in_flight_.size(), kCompositionWritesInFlightMax, "the host stopped acknowledging writes");
    w.id = machine_id;
    out->writes.push_back(std::move(w));
  }
  for (OutboundMessage& m : batch.messages) {
    m.after_write_id = GateFor(c, m.after_write_id);
    out->messages.push_back(std::move(m));
  }
  for (Response& r : batch.responses) {
    r.after_write_id = GateFor(c, r.after_write_id);
    out->responses.push_back(std::move(r));
  }
  for (ProcessStart& p : batch.processes) {
    const uint64_t machine_id = next_process_id_++;
    processes_.emplace(machine_id, Process{id, p.id});
    MUSTER_CHECK_LE(processes_.size(), kCompositionProcessesMax, "processes never end");
    p.id = machine_id;
    out->processes.push_back(std::move(p));
  }
  for (Event& e : batch.events) out->events.push_back(std::move(e));
  // The earliest request is kept up to date instead of recomputed at each of a step's
  // merges (the agent merges 8 components a step): a pass is needed only when the request
  // that was the earliest moves later or goes.
  const std::optional<Time> previous = std::exchange(c.wake_at, batch.wake_at);
  if (c.wake_at != previous) {
    if (c.wake_at.has_value() && (!earliest_wake_at_.has_value() || *c.wake_at <= *earliest_wake_at_)) {
      earliest_wake_at_ = c.wake_at;
    } else if (previous.has_value() && earliest_wake_at_ == previous) {
      earliest_wake_at_ = EarliestWakeAt();
    }
  }
  batch.Clear();
  out->wake_at = earliest_wake_at_;
}

std::vector<Composition::Durable> Composition::OnDurable(uint64_t machine_write_id) {
  std::vector<Durable> moved;
  if (machine_write_id <= durable_write_id_) return moved;
  MUSTER_CHECK_LT(machine_write_id, next_write_id_, "the host acknowledged a write never issued");
  durable_write_id_ = machine_write_id;
  std::vector<uint64_t> newest(components_.size(), 0);
  while (!in_flight_.empty() && in_flight_.front().machine_write_id <= machine_write_id) {
    newest[in_flight_.front().component] = in_flight_.front().write_id;
    in_flight_.pop_front();
  }
  for (ComponentId id = 0; id < components_.size(); ++id) {
    if (newest[id] == 0) continue;
    Component& c = components_[id];
    c.durable_write_id = newest[id];
    c.machine_ids.erase(c.machine_ids.begin(), c.machine_ids.upper_bound(newest[id]));
    moved.push_back(Durable{id, newest[id]});
  }
  return moved;
}

std::optional<Composition::Process> Composition::OnProcessExited(uint64_t machine_process_id) {
  auto it = processes_.find(machine_process_id);
  if (it == processes_.end()) return std::nullopt;
  Process p = it->second;
  processes_.erase(it);
  return p;
}

std::optional<Time> Composition::EarliestWakeAt() const {
  std::optional<Time> earliest;
  for (const Component& c : components_) {
    if (c.wake_at.has_value() && (!earliest.has_value() || *c.wake_at < *earliest)) earliest = c.wake_at;
  }
  return earliest;
}

}  // namespace muster
