// The inputs every core state machine takes. An Input is "at time `now`, this happened";
// the machine changes state and answers with Effects (effects.h). Time only moves through
// these inputs: a machine that asked to be woken at T receives a Tick with now >= T.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "core/base/node_id.h"
#include "core/base/time.h"
#include "core/seam/channel.h"

namespace muster {

// Time advanced; the machine runs whatever timers are due at `now`.
struct TickInput {};

// A message arrived from `from` over `channel`. Payload bytes are the sender's encoding
// (protobuf between muster agents); the machine rejects what it cannot parse.
struct MessageInput {
  Address from;
  Channel channel = Channel::kDatagram;
  std::string payload;
  Endpoint endpoint = Endpoint::kLan;  // the local endpoint it arrived on (channel.h)
};

// The storage write with this id (and every write issued before it) is now durable.
struct WriteDurableInput {
  uint64_t write_id = 0;
};

// A task started by a ProcessStart effect ended (a process exited, a probe was answered or
// failed; effects.h says what exit_code means for each kind).
struct ProcessExitedInput {
  uint64_t process_id = 0;
  int exit_code = 0;
  bool timed_out = false;
  std::string output;  // stdout and stderr / the HTTP body / why a probe failed, truncated by the host to a limit it states
};

// A client request (HTTP API, RPC from another agent, simulator workload). The host picks
// `request_id`; the machine answers with a Response carrying the same id, perhaps later.
struct RequestInput {
  uint64_t request_id = 0;
  std::string method;  // e.g. "kv.put"; each machine documents the methods it serves
  std::string body;
};

// The stream to `peer` from our `endpoint` closed or could not be opened (refused, reset, EOF,
// a failed write), so nothing more sent on it arrives and no answer comes back on it. Hosts
// deliver at most one per connection and never for datagrams (README.md says when). `unsent`:
// frames we gave that stream were not all written. A new send opens a new stream.
struct StreamBrokenInput {
  Endpoint endpoint = Endpoint::kLan;
  Address peer;  // the address we sent to (outbound), or the one its frames named (inbound)
  bool unsent = false;
};

using InputEvent =
    std::variant<TickInput, MessageInput, WriteDurableInput, ProcessExitedInput, RequestInput, StreamBrokenInput>;

struct Input {
  Time now;
  InputEvent what;
};

}  // namespace muster
