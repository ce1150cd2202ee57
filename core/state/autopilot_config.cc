// Autopilot's configuration in the store (operator autopilot set-config): validation and the
// check-and-set write. Kept in the log, as Consul keeps it, so every server's autopilot runs
// on the same configuration and it survives a restart.
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/state/store.h"

namespace muster::state {

absl::Status Store::ValidateAutopilot(const AutopilotConfiguration& config) const {
  const auto duration = [&](const char* field, Duration d) -> absl::Status {
    if (d < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("autopilot ", field, " must not be negative: ", absl::FormatDuration(d)));
    }
    if (d > config_.autopilot_duration_max) {
      return absl::InvalidArgumentError(absl::StrCat("autopilot ", field, " ", absl::FormatDuration(d), " exceeds ",
                                                     absl::FormatDuration(config_.autopilot_duration_max)));
    }
    return absl::OkStatus();
  };
  const auto tag = [&](const char* field, const std::string& value) -> absl::Status {
    if (value.size() > config_.autopilot_tag_bytes_max) {
      return absl::InvalidArgumentError(absl::StrCat("autopilot ", field, " is ", value.size(),
                                                     " bytes long; at most ", config_.autopilot_tag_bytes_max));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = duration("LastContactThreshold", config.last_contact_threshold); !s.ok()) return s;
  if (absl::Status s = duration("ServerStabilizationTime", config.server_stabilization_time); !s.ok()) return s;
  if (config.max_trailing_logs > config_.autopilot_trailing_logs_max) {
    return absl::InvalidArgumentError(absl::StrCat("autopilot MaxTrailingLogs ", config.max_trailing_logs,
                                                   " exceeds ", config_.autopilot_trailing_logs_max));
  }
  if (config.min_quorum > config_.autopilot_min_quorum_max) {
    return absl::InvalidArgumentError(absl::StrCat("autopilot MinQuorum ", config.min_quorum, " exceeds ",
                                                   config_.autopilot_min_quorum_max));
  }
  if (absl::Status s = tag("RedundancyZoneTag", config.redundancy_zone_tag); !s.ok()) return s;
  return tag("UpgradeVersionTag", config.upgrade_version_tag);
}

absl::StatusOr<bool> Store::AutopilotSet(uint64_t idx, AutopilotConfiguration config, bool has_cas,
                                         uint64_t cas) {
  if (absl::Status s = ValidateAutopilot(config); !s.ok()) return s;
  if (has_cas) {
    const uint64_t stored = autopilot_.has_value() ? autopilot_->modify_index : 0;
    if (stored != cas) return false;
  }
  config.create_index = autopilot_.has_value() ? autopilot_->create_index : idx;
  config.modify_index = idx;
  autopilot_ = std::move(config);
  Touch(kTableAutopilot, idx);
  return true;
}

}  // namespace muster::state
