#include "cmd/agent/console_log.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/base/strings.h"

namespace muster::cmd {

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text) {
  const std::string upper = absl::AsciiStrToUpper(Absl(text));
  if (upper == "TRACE") return LogLevel::kTrace;
  if (upper == "DEBUG") return LogLevel::kDebug;
  if (upper == "INFO") return LogLevel::kInfo;
  if (upper == "WARN") return LogLevel::kWarn;
  if (upper == "ERR" || upper == "ERROR") return LogLevel::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("Invalid log level: \"", Absl(text), "\" (want TRACE, DEBUG, INFO, WARN or ERR)"));
}

std::string FormatLogLine(Time now, LogLevel level, std::string_view component, std::string_view message) {
  // hclog pads the bracketed level to seven columns, then one space: "[INFO]  ", "[ERROR] ".
  std::string tag = absl::StrCat("[", Absl(LogLevelName(level)), "]");
  tag.resize(7, ' ');
  return absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone()), " ", tag, " ",
                      Absl(component), ": ", Absl(message), "\n");
}

ConsoleLog::ConsoleLog(FILE* out, LogLevel min_level) : out_(out), min_level_(min_level) {}

void ConsoleLog::Write(Time now, LogLevel level, std::string_view component, std::string_view message) {
  absl::MutexLock lock(&mu_);
  if (level < min_level_) return;
  std::string line = FormatLogLine(now, level, component, message);
  if (open_) {
    Emit(line);
    return;
  }
  if (held_.size() == kHeldLinesMax) {
    held_.pop_front();
    ++held_dropped_;
  }
  held_.push_back(std::move(line));
}

void ConsoleLog::set_min_level(LogLevel level) {
  absl::MutexLock lock(&mu_);
  min_level_ = level;
}

LogLevel ConsoleLog::min_level() const {
  absl::MutexLock lock(&mu_);
  return min_level_;
}

void ConsoleLog::Open() {
  absl::MutexLock lock(&mu_);
  if (open_) return;
  open_ = true;
  if (held_dropped_ > 0) {
    Emit(FormatLogLine(absl::Now(), LogLevel::kWarn, "agent",
                       absl::StrCat(held_dropped_, " log lines from before the start were dropped")));
  }
  while (!held_.empty()) {
    Emit(held_.front());
    held_.pop_front();
  }
}

void ConsoleLog::Emit(const std::string& line) {
  fwrite(line.data(), 1, line.size(), out_);
  fflush(out_);
}

}  // namespace muster::cmd
