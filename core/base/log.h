// Logging through an injected sink: the core never writes to stderr itself, so the
// simulator can capture a deterministic trace and io/ can format lines like Consul's
// ("[INFO]  agent.server.raft: entering leader state").
#pragma once

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "core/base/strings.h"
#include "core/base/time.h"

namespace muster {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

std::string_view LogLevelName(LogLevel level);

class LogSink {
 public:
  virtual ~LogSink() = default;
  // `component` is a dotted name such as "agent.server.raft"; `now` is the core's input time.
  virtual void Write(Time now, LogLevel level, std::string_view component, std::string_view message) = 0;
};

// Discards everything: the default for unit tests that do not look at logs.
class NullLogSink final : public LogSink {
 public:
  void Write(Time, LogLevel, std::string_view, std::string_view) override {}
};

// A named handle a core object keeps; cheap to copy. A null sink is allowed.
class Logger {
 public:
  Logger() = default;
  Logger(LogSink* sink, std::string component, LogLevel min_level = LogLevel::kInfo)
      : sink_(sink), component_(std::move(component)), min_level_(min_level) {}

  bool Enabled(LogLevel level) const { return sink_ != nullptr && level >= min_level_; }

  template <typename... Args>
  void Log(Time now, LogLevel level, const Args&... args) const {
    if (Enabled(level)) sink_->Write(now, level, component_, absl::StrCat(args...));
  }
  template <typename... Args>
  void Info(Time now, const Args&... args) const { Log(now, LogLevel::kInfo, args...); }
  template <typename... Args>
  void Warn(Time now, const Args&... args) const { Log(now, LogLevel::kWarn, args...); }
  template <typename... Args>
  void Debug(Time now, const Args&... args) const { Log(now, LogLevel::kDebug, args...); }

  Logger Child(std::string_view name) const {
    return Logger(sink_, absl::StrCat(component_, ".", Absl(name)), min_level_);
  }
  const std::string& component() const { return component_; }

 private:
  LogSink* sink_ = nullptr;
  std::string component_;
  LogLevel min_level_ = LogLevel::kInfo;
};

}  // namespace muster
