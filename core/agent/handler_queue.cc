#include "core/agent/handler_queue.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "core/base/check.h"
#include "core/base/strings.h"

namespace muster::agent {
namespace {

// What a handler printed, on one log line: trimmed, newlines shown as " | ".
std::string OutputForLog(std::string_view output) {
  std::string out;
  for (char c : absl::StripAsciiWhitespace(Absl(output))) {
    if (c == '\n') {
      out += " | ";
    } else if (c != '\r') {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

HandlerQueue::HandlerQueue(Logger log) : log_(std::move(log)) {}

void HandlerQueue::Enqueue(Time now, HandlerRun run, Effects* out) {
  queued_bytes_ += run.start.stdin_data.size() + run.start.body.size();
  queued_.push_back(std::move(run));
  size_t dropped_now = 0;
  while (queued_.size() > kHandlerRunsQueuedMax || (queued_bytes_ > kHandlerQueuedBytesMax && queued_.size() > 1)) {
    HandlerRun& oldest = queued_.front();
    queued_bytes_ -= oldest.start.stdin_data.size() + oldest.start.body.size();
    if (oldest.owner != 0) ended_.push_back(oldest.owner);
    MUSTER_CHECK_LE(ended_.size(), kEndedOwnersMax);
    queued_.pop_front();
    ++dropped_;
    ++dropped_now;
  }
  MUSTER_CHECK_LE(queued_.size(), kHandlerRunsQueuedMax);
  std::string note;
  if (dropped_now > 0 && drop_log_.Allow(now, &note)) {
    log_.Warn(now, "handler queue full (", kHandlerRunsQueuedMax, " runs or ", kHandlerQueuedBytesMax >> 20,
              " MiB waiting): dropped the oldest waiting run; ", dropped_, " dropped so far", note);
  }
  if (!running_.has_value()) StartNext(out);
}

void HandlerQueue::StartNext(Effects* out) {
  if (queued_.empty()) return;
  running_ = std::move(queued_.front());
  queued_.pop_front();
  queued_bytes_ -= running_->start.stdin_data.size() + running_->start.body.size();
  running_->start.id = next_process_id_++;
  ++started_;
  // The start goes to the host; the queue keeps only what the exit's log line needs.
  ProcessStart kept;
  kept.id = running_->start.id;
  kept.kind = running_->start.kind;
  kept.timeout = running_->start.timeout;
  out->processes.push_back(std::exchange(running_->start, std::move(kept)));
}

void HandlerQueue::HandleProcessExit(Time now, const ProcessExitedInput& exit, Effects* out) {
  if (!running_.has_value() || running_->start.id != exit.process_id) return;
  const HandlerRun& run = *running_;
  const bool http = run.start.kind == ProcessStart::Kind::kHttp;
  const bool ok = !exit.timed_out && (http ? exit.exit_code >= 200 && exit.exit_code <= 299 : exit.exit_code == 0);
  if (!ok) ++failed_;
  if (exit.timed_out) {
    log_.Warn(now, run.what, ": killed after its timeout of ", absl::FormatDuration(run.start.timeout));
  } else if (!ok && http) {
    log_.Warn(now, run.what, ": http handler failed with status code ", exit.exit_code, ": ", OutputForLog(exit.output));
  } else if (!ok) {
    log_.Warn(now, run.what, ": handler exited ", exit.exit_code, ": ", OutputForLog(exit.output));
  } else {
    const std::string output = OutputForLog(exit.output);
    log_.Debug(now, run.what, ": handler done", output.empty() ? "" : ", output: ", output);
  }
  if (run.owner != 0) ended_.push_back(run.owner);
  MUSTER_CHECK_LE(ended_.size(), kEndedOwnersMax);
  running_.reset();
  StartNext(out);
}

std::vector<uint64_t> HandlerQueue::TakeEnded() { return std::exchange(ended_, {}); }

}  // namespace muster::agent
