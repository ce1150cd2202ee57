// The agent's log on a terminal, in Consul's line shape (hclog's):
//   2026-12-01T13:44:17.123Z [INFO]  agent.server.raft: entering leader state
// UTC with milliseconds, the level padded to five letters in brackets, then the component.
// Lines below the -log-level are dropped; the level can change while running (SIGHUP).
// Until Open() the lines are held, so the start banner comes first (Consul's GatedWriter);
// at most kHeldLinesMax are held, and how many were dropped past it is said when it opens.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/base/log.h"

namespace muster::cmd {

inline constexpr size_t kHeldLinesMax = 4096;

// -log-level's values, as Consul takes them: TRACE, DEBUG, INFO, WARN, ERR or ERROR, any case.
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text);

// One line, newline included.
std::string FormatLogLine(Time now, LogLevel level, std::string_view component, std::string_view message);

class ConsoleLog final : public LogSink {
 public:
  // `out` stays open while this lives (stdout in the binary, a temp file in tests).
  ConsoleLog(FILE* out, LogLevel min_level);

  void Write(Time now, LogLevel level, std::string_view component, std::string_view message) override;
  void set_min_level(LogLevel level);
  LogLevel min_level() const;
  // Writes the held lines and every later one as it comes.
  void Open();

 private:
  void Emit(const std::string& line) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  FILE* const out_;
  mutable absl::Mutex mu_;  // the host's sync thread may log a storage failure
  LogLevel min_level_ ABSL_GUARDED_BY(mu_);
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::string> held_ ABSL_GUARDED_BY(mu_);
  uint64_t held_dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace muster::cmd
