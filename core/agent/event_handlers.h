// `muster agent -event-handler [filter=]script` (repeatable; `event_handlers` in the config
// file): Serf's event handlers on the agent's LAN pool, as `serf agent -event-handler` runs
// them. A filter is Serf's: member-join, member-leave, member-failed, member-update,
// member-reap, user, user:NAME, query, query:NAME, or *, comma-separated; none means every
// event. As in Serf, the text before the first '=' is the filter, so a script that itself holds
// '=' needs one in front ("*=FOO=1 ./handler.sh").
//
// Each run is `/bin/sh -c script` with Serf's environment (SERF_EVENT, SERF_SELF_NAME,
// SERF_SELF_ROLE = this agent's `role` tag: "consul" on a server, "node" on a client,
// SERF_TAG_<NAME> for each own tag upper-cased with [^A-Z0-9_] as '_', and SERF_USER_EVENT /
// SERF_USER_LTIME for user events) and on standard input:
//   member events: one line per member, "name\taddress\trole\ttags\n", the address without its
//     port, tags as k=v,k=v (sorted here; Serf's map order is random), tabs and newlines in
//     the name, role and tags written as \t and \n (Serf's eventClean);
//   user events: the payload, with a newline added when it lacks one (Serf's streamPayload).
// User events are Consul's (PUT /v1/event/fire, `muster event`), delivered once per agent
// whose node/service/tag filters select it: SERF_USER_EVENT is the event's name.
//
// Member events are coalesced as Serf's agent does (CoalescePeriod 3 s, QuiescentPeriod 1 s):
// the latest event of each member is kept until no new one came for the quiescent period, or
// the period passed since the first; then one run per event type with every member of that
// type, in the order join, leave, failed, update, reap, members by name. A member whose latest
// event is the one it was last handed with (not an update) is left out, as Serf's coalescer.
//
// Queries: filters naming them are accepted, but the agent fires no Serf queries a handler
// could answer, so none reach a handler.
//
// Pure: the runs go to the agent's HandlerQueue (handler_queue.h), which emits ProcessStarts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "core/agent/handler_queue.h"
#include "core/base/log.h"
#include "core/gossip/event_handler.h"
#include "core/gossip/serf.h"
#include "core/seam/effects.h"

namespace muster::agent {

inline constexpr Duration kMemberCoalescePeriod = absl::Seconds(3);
inline constexpr Duration kMemberQuiescentPeriod = absl::Seconds(1);
// Members whose events wait to be flushed, and whose last handed event is remembered; past the
// bound the pending ones are flushed at once and the memory of handed events starts afresh.
inline constexpr size_t kCoalescedMembersMax = 4096;
inline constexpr size_t kEventHandlersMax = 64;
inline constexpr size_t kEventHandlerBytesMax = 4096;

struct EventHandlerDefinition {
  std::string filter = "*";  // as written
  std::vector<gossip::EventFilter> filters;
  std::string script;
};

// "[filter=]script": Serf's parse, refusing an unknown event type, a name on a member event,
// an empty script, and one longer than kEventHandlerBytesMax.
absl::StatusOr<EventHandlerDefinition> ParseEventHandler(std::string_view spec);

// One member as a member event's handler sees it.
struct HandlerMember {
  std::string name;
  std::string address;  // host only
  gossip::TagMap tags;
};

// The standard input of a member event's run.
std::string MemberEventStdin(const std::vector<HandlerMember>& members);
// The standard input of a user event's run.
std::string UserEventStdin(std::string_view payload);
// "10.0.0.1:8301" -> "10.0.0.1", "[::1]:8301" -> "::1"; an address without a port unchanged.
std::string HostOfAddress(std::string_view address);

class EventHandlers {
 public:
  EventHandlers(std::vector<EventHandlerDefinition> handlers, std::string self_name, gossip::TagMap self_tags,
                Logger log, Duration coalesce_period = kMemberCoalescePeriod,
                Duration quiescent_period = kMemberQuiescentPeriod);

  bool empty() const { return handlers_.empty(); }

  // The LAN pool's member events of one step (seam Events "member-*", one member each, the
  // line Serf publishes), with the pool's members as they are now (for addresses and tags;
  // a reaped member's come from the line).
  void ObserveMemberEvents(Time now, const std::vector<Event>& events,
                           const absl::btree_map<std::string, gossip::Member>& members);
  // A user event this agent kept (its filters select this agent).
  void OnUserEvent(Time now, const std::string& name, const std::string& payload, uint64_t ltime,
                   HandlerQueue& queue, Effects* out);
  // Flushes the coalesced member events when due; requests the next flush's wake-up.
  void Tick(Time now, HandlerQueue& queue, Effects* out);

  size_t pending_members() const { return pending_.size(); }

 private:
  struct Pending {
    std::string type;
    HandlerMember member;
  };
  void Flush(Time now, HandlerQueue& queue, Effects* out);
  void Run(Time now, const gossip::SerfEvent& event, std::string stdin_data, HandlerQueue& queue, Effects* out);
  std::optional<Time> FlushAt() const;

  std::vector<EventHandlerDefinition> handlers_;
  std::string self_name_;
  gossip::TagMap self_tags_;
  Logger log_;
  Duration coalesce_period_, quiescent_period_;
  absl::btree_map<std::string, Pending> pending_;           // by member name
  absl::btree_map<std::string, std::string> last_handed_;  // member -> the type last handed
  Time first_pending_, last_pending_;
  bool flush_now_ = false;
};

}  // namespace muster::agent
