// `muster agent`'s command line and JSON config files into one AgentConfig, as Consul builds
// its runtime config: defaults (and -dev's, when given), then each -config-file and -config-dir
// in the order given (a dir's *.json files in lexical order), then the flags. A later source
// overrides an earlier one's scalars and appends to its lists (start_join, retry_join).
// Anything not understood is refused, never guessed at: an unknown flag or key, a value of the
// wrong type, a bad duration, an HCL file; each error names the flag, file and key.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/agent/agent_config.h"

namespace muster::config {

// How the loader reaches files, so tests can give it files held in memory.
class ConfigFiles {
 public:
  virtual ~ConfigFiles() = default;
  // The whole content of the file at `path`.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) const = 0;
  // The names (not paths) of the regular files directly inside `dir`, in any order.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) const = 0;
};

// The agent's configuration from `args`, the arguments after `muster agent`. Flags take Go's
// forms, as Consul's: `-name=value`, `-name value`, `--name` likewise, and a bare `-name` for
// a boolean. `hostname` is the node name when none is configured. The result has passed
// agent::Validate, with the node ID in canonical form and the datacenter lowercased (as
// Consul lowercases it).
absl::StatusOr<agent::AgentConfig> LoadAgentConfig(std::vector<std::string> args, const ConfigFiles& files,
                                                   std::string_view hostname);

// A Consul duration ("10s", "1m", "1h30m", "500ms"): a unit is required unless it is 0, and
// it may be neither negative nor infinite.
absl::StatusOr<absl::Duration> ParseConfigDuration(std::string_view text);

}  // namespace muster::config
