// The effects a core state machine hands its host after each input, and the ordering rules
// the host must follow. Both hosts (io/'s libuv runtime and sim/) carry out exactly these.
//
// Ordering rules (the contract):
//  1. `writes` are applied to storage in order. A write with sync = true is durable only
//     when the host has synced it (fsync); the host then delivers WriteDurableInput{id}.
//     A durable write implies every earlier write of the same machine is durable too.
//  2. A message or response with after_write_id = W must not leave the host before write W
//     is durable: this is how "persist the vote before replying" is expressed. With
//     after_write_id = 0 it may leave at once.
//  3. Reads through StorageView see every write already issued, synced or not (as an OS
//     page cache does); a crash loses the writes not yet durable.
//  4. `wake_at` is the earliest time the machine wants a TickInput; the host may tick it
//     later, never earlier. A later Effects' wake_at replaces an earlier one.
//  5. Every RequestInput gets exactly one Response with its request_id, now or in a later
//     batch: success, or an error the client can retry on (UNAVAILABLE, e.g. "leadership
//     lost") when the machine cannot finish it. Never two, and never none while the machine
//     lives: anything it parks (a read awaiting a quorum, a write awaiting commit) it answers
//     when the wait can no longer end. Only a crash ends a request unanswered (the host drops
//     it with the machine). The simulator checks this for raft (tests/raft_sim checker).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/base/node_id.h"
#include "core/base/time.h"
#include "core/seam/channel.h"

namespace muster {

struct OutboundMessage {
  Address to;
  Channel channel = Channel::kDatagram;
  std::string payload;
  uint64_t after_write_id = 0;  // 0: no durability precondition
  Endpoint endpoint = Endpoint::kLan;  // the local endpoint it leaves from (channel.h)
};

struct StorageOp {
  enum class Kind : uint8_t { kPut, kDelete, kDeleteRange };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;  // kPut: the value; kDeleteRange: the end key (exclusive)
};

struct StorageWrite {
  uint64_t id = 0;  // unique and increasing per machine
  std::vector<StorageOp> ops;  // applied atomically
  bool sync = false;

  void Put(std::string key, std::string value) {
    ops.push_back({StorageOp::Kind::kPut, std::move(key), std::move(value)});
  }
  void Delete(std::string key) { ops.push_back({StorageOp::Kind::kDelete, std::move(key), {}}); }
  void DeleteRange(std::string begin, std::string end) {
    ops.push_back({StorageOp::Kind::kDeleteRange, std::move(begin), std::move(end)});
  }
};

// A task the host runs for the machine and reports the end of: a process (script health
// checks, event handlers) or a probe (HTTP and TCP health checks). Its end comes back as
// ProcessExitedInput with the same id, whatever the kind; every start gets exactly one end
// (a timeout or a failure to start is an end too).
struct ProcessStart {
  enum class Kind : uint8_t {
    kShell,  // `command` with /bin/sh -c
    kExec,   // `args` (argv[0] first, looked up in PATH), no shell
    kHttp,   // an HTTP request: exit_code is the status (0: no answer), output the body
    kTcp,    // a TCP connect to `address`: exit_code 0 connected, 1 not
  };
  uint64_t id = 0;
  Kind kind = Kind::kShell;
  std::string command;            // kShell
  std::vector<std::string> args;  // kExec
  std::vector<std::pair<std::string, std::string>> env;  // kShell, kExec
  std::string stdin_data;                                // kShell, kExec
  // kHttp: the URL (http:// or https://), method, headers in order, body, and whether a TLS
  // certificate is taken unverified (Consul's tls_skip_verify).
  std::string url;
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool tls_skip_verify = false;
  std::string address;  // kTcp: host:port ([v6]:port)
  Duration timeout = absl::Seconds(30);
};

struct Response {
  uint64_t request_id = 0;
  absl::Status status;
  std::string body;
  uint64_t after_write_id = 0;  // as for messages: acknowledge only what is durable
};

// A notification for the host and its observers (member-join, leader elected, ...).
struct Event {
  std::string kind;
  std::string payload;
  uint64_t ltime = 0;  // user events and queries: their Lamport time in the pool
};

struct Effects {
  std::vector<StorageWrite> writes;
  std::vector<OutboundMessage> messages;
  std::vector<ProcessStart> processes;
  std::vector<Response> responses;
  std::vector<Event> events;
  std::optional<Time> wake_at;

  // Keeps the earliest requested wake-up among the calls made while producing this batch.
  void WakeAt(Time t) {
    if (!wake_at.has_value() || t < *wake_at) wake_at = t;
  }

  bool empty() const {
    return writes.empty() && messages.empty() && processes.empty() && responses.empty() &&
           events.empty() && !wake_at.has_value();
  }

  // Moves `other`'s effects after this batch's, keeping the earlier wake-up.
  void Append(Effects&& other);

  void Clear() { *this = Effects(); }
};

}  // namespace muster
