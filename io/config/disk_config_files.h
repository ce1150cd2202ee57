// ConfigFiles on the real file system, for the `muster agent` binary (tests use memory).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "io/config/agent_config_loader.h"

namespace muster::config {

class DiskConfigFiles final : public ConfigFiles {
 public:
  absl::StatusOr<std::string> ReadFile(const std::string& path) const override;
  // Regular files only (following symlinks); subdirectories are not config, as in Consul.
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) const override;
};

}  // namespace muster::config
