// The user-event check: agents' lifetimes from their up/down marks, deliveries counted per
// (agent, lifetime, event), then each fired event against every agent up through its window.
#include "sim/checkers/event_checker.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"

namespace muster::sim::checkers {

void EventTrace::Fired(std::string event_id, Time time) {
  events_.push_back({Kind::kFired, "", std::move(event_id), time});
}
void EventTrace::MaybeFired(std::string event_id, Time time) {
  events_.push_back({Kind::kMaybeFired, "", std::move(event_id), time});
}
void EventTrace::Delivered(std::string agent, std::string event_id, Time time) {
  events_.push_back({Kind::kDelivered, std::move(agent), std::move(event_id), time});
}
void EventTrace::AgentUp(std::string agent, Time time) {
  events_.push_back({Kind::kUp, std::move(agent), "", time});
}
void EventTrace::AgentDown(std::string agent, Time time) {
  events_.push_back({Kind::kDown, std::move(agent), "", time});
}

namespace {

std::string At(Time t) { return absl::FormatDuration(t - SimEpoch()); }

struct Lifetime {
  Time up;
  Time down = absl::InfiniteFuture();
};

// One agent lifetime's deliveries of one event.
struct Deliveries {
  int count = 0;
  Time first;
};

}  // namespace

CheckResult CheckUserEvents(const EventTrace& trace, const EventCheckOptions& options) {
  // In time order (marks at one instant in the order given).
  std::vector<const EventTrace::Event*> events;
  for (const EventTrace::Event& event : trace.events()) events.push_back(&event);
  std::stable_sort(events.begin(), events.end(),
                   [](const auto* a, const auto* b) { return a->time < b->time; });

  CheckResult result;
  absl::btree_map<std::string, Time> fired;  // event -> when (the first fire)
  absl::btree_set<std::string> owed_nobody;  // fired only maybe
  absl::btree_map<std::string, std::vector<Lifetime>> lifetimes;
  // (agent, lifetime index or 0 when redelivery is not allowed, event) -> deliveries
  absl::btree_map<std::tuple<std::string, size_t, std::string>, Deliveries> delivered;
  for (const EventTrace::Event* event : events) {
    switch (event->kind) {
      case EventTrace::Kind::kFired:
        fired.try_emplace(event->event_id, event->time);
        break;
      case EventTrace::Kind::kMaybeFired:
        if (fired.try_emplace(event->event_id, event->time).second) owed_nobody.insert(event->event_id);
        break;
      case EventTrace::Kind::kUp: {
        std::vector<Lifetime>& agent = lifetimes[event->agent];
        if (agent.empty() || agent.back().down != absl::InfiniteFuture()) {
          agent.push_back({event->time});
        }
        break;
      }
      case EventTrace::Kind::kDown: {
        std::vector<Lifetime>& agent = lifetimes[event->agent];
        if (!agent.empty() && agent.back().down == absl::InfiniteFuture()) {
          agent.back().down = event->time;
        }
        break;
      }
      case EventTrace::Kind::kDelivered: {
        const std::string what = absl::StrCat("event ", event->event_id, " delivered to ",
                                              event->agent, " at ", At(event->time));
        auto fire = fired.find(event->event_id);
        if (fire == fired.end()) {
          result.Add(absl::StrCat(what, ": never fired (or fired later)"));
          break;
        }
        const std::vector<Lifetime>& agent = lifetimes[event->agent];
        if (agent.empty() || agent.back().down != absl::InfiniteFuture()) {
          result.Add(absl::StrCat(what, ": the agent is down"));
          break;
        }
        const size_t lifetime = options.redelivery_after_restart ? agent.size() - 1 : 0;
        Deliveries& count = delivered[{event->agent, lifetime, event->event_id}];
        if (++count.count == 1) {
          count.first = event->time;
        } else {
          result.Add(absl::StrCat(what, ": delivered ", count.count, " times",
                                  options.redelivery_after_restart ? " in one lifetime" : "",
                                  " (first at ", At(count.first), ")"));
        }
        break;
      }
    }
  }

  // Every agent up through [fired, fired + bound] has it by the bound.
  for (const auto& [event_id, fired_at] : fired) {
    if (owed_nobody.contains(event_id)) continue;
    const Time due = options.due_at_end ? options.end : fired_at + options.delivery_bound;
    if (due > options.end) continue;
    for (const auto& [agent, lives] : lifetimes) {
      for (size_t i = 0; i < lives.size(); ++i) {
        if (!(lives[i].up <= fired_at && due <= lives[i].down)) continue;
        const size_t lifetime = options.redelivery_after_restart ? i : 0;
        auto it = delivered.find({agent, lifetime, event_id});
        if (it == delivered.end()) {
          result.Add(absl::StrCat("event ", event_id, " fired at ", At(fired_at), " never reached ",
                                  agent, ", up from ", At(lives[i].up), " through ", At(due)));
        } else if (it->second.first > due) {
          result.Add(absl::StrCat("event ", event_id, " fired at ", At(fired_at), " reached ",
                                  agent, " only at ", At(it->second.first), ", after ", At(due)));
        }
      }
    }
  }
  return result;
}

}  // namespace muster::sim::checkers
