// Exactly-once user events (`consul event`): each fired event is handed to an agent's
// watches and handlers at most once per agent lifetime (an agent restarted with its memory
// gone may see it again, as Consul's may), and exactly once, within `delivery_bound`, to
// every agent up through the whole of [fired, fired + delivery_bound]. Also: nothing is
// delivered that was not fired, before it was fired, or to an agent that is down.
#pragma once

#include <string>
#include <vector>

#include "core/base/time.h"
#include "sim/checkers/check_result.h"

namespace muster::sim::checkers {

class EventTrace {
 public:
  // The fire request was accepted (PUT /v1/event/fire answered) at `time`.
  void Fired(std::string event_id, Time time);
  // A fire whose answer was lost (the agent crashed) or whose event may not have left it
  // (the agent crashed before gossiping it on): it may be delivered, at most once per agent
  // lifetime, but nobody is owed it.
  void MaybeFired(std::string event_id, Time time);
  // The agent handed the event to its handlers and watches.
  void Delivered(std::string agent, std::string event_id, Time time);
  // The agent started, or restarted: a new lifetime.
  void AgentUp(std::string agent, Time time);
  // The agent crashed, stopped, left or was paused.
  void AgentDown(std::string agent, Time time);

  enum class Kind { kFired, kMaybeFired, kDelivered, kUp, kDown };
  struct Event {
    Kind kind;
    std::string agent;     // empty for kFired
    std::string event_id;  // empty for kUp, kDown
    Time time;
  };
  const std::vector<Event>& events() const { return events_; }

 private:
  std::vector<Event> events_;
};

struct EventCheckOptions {
  // How long after firing every live agent must have it.
  Duration delivery_bound = absl::Seconds(10);
  // The end of the trace: events fired later than end - delivery_bound owe nobody yet.
  Time end = absl::InfiniteFuture();
  // Whether a restarted agent may see an event again (its dedup memory is gone).
  bool redelivery_after_restart = true;
  // Instead of `delivery_bound`: every agent up from the fire through `end` owes the event
  // by `end` (a run judged once settled, after partitions that may have held events back).
  bool due_at_end = false;
};

CheckResult CheckUserEvents(const EventTrace& trace, const EventCheckOptions& options = {});

}  // namespace muster::sim::checkers
