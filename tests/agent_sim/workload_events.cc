#include "tests/agent_sim/workload_events.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proto/agent.pb.h"
#include "tests/agent_sim/agent_run.h"

namespace muster::agent_sim {

namespace pba = ::muster::proto::agent;

EventWorkload::EventWorkload(AgentRun& run) : run_(run) {
  run_.AddObserver([this](NodeId id, const Input&, const Effects&) { OnStep(id); });
  run_.AddProcessObserver([this](NodeId id, const ProcessStart& start) { OnProcess(id, start); });
}

void EventWorkload::Tick(int index) {
  const Time now = run_.sim().now();
  if (fires_.size() >= kEventFiresMax || (last_fire_.has_value() && now - *last_fire_ < kEventFireGapMin)) return;
  last_fire_ = now;
  const std::string payload = absl::StrCat("e", next_++);
  fires_[payload] = Fire{index, life_[index], now, false};
  // The checker owes it to nobody: who is owed what (a join ignores older events) is this
  // workload's to count. It checks at most once per lifetime, nothing never fired or to an
  // agent down.
  trace_.MaybeFired(payload, now);
  pba::Call call;
  call.set_key(kSimEventName);
  call.set_value(payload);
  const uint64_t life = life_[index];
  run_.sim().Request(run_.node(index), "event.fire", call.SerializeAsString(), [this, index, life, payload](const Response& resp) {
    if (life_[index] != life || !resp.status.ok()) return;
    fires_[payload].answered_ok = true;
    fires_ok_++;
  });
}

void EventWorkload::OnDown(int index) {
  trace_.AgentDown(NodeName(index), run_.sim().now());
  life_[index]++;
  joining_[index] = false;
}

void EventWorkload::OnUp(int index) {
  trace_.AgentUp(NodeName(index), run_.sim().now());
  joining_[index] = true;
}

void EventWorkload::OnStep(NodeId id) {
  const int index = run_.index_of(id);
  if (index < 0 || !joining_[index]) return;
  const agent::AgentMachine* m = run_.agent(index);
  if (m == nullptr || (m->lan().NumAliveMembers() < 2 && run_.indexes().size() > 1)) return;
  joining_[index] = false;
  owed_from_[{index, life_[index]}] = run_.sim().now() + kEventJoinGrace;
}

void EventWorkload::OnProcess(NodeId id, const ProcessStart& start) {
  if (start.command != kSimEventHandler) return;
  const int index = run_.index_of(id);
  std::string payload = start.stdin_data;
  if (absl::EndsWith(payload, "\n")) payload.pop_back();
  trace_.Delivered(NodeName(index), payload, run_.sim().now());
  delivered_[{index, life_[index]}].insert(payload);
  deliveries_++;
  for (const auto& [name, value] : start.env) {
    uint64_t ltime = 0;
    if (name == "SERF_USER_LTIME" && absl::SimpleAtoi(value, &ltime)) ltime_of_.try_emplace(payload, ltime);
  }
}

bool EventWorkload::Owed(const Fire& f) const {
  auto life = life_.find(f.index);
  return f.answered_ok && life != life_.end() && life->second == f.life && run_.up(f.index);
}

namespace {

// How many user events Serf handed the agent at Lamport time `ltime` (any name).
uint64_t SerfDeliveriesAt(const agent::AgentMachine& m, uint64_t ltime) {
  uint64_t n = 0;
  for (const auto& [key, count] : m.lan().stats().user_delivered) {
    if (absl::EndsWith(key, absl::StrCat("@", ltime))) n += count;
  }
  return n;
}

}  // namespace

bool EventWorkload::OwedBy(const std::string& payload, const Fire& f, int i) const {
  auto from = owed_from_.find({i, life_.at(i)});
  if (from == owed_from_.end() || from->second > f.call) return false;
  // Serf ignores for good an event older (in Lamport time) than what the agent's join saw
  // (eventJoinIgnore: a firer cut off with a clock behind makes such events).
  auto ltime = ltime_of_.find(payload);
  return ltime == ltime_of_.end() || ltime->second >= run_.agent(i)->lan().event_min_time();
}

bool EventWorkload::AllDelivered() const {
  for (const auto& [payload, f] : fires_) {
    if (!Owed(f)) continue;
    for (int i : run_.up_indexes()) {
      const auto key = std::make_pair(i, life_.at(i));
      if (!OwedBy(payload, f, i)) continue;
      auto got = delivered_.find(key);
      if (got == delivered_.end() || !got->second.contains(payload)) return false;
    }
  }
  return true;
}

void EventWorkload::Judge() {
  judged_ = true;
  const Time settled = run_.sim().now();
  if (run_.RunUntil([this] { return AllDelivered(); }, kEventsDeliveredBound)) delivered_after_ = run_.sim().now() - settled;
  if (run_.checker().failed()) return;
  // At most once per agent lifetime, nothing never fired, nothing to an agent down: the
  // checker's. Who was owed what (joins ignore older events): counted here.
  sim::checkers::EventCheckOptions options;
  options.end = run_.sim().now();
  result_ = sim::checkers::CheckUserEvents(trace_, options);
  for (const auto& [payload, f] : fires_) {
    if (!Owed(f)) continue;
    for (int i : run_.up_indexes()) {
      const auto key = std::make_pair(i, life_.at(i));
      if (!OwedBy(payload, f, i)) continue;
      const Time from = owed_from_.at(key);
      owed_++;
      auto got = delivered_.find(key);
      if (got == delivered_.end() || !got->second.contains(payload)) {
        result_.Add(absl::StrCat("event ", payload, " fired through ", NodeName(f.index), " at ",
                                 absl::FormatDuration(f.call - SimEpoch()), " never reached ", NodeName(i),
                                 ", up and joined from ", absl::FormatDuration(from - SimEpoch()), " to the end (its Lamport time ",
                                 ltime_of_.contains(payload) ? absl::StrCat(ltime_of_.at(payload)) : std::string("unseen"),
                                 "; the agent's event clock ", run_.agent(i)->lan().event_ltime(), ", ignoring below ",
                                 run_.agent(i)->lan().event_min_time(), "; Serf delivered events at that time there ",
                                 SerfDeliveriesAt(*run_.agent(i), ltime_of_.contains(payload) ? ltime_of_.at(payload) : 0),
                                 " times)"));
      }
    }
  }
  if (!result_.ok()) {
    run_.checker().Fail(run_.sim().now(), absl::StrCat("user events (event_checker; owed within ",
                                                       absl::FormatDuration(kEventsDeliveredBound),
                                                       " of settling): ", result_.Report()));
  }
}

std::string EventWorkload::Checked() const {
  return absl::StrCat("exactly-once user events (event_checker; every agent up and joined from a fire to the end, "
                      "within ",
                      absl::FormatDuration(kEventsDeliveredBound), " of settling): ", fires_.size(), " fired, ", fires_ok_,
                      " answered, ", owed_, " deliveries owed, ", deliveries_, " handler runs",
                      delivered_after_.has_value() ? absl::StrCat(", all owed in ", absl::FormatDuration(*delivered_after_),
                                                                  " after settling")
                                                   : "",
                      "; ",
                      judged_ ? (result_.ok() ? std::string("ok") : absl::StrCat(result_.violation_count, " violations"))
                              : std::string("not judged"));
}

}  // namespace muster::agent_sim
