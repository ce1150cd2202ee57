// Consul's user events (PUT /v1/event/fire/:name, GET /v1/event/list): an event rides a LAN
// Serf user event; each agent that receives it keeps it if its filters match the agent (node
// name; a local service's name; and that service's tags) in a ring of the last 256, listed
// oldest first. Nothing is replicated: each agent has its own view, as in Consul.
//
// The list's X-Consul-Index is not a raft index but Consul's fold of the newest listed
// event's ID (IndexOfEventId), which clients compute themselves from the ID to compare; a
// blocking list waits while that value equals the client's ?index.
//
// Untrusted input: names, payloads and filters arrive from the network and from clients;
// they are bounded here, and the filters are RE2 (linear time, bounded memory), never a
// backtracking regex.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/agent/go_shapes.h"  // IndexOfEventId
#include "proto/agent.pb.h"

namespace re2 {
class RE2;
}

namespace muster::agent {

// The Serf user event name the records travel under (Consul's "consul:event").
inline constexpr std::string_view kUserEventSerfName = "muster:event";
inline constexpr size_t kUserEventsKept = 256;       // Consul's eventBufferSize
inline constexpr size_t kUserEventNameBytesMax = 128;
inline constexpr size_t kUserEventFilterBytesMax = 256;

// What the filters are matched against: this agent's node name and its local services.
struct EventTarget {
  std::string node_name;
  std::vector<std::pair<std::string, std::vector<std::string>>> services;  // name, tags
};

// Checks a record a client wants fired (name not empty, not reserved "_...", bounded;
// filters compile).
absl::Status ValidateUserEvent(const proto::agent::UserEventRecord& record);

// Whether the record's filters select `target`, as Consul's shouldProcessUserEvent: the node
// filter matches the node name; with a service filter, some local service's name matches,
// and with a tag filter too, one of that service's tags. Unanchored (Go's MatchString). A
// filter that does not compile selects nothing.
bool EventSelects(const proto::agent::UserEventRecord& record, const EventTarget& target);

class UserEventLog {
 public:
  // Keeps the newest kUserEventsKept; an ID already kept is not kept twice.
  void Add(proto::agent::UserEventRecord record, uint64_t ltime);

  struct Listed {
    std::vector<std::pair<proto::agent::UserEventRecord, uint64_t>> events;  // with LTime, oldest first
    uint64_t index = 1;  // IndexOfEventId of the newest listed; 1 when none (never 0)
  };
  // Every kept event, or those named `name` (exactly) when it is not empty.
  Listed List(std::string_view name) const;

  size_t size() const { return events_.size(); }

 private:
  std::deque<std::pair<proto::agent::UserEventRecord, uint64_t>> events_;
};

// Consul's JSON of a user event: {"ID","Name","Payload" (base64, null when empty),
// "NodeFilter","ServiceFilter","TagFilter","Version","LTime"}.
std::string UserEventJson(const proto::agent::UserEventRecord& record, uint64_t ltime);
std::string UserEventListJson(const UserEventLog::Listed& listed);

}  // namespace muster::agent
