// The agent's one queue of handler runs: event handlers (-event-handler, event_handlers.h) and
// watch handlers (watches.h). Runs start in the order they were queued, at most one at a time,
// each with a timeout the host enforces (ProcessStart::timeout: io/ kills the process group,
// sim/ ends it at the timeout), so a slow or failing handler delays later runs by at most its
// timeout and never blocks the agent: the queue only emits ProcessStarts and learns of their
// ends (ProcessExitedInput), it never waits.
//
// Bounded: at most kHandlerRunsQueuedMax runs (and kHandlerQueuedBytesMax of their standard
// input) wait behind the running one. Past either, the OLDEST waiting run is dropped, with a
// warning (one a second, with the count since): the newest carries the cluster's current state
// (a watch's latest result, the latest member events), which an old one only precedes.
//
// A component of the agent (core/seam/README.md's convention): it numbers its processes 1, 2,
// ... per life; the agent's Composition renumbers them and routes each exit back here.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "core/base/log.h"
#include "core/base/log_throttle.h"
#include "core/seam/effects.h"
#include "core/seam/input.h"

namespace muster::agent {

inline constexpr size_t kHandlerRunsQueuedMax = 64;
inline constexpr size_t kHandlerQueuedBytesMax = size_t{8} << 20;
// A handler process that has not exited by then is killed (event handlers, script watches;
// an HTTP watch handler takes its http_handler_config timeout, Consul's default 10 s).
inline constexpr Duration kHandlerTimeoutDefault = absl::Seconds(60);
// Ended owners waiting for TakeEnded: each watch has at most one run queued (watches.h, at most
// kWatchesMax of them) and the agent drains them every step, so a few hundred at the very most.
inline constexpr size_t kEndedOwnersMax = 4096;

struct HandlerRun {
  // Who asked (0: an event handler; a watch's number otherwise): told when the run ended or
  // was dropped (TakeEnded), so a watch issues its next query only then, as Consul's watch
  // plan calls its handler and waits for it.
  uint64_t owner = 0;
  std::string what;    // for the log: "event handler \"...\" (member-join)", "watch key foo"
  ProcessStart start;  // its id is the queue's to set
};

class HandlerQueue {
 public:
  explicit HandlerQueue(Logger log);

  // Queues a run (dropping the oldest waiting one past the bounds) and starts it if nothing
  // runs.
  void Enqueue(Time now, HandlerRun run, Effects* out);
  // A run ended: logged (a failure, a timeout, a non-2xx HTTP answer as warnings), and the
  // next one started. An id that is not the running one's is ignored.
  void HandleProcessExit(Time now, const ProcessExitedInput& exit, Effects* out);

  // The owners of runs that ended or were dropped since the last call, in that order (owner 0,
  // an event handler's, is nobody to tell and is not kept).
  std::vector<uint64_t> TakeEnded();

  bool running() const { return running_.has_value(); }
  size_t queued() const { return queued_.size(); }
  uint64_t started() const { return started_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t failed() const { return failed_; }

 private:
  void StartNext(Effects* out);

  Logger log_;
  std::deque<HandlerRun> queued_;
  size_t queued_bytes_ = 0;
  std::optional<HandlerRun> running_;
  uint64_t next_process_id_ = 1;
  std::vector<uint64_t> ended_;
  uint64_t started_ = 0, dropped_ = 0, failed_ = 0;
  LogThrottle drop_log_;
};

}  // namespace muster::agent
