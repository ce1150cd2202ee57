// Consul's `watches` in the agent's config file: each a blocking read the agent makes itself,
// through the same path as the HTTP API's requests (so on a client it is forwarded to a
// server), with a handler run whenever the result changes and the first time, as Consul's
// watch plan (api/watch/plan.go, which `muster watch` follows too, cmd/cli/watch.cc):
//   - each query carries the last index (min_index, kWatchWait), none at first;
//   - an answer with the same index is not a change; an index that went backwards starts
//     over from 0; an answer equal to the last one handed is not a change either;
//   - an error forgets the index and retries after 5 s x failures^2, at most 180 s;
//   - the handler's run is awaited before the next query (Consul calls its handler in the
//     plan's loop), so a watch has at most one run queued and a slow handler delays only
//     its own watch beyond the queue.
// Types and their parameters (Consul's): key (key), keyprefix (prefix), services, nodes,
// service (service, tag: a string or a list, passingonly), checks (service or state), event
// (name); each may say stale, datacenter (only ours) and token (ignored: no ACLs).
//
// What a handler gets is the endpoint's JSON body, as the HTTP API answers it, with Consul's
// watch shaping: key is the one entry (null when absent), KV entries in the Go client's field
// order (Key, CreateIndex, ModifyIndex, LockIndex, Flags, Value, Session), keyprefix null when
// nothing is there, an event watch only the events after the last one handed; <, >, & and
// U+2028/9 escaped as Go's json.Encoder writes them (as `muster watch` hands them). Handlers:
//   handler_type "script" (the default): `args` (a list, run without a shell) or `handler` (a
//     string, through /bin/sh -c), the result and a newline on standard input, CONSUL_INDEX in
//     the environment;
//   handler_type "http": http_handler_config {path, method (POST), header {name: [values]},
//     timeout (10 s), tls_skip_verify}: the result as the body, with Content-Type
//     application/json and X-Consul-Index; a non-2xx answer is logged as a failure.
// Runs go through the agent's HandlerQueue (handler_queue.h). Pure: the queries are the
// agent's own requests (a Requester, as anti-entropy's), the runs ProcessStarts. Unlike
// Consul's, a reload (SIGHUP, `muster reload`) does not add or remove watches or event
// handlers: the agent reloads only its log level; a restart takes new ones.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/agent/handler_queue.h"
#include "core/base/log.h"
#include "core/seam/effects.h"
#include "proto/agent.pb.h"

namespace muster::agent {

inline constexpr size_t kWatchesMax = 256;
inline constexpr size_t kWatchDefinitionBytesMax = 16384;
// How long one watch query may block at the server; the watch asks again after. Shorter than
// Consul's 5 minutes so a watch whose server went away finds another within a minute.
inline constexpr Duration kWatchWait = absl::Seconds(60);
// Consul's back-off after a failed query: kWatchRetryInterval x failures^2, capped.
inline constexpr Duration kWatchRetryInterval = absl::Seconds(5);
inline constexpr Duration kWatchRetryMax = absl::Seconds(180);
// One watch's queries are at least this far apart, so an endpoint that answers at once
// without a change cannot make the agent spin.
inline constexpr Duration kWatchQueryIntervalMin = absl::Milliseconds(100);
inline constexpr Duration kWatchHttpTimeoutDefault = absl::Seconds(10);

struct WatchDefinition {
  std::string type;
  std::string what;  // for the log: "watch key foo/bar"
  // The read: an agent request method and its call (without min_index and wait).
  std::string method;
  proto::agent::Call call;
  bool not_found_is_null = false;  // key, keyprefix: a 404 is null, not an error
  bool kv_pairs = false;           // key, keyprefix: entries in the Go client's order
  bool single_pair = false;        // key: the entry, not the list
  bool events = false;             // event: only the events after the last handed
  // The handler.
  enum class HandlerKind : uint8_t { kShell, kExec, kHttp };
  HandlerKind handler_kind = HandlerKind::kShell;
  std::string shell_command;           // kShell (`handler`)
  std::vector<std::string> args;       // kExec (`args`)
  std::string url;                     // kHttp
  std::string http_method = "POST";
  std::vector<std::pair<std::string, std::string>> headers;
  Duration timeout = kHandlerTimeoutDefault;
  bool tls_skip_verify = false;
};

// One `watches` entry (its JSON object as written) read as Consul's agent reads it; errors say
// what is wrong as Consul's do ("Must specify a single key to watch", "Invalid parameters:
// [...]", "Unsupported watch type: ...", "Must define a watch handler", ...).
absl::StatusOr<WatchDefinition> ParseWatch(std::string_view json, std::string_view datacenter);

// What the handler is handed for one answer (without the trailing newline): the body shaped as
// the type says. `last_event_id` is the newest event handed before (event watches; empty at
// first: every listed event is new). nullopt when the body is not JSON.
std::optional<std::string> WatchResult(const WatchDefinition& watch, bool not_found, std::string_view body,
                                       std::string_view last_event_id);

class Watches {
 public:
  using Callback = std::function<void(const absl::Status&, const proto::agent::Reply&)>;
  // Issues one of the agent's own requests; `done` runs exactly once, perhaps before it returns.
  using Requester = std::function<void(const std::string& method, const proto::agent::Call& call, Callback done)>;

  Watches(std::vector<WatchDefinition> watches, Time now, Logger log);

  bool empty() const { return watches_.empty(); }
  // Handles the answers and handler ends since the last call, runs the handlers of changed
  // results, issues the queries that are due; requests the next wake-up.
  void Tick(Time now, const Requester& request, HandlerQueue& queue, Effects* out);
  // An answer arrived after this step's Tick: the agent asks to be ticked again at once.
  bool wants_tick() const { return answers_waiting_ > 0; }

  uint64_t queries() const { return queries_; }
  uint64_t runs() const { return runs_; }

 private:
  enum class Phase : uint8_t { kIdle, kQuerying, kRunning };
  struct State {
    Phase phase = Phase::kIdle;
    Time due;  // kIdle: when the next query may go
    Time issued_at = absl::InfinitePast();
    std::optional<uint64_t> last_index;
    std::optional<std::string> last_result;
    std::string last_event_id;
    uint64_t failures = 0;
    std::optional<std::pair<absl::Status, proto::agent::Reply>> answer;
  };
  void HandleAnswer(Time now, size_t i, HandlerQueue& queue, Effects* out);
  void Idle(Time now, State& s);

  std::vector<WatchDefinition> watches_;
  std::vector<State> states_;
  Logger log_;
  int answers_waiting_ = 0;
  uint64_t queries_ = 0, runs_ = 0;
};

}  // namespace muster::agent
