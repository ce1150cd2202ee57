// Prints a core/seam Effects batch as text for script tests, one line per effect, so the
// durability gate (rule 2 of core/seam/effects.h) shows in every story's diff:
//
//   write 3 sync: put raft/hard (14 B); delete-range [raft/l/4, raft/l/18446744073709551615)
//   message to n2 stream 24 B after_write_id=3: MSG_VOTE_RESP term=2 granted
//   response 7 OK after_write_id=3: 12 B
//   process 1 "check.sh" timeout=30s
//   event member-join: a
//   wake_at +1.5s
//
// Writes show their id, whether they must be synced, and each op (values by size); messages
// their destination, channel, payload size and the write they wait for (0: none); responses
// their request id, status and the write they wait for. Each machine passes how to read its
// own keys and payloads; the default shows keys C-escaped and payloads by size only.
#pragma once

#include <functional>
#include <string>

#include "core/base/time.h"
#include "core/seam/effects.h"

namespace muster::script {

struct BatchFormat {
  // A storage key as text; empty: C-escaped bytes.
  std::function<std::string(const std::string& key)> describe_key;
  // What a message says (e.g. its decoded type); empty: nothing past its size.
  std::function<std::string(const OutboundMessage& message)> describe_message;
  // What a response's body says; empty: its size.
  std::function<std::string(const Response& response)> describe_response;
  // wake_at is shown relative to this time.
  Time epoch = SimEpoch();
  // Also print wake_at (a story about timers wants it; one about messages may not).
  bool show_wake_at = true;
};

// One line per effect, joined by '\n' (no trailing newline); "" for an empty batch.
std::string FormatBatch(const Effects& effects, const BatchFormat& format = {});

// "NODE batch:" and the batch's lines indented below it; "" for an empty batch.
std::string FormatNodeBatch(const std::string& node, const Effects& effects, const BatchFormat& format = {});

}  // namespace muster::script
