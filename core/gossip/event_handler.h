// Serf's event-handler contract, as effects: which handlers an event runs (filters such as
// "member-join,user:deploy"), and the ProcessStart for each (command, SERF_* environment,
// standard input). The host runs the processes; nothing here executes anything.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "core/seam/effects.h"

namespace muster::gossip {

using TagMap = absl::btree_map<std::string, std::string>;

// One member line of a member event.
struct EventMember {
  std::string name;
  std::string addr;
  TagMap tags;
};

// A Serf event, as handlers and observers see it.
struct SerfEvent {
  std::string type;  // member-join, member-leave, member-failed, member-update, member-reap, user, query
  std::vector<EventMember> members;  // member events
  std::string name;                  // user event or query name
  std::string payload;               // user event or query payload
  uint64_t ltime = 0;                // user event or query Lamport time
  uint32_t query_id = 0;
};

// One filter term: type "*" matches all; name empty matches any user event / query name.
struct EventFilter {
  std::string type;
  std::string name;
};

// Parses "member-join,member-leave,user:deploy,query:load,*". Unknown types are errors.
absl::StatusOr<std::vector<EventFilter>> ParseEventFilters(std::string_view spec);
bool FilterMatches(const std::vector<EventFilter>& filters, const SerfEvent& event);

struct EventHandlerSpec {
  std::string filter = "*";
  std::string command;
};

// A handler's standard input, as Serf's agent writes it: for member events
// "name\taddr\trole\tk=v,k=v\n" per member, the address without its port, the name, role and
// tags cleaned (EventClean: a tag from the network cannot inject a member line); for user
// events and queries the payload, with a newline added when it lacks one.
std::string EventStdin(const SerfEvent& event);
// Serf's eventClean: tab and newline as the two characters \t and \n.
std::string EventClean(std::string_view value);
// "10.0.0.1:8301" -> "10.0.0.1", "[::1]:8301" -> "::1"; without a port, as it is.
std::string HostOnly(std::string_view addr);
// The SERF_* environment, sorted by variable name.
std::vector<std::pair<std::string, std::string>> EventEnv(const SerfEvent& event, std::string_view self_name,
                                                          const TagMap& self_tags);
// The seam Event published for observers: kind = type (user:NAME / query:NAME for those),
// payload = the member lines as EventStdin's but with the address and its port, or the
// payload as it came.
Event ToSeamEvent(const SerfEvent& event);

}  // namespace muster::gossip
