// At most one log line per interval for a kind of event strangers can cause at will (garbage
// on a port, a flood of malformed messages): the first is written at once, the rest within the
// interval are counted, and the next line written says how many were held back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/base/time.h"

namespace muster {

class LogThrottle {
 public:
  explicit LogThrottle(Duration interval = absl::Seconds(1)) : interval_(interval) {}

  // Whether a line may be written at `now`. When it may, `*note` is "" or, if lines were held
  // back since the last one, " (N more since the last such line)" to append to it.
  bool Allow(Time now, std::string* note) {
    if (last_.has_value() && now - *last_ < interval_) {
      ++held_;
      return false;
    }
    *note = held_ > 0 ? absl::StrCat(" (", held_, " more since the last such line)") : "";
    last_ = now;
    held_ = 0;
    return true;
  }

 private:
  Duration interval_;
  std::optional<Time> last_;
  uint64_t held_ = 0;
};

}  // namespace muster
