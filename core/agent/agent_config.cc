#include "core/agent/agent_config.h"

#include <array>
#include "absl/strings/string_view.h"
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/agent/event_handlers.h"
#include "core/agent/identity.h"
#include "core/agent/watches.h"

namespace muster::agent {
namespace {

constexpr int kPortMin = 1;
constexpr int kPortMax = 65535;

absl::Status Refuse(absl::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

// Consul's datacenter rule: lowercase letters, digits, '-' and '_' (it is a DNS label).
bool IsValidDatacenter(absl::string_view dc) {
  if (dc.empty()) return false;
  for (char c : dc) {
    const auto u = static_cast<unsigned char>(c);
    if (!absl::ascii_isdigit(u) && !absl::ascii_islower(u) && c != '-' && c != '_') return false;
  }
  return true;
}

bool IsKnownLogLevel(absl::string_view level) {
  const std::string upper = absl::AsciiStrToUpper(std::string(level));
  for (absl::string_view known : {"TRACE", "DEBUG", "INFO", "WARN", "ERR", "ERROR"}) {
    if (upper == known) return true;
  }
  return false;
}

struct NamedPort {
  const char* flag;
  const char* key;
  int port;
  bool may_disable;
};

absl::Status ValidatePorts(const AgentPorts& ports) {
  const std::array<NamedPort, 5> named = {{
      {"-dns-port", "ports.dns", ports.dns, true},
      {"-http-port", "ports.http", ports.http, true},
      {"-serf-lan-port", "ports.serf_lan", ports.serf_lan, false},
      {"-serf-wan-port", "ports.serf_wan", ports.serf_wan, false},
      {"-server-port", "ports.server", ports.server, false},
  }};
  for (const NamedPort& p : named) {
    if (p.may_disable && p.port == kPortDisabled) continue;
    if (p.port < kPortMin || p.port > kPortMax) {
      return Refuse(absl::StrCat(p.flag, " (", p.key, ") must be in ", kPortMin, "..", kPortMax,
                                 p.may_disable ? " or -1 to disable it" : "", ", got ", p.port));
    }
  }
  for (size_t i = 0; i < named.size(); ++i) {
    for (size_t j = i + 1; j < named.size(); ++j) {
      if (named[i].port == kPortDisabled || named[i].port != named[j].port) continue;
      return Refuse(absl::StrCat(named[i].flag, " (", named[i].key, ") and ", named[j].flag, " (",
                                 named[j].key, ") are both ", named[i].port, ": each port needs its own"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateModes(const AgentConfig& config) {
  // -dev's own rules first, so a dev agent hears about -dev rather than what it implies.
  if (config.dev_mode) {
    if (!config.server) return Refuse("-dev runs a server: server = false is not allowed with it");
    if (!config.bootstrap) return Refuse("-dev bootstraps itself: bootstrap = false is not allowed with it");
    if (config.bootstrap_expect > 0) {
      return Refuse("-bootstrap-expect (bootstrap_expect) is not allowed with -dev, which bootstraps alone");
    }
    if (!config.data_dir.empty()) {
      return Refuse("-data-dir (data_dir) is not allowed with -dev, which keeps its data in memory");
    }
  } else if (config.data_dir.empty()) {
    return Refuse("-data-dir (data_dir) is required (only -dev runs without one)");
  }
  if (config.bootstrap_expect < 0) {
    return Refuse(absl::StrCat("-bootstrap-expect (bootstrap_expect) must be 0 or more, got ", config.bootstrap_expect));
  }
  if (config.bootstrap && config.bootstrap_expect > 0) {
    return Refuse("-bootstrap (bootstrap) and -bootstrap-expect (bootstrap_expect) are mutually exclusive");
  }
  if (config.bootstrap_expect > 0 && !config.server) {
    return Refuse("-bootstrap-expect (bootstrap_expect) needs -server (server = true)");
  }
  if (config.bootstrap && !config.server) return Refuse("-bootstrap (bootstrap) needs -server (server = true)");
  return absl::OkStatus();
}

absl::Status ValidateIdentity(const AgentConfig& config) {
  if (!config.node_id.empty()) {
    if (absl::StatusOr<std::string> id = ParseNodeId(config.node_id); !id.ok()) {
      return Refuse(absl::StrCat("-node-id (node_id) '", config.node_id, "': ", id.status().message()));
    }
  }
  if (absl::Status name = ValidateNodeName(config.node_name); !name.ok()) {
    return Refuse(absl::StrCat("-node (node_name): ", name.message()));
  }
  if (!IsValidDatacenter(config.datacenter)) {
    return Refuse(absl::StrCat("-datacenter (datacenter) '", config.datacenter,
                               "' may hold only lowercase letters, digits, '-' and '_', and not be empty"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRest(const AgentConfig& config) {
  if (config.bind_addr.empty()) return Refuse("-bind (bind_addr) must not be empty");
  if (config.client_addr.empty()) return Refuse("-client (client_addr) must not be empty");
  if (config.retry_max < 0) return Refuse(absl::StrCat("-retry-max (retry_max) must be 0 or more, got ", config.retry_max));
  if (config.raft_snapshot_threshold < 1) {
    return Refuse(absl::StrCat("-raft-snapshot-threshold (raft_snapshot_threshold) must be 1 or more, got ",
                              config.raft_snapshot_threshold));
  }
  if (config.retry_interval <= absl::ZeroDuration() || config.retry_interval == absl::InfiniteDuration()) {
    return Refuse(absl::StrCat("-retry-interval (retry_interval) must be a positive duration, got ",
                               absl::FormatDuration(config.retry_interval)));
  }
  if (config.check_reap_interval <= absl::ZeroDuration() || config.check_reap_interval == absl::InfiniteDuration()) {
    return Refuse(absl::StrCat("check_reap_interval must be a positive duration, got ",
                               absl::FormatDuration(config.check_reap_interval)));
  }
  if (config.check_deregister_interval_min < absl::ZeroDuration() ||
      config.check_deregister_interval_min == absl::InfiniteDuration()) {
    return Refuse(absl::StrCat("check_deregister_interval_min must be a duration of 0 or more, got ",
                               absl::FormatDuration(config.check_deregister_interval_min)));
  }
  if (!IsKnownLogLevel(config.log_level)) {
    return Refuse(absl::StrCat("-log-level (log_level) '", config.log_level,
                               "' is not one of trace, debug, info, warn, err"));
  }
  return absl::OkStatus();
}

}  // namespace

bool LeavesOnTerminate(const AgentConfig& config) {
  return config.leave_on_terminate.value_or(!config.server);
}

void ApplyDevDefaults(AgentConfig& config) {
  config.dev_mode = true;
  config.server = true;
  config.bootstrap = true;
  config.bind_addr = "127.0.0.1";
  config.client_addr = "127.0.0.1";
  config.log_level = "DEBUG";
  config.data_dir.clear();
  config.check_reap_interval = absl::Seconds(3);
  config.check_deregister_interval_min = absl::ZeroDuration();
}

namespace {

absl::Status ValidateHandlers(const AgentConfig& config) {
  if (config.event_handlers.size() > kEventHandlersMax) {
    return Refuse(absl::StrCat("-event-handler (event_handlers): more than ", kEventHandlersMax));
  }
  for (const std::string& h : config.event_handlers) {
    if (absl::StatusOr<EventHandlerDefinition> d = ParseEventHandler(h); !d.ok()) {
      return Refuse(absl::StrCat("-event-handler (event_handlers): ", d.status().message()));
    }
  }
  if (config.watches.size() > kWatchesMax) return Refuse(absl::StrCat("watches: more than ", kWatchesMax));
  for (const std::string& w : config.watches) {
    if (absl::StatusOr<WatchDefinition> d = ParseWatch(w, config.datacenter); !d.ok()) {
      return Refuse(absl::StrCat("watches: ", d.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Validate(const AgentConfig& config) {
  for (absl::Status s : {ValidateModes(config), ValidateIdentity(config), ValidatePorts(config.ports),
                         ValidateRest(config), ValidateHandlers(config)}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace muster::agent
