#include "io/config/agent_config_loader.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/agent/dns_resolve.h"
#include "core/agent/identity.h"
#include "nlohmann/json.hpp"

namespace muster::config {
namespace {

using agent::AgentConfig;
using agent::AgentPorts;
using Json = nlohmann::json;

constexpr absl::string_view kHclRefusal = "HCL is not supported, write JSON";

// ---- Config keys: where each JSON key lands in AgentConfig, by its type. ----

using Field = std::variant<bool AgentConfig::*, int AgentConfig::*, std::string AgentConfig::*,
                           std::vector<std::string> AgentConfig::*, absl::Duration AgentConfig::*,
                           std::optional<bool> AgentConfig::*>;

struct KeySpec {
  absl::string_view key;
  Field field;
};

constexpr absl::string_view kPortsKey = "ports";

const KeySpec kKeys[] = {
    {"server", &AgentConfig::server},
    {"bootstrap_expect", &AgentConfig::bootstrap_expect},
    {"bootstrap", &AgentConfig::bootstrap},
    {"node_name", &AgentConfig::node_name},
    {"node_id", &AgentConfig::node_id},
    {"datacenter", &AgentConfig::datacenter},
    {"data_dir", &AgentConfig::data_dir},
    {"bind_addr", &AgentConfig::bind_addr},
    {"advertise_addr", &AgentConfig::advertise_addr},
    {"client_addr", &AgentConfig::client_addr},
    {"start_join", &AgentConfig::start_join},
    {"retry_join", &AgentConfig::retry_join},
    {"retry_interval", &AgentConfig::retry_interval},
    {"retry_max", &AgentConfig::retry_max},
    {"rejoin_after_leave", &AgentConfig::rejoin_after_leave},
    {"log_level", &AgentConfig::log_level},
    {"leave_on_terminate", &AgentConfig::leave_on_terminate},
    {"raft_snapshot_threshold", &AgentConfig::raft_snapshot_threshold},
    {"enable_script_checks", &AgentConfig::enable_script_checks},
    {"strict_http_methods", &AgentConfig::strict_http_methods},
    {"event_handlers", &AgentConfig::event_handlers},  // Serf's, not Consul's: -event-handler
    {"domain", &AgentConfig::domain},
    {"alt_domain", &AgentConfig::alt_domain},
    {"recursors", &AgentConfig::recursors},
    {"check_reap_interval", &AgentConfig::check_reap_interval},
    {"check_deregister_interval_min", &AgentConfig::check_deregister_interval_min},
};

struct PortSpec {
  absl::string_view key;
  int AgentPorts::*field;
};

const PortSpec kPorts[] = {
    {"dns", &AgentPorts::dns},           {"http", &AgentPorts::http},
    {"serf_lan", &AgentPorts::serf_lan}, {"serf_wan", &AgentPorts::serf_wan},
    {"server", &AgentPorts::server},
};

absl::string_view TypeName(const Json& value) {
  if (value.is_number_float()) return "a fractional number";
  if (value.is_number()) return "an integer";
  if (value.is_boolean()) return "a boolean";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "a list";
  if (value.is_object()) return "an object";
  return "null";
}

// Errors while applying one source say which source ("config file PATH" or "command line")
// and which key.
absl::Status KeyError(absl::string_view source, absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": key '", key, "' ", what));
}

absl::Status WrongType(absl::string_view source, absl::string_view key, absl::string_view wanted, const Json& value) {
  return KeyError(source, key, absl::StrCat("must be ", wanted, ", got ", TypeName(value)));
}

absl::StatusOr<int> IntOf(absl::string_view source, absl::string_view key, const Json& value) {
  if (!value.is_number_integer()) return WrongType(source, key, "an integer", value);
  if (value.is_number_unsigned()) {
    const auto u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
      return KeyError(source, key, absl::StrCat("is out of range: ", u));
    }
    return static_cast<int>(u);
  }
  const auto i = value.get<int64_t>();
  if (i < std::numeric_limits<int>::min() || i > std::numeric_limits<int>::max()) {
    return KeyError(source, key, absl::StrCat("is out of range: ", i));
  }
  return static_cast<int>(i);
}

// Sets one field from one JSON value; a list appends (Consul's merge of slices).
struct FieldSetter {
  absl::string_view source;
  absl::string_view key;
  const Json& value;
  AgentConfig& config;

  absl::Status operator()(bool AgentConfig::*field) const {
    if (!value.is_boolean()) return WrongType(source, key, "a boolean", value);
    config.*field = value.get<bool>();
    return absl::OkStatus();
  }
  absl::Status operator()(std::optional<bool> AgentConfig::*field) const {
    if (!value.is_boolean()) return WrongType(source, key, "a boolean", value);
    config.*field = value.get<bool>();
    return absl::OkStatus();
  }
  absl::Status operator()(int AgentConfig::*field) const {
    absl::StatusOr<int> i = IntOf(source, key, value);
    if (!i.ok()) return i.status();
    config.*field = *i;
    return absl::OkStatus();
  }
  absl::Status operator()(std::string AgentConfig::*field) const {
    if (!value.is_string()) return WrongType(source, key, "a string", value);
    config.*field = value.get<std::string>();
    return absl::OkStatus();
  }
  absl::Status operator()(std::vector<std::string> AgentConfig::*field) const {
    if (!value.is_array()) return WrongType(source, key, "a list of strings", value);
    for (const Json& item : value) {
      if (!item.is_string()) {
        return KeyError(source, key, absl::StrCat("must be a list of strings, but one item is ", TypeName(item)));
      }
    }
    for (const Json& item : value) (config.*field).push_back(item.get<std::string>());
    return absl::OkStatus();
  }
  absl::Status operator()(absl::Duration AgentConfig::*field) const {
    if (!value.is_string()) return WrongType(source, key, "a duration string like \"30s\"", value);
    absl::StatusOr<absl::Duration> d = ParseConfigDuration(value.get<std::string>());
    if (!d.ok()) return KeyError(source, key, d.status().message());
    config.*field = *d;
    return absl::OkStatus();
  }
};

absl::Status ApplyPorts(absl::string_view source, const Json& ports, AgentConfig& config) {
  if (!ports.is_object()) return WrongType(source, kPortsKey, "an object", ports);
  for (const auto& [name, value] : ports.items()) {
    const std::string key = absl::StrCat(kPortsKey, ".", name);
    const auto spec = std::find_if(std::begin(kPorts), std::end(kPorts),
                                   [&name = name](const PortSpec& p) { return p.key == name; });
    if (spec == std::end(kPorts)) return KeyError(source, key, "is not a known config key");
    absl::StatusOr<int> port = IntOf(source, key, value);
    if (!port.ok()) return port.status();
    config.ports.*(spec->field) = *port;
  }
  return absl::OkStatus();
}

// One source's object onto the config, key by key in the object's (sorted) order; the keys
// are independent, so their order does not matter.
// Consul's service and check definitions: `service` / `check` one object, `services` / `checks`
// a list of them, appended in merge order. Each is kept as its JSON text; the agent reads the
// fields as its registration endpoints do (core/agent/local_json.h), and this only checks the
// shape so an error names the file and key.
constexpr size_t kDefinitionsMax = 4096;

absl::Status ApplyDefinitions(absl::string_view source, const std::string& key, const Json& value, AgentConfig& config) {
  const bool list = key == "services" || key == "checks";
  std::vector<std::string>& into = key.rfind("service", 0) == 0 ? config.services : config.checks;
  if (list && !value.is_array()) return WrongType(source, key, "a list of objects", value);
  if (!list && !value.is_object()) return WrongType(source, key, "an object", value);
  const std::vector<Json> items = list ? value.get<std::vector<Json>>() : std::vector<Json>{value};
  for (const Json& item : items) {
    if (!item.is_object()) return WrongType(source, key, "a list of objects", item);
    if (into.size() >= kDefinitionsMax) return KeyError(source, key, "holds more definitions than 4096");
    into.push_back(item.dump());
  }
  return absl::OkStatus();
}

// Consul's dns_config block (core/agent/dns_config.h); service_ttl is an object of name (or
// prefix*) to duration.
absl::Status ApplyDnsConfig(absl::string_view source, const Json& block, AgentConfig& config) {
  constexpr absl::string_view kDnsKey = "dns_config";
  if (!block.is_object()) return WrongType(source, kDnsKey, "an object", block);
  agent::DnsConfig& dns = config.dns_config;
  for (const auto& [name, value] : block.items()) {
    const std::string key = absl::StrCat(kDnsKey, ".", name);
    auto duration = [&](const std::string& at, const Json& v, absl::Duration& into) -> absl::Status {
      if (!v.is_string()) return WrongType(source, at, "a duration string like \"5s\"", v);
      absl::StatusOr<absl::Duration> d = ParseConfigDuration(v.get<std::string>());
      if (!d.ok()) return KeyError(source, at, d.status().message());
      into = *d;
      return absl::OkStatus();
    };
    auto boolean = [&](bool& into) -> absl::Status {
      if (!value.is_boolean()) return WrongType(source, key, "a boolean", value);
      into = value.get<bool>();
      return absl::OkStatus();
    };
    absl::Status s;
    if (name == "allow_stale") {
      s = boolean(dns.allow_stale);
    } else if (name == "only_passing") {
      s = boolean(dns.only_passing);
    } else if (name == "enable_truncate") {
      s = boolean(dns.enable_truncate);
    } else if (name == "max_stale") {
      s = duration(key, value, dns.max_stale);
    } else if (name == "node_ttl") {
      s = duration(key, value, dns.node_ttl);
    } else if (name == "recursor_timeout") {
      s = duration(key, value, dns.recursor_timeout);
    } else if (name == "udp_answer_limit") {
      absl::StatusOr<int> i = IntOf(source, key, value);
      if (!i.ok()) return i.status();
      if (*i < 1) return KeyError(source, key, "must be at least 1");
      dns.udp_answer_limit = *i;
    } else if (name == "service_ttl") {
      if (!value.is_object()) return WrongType(source, key, "an object of service names to durations", value);
      for (const auto& [service, ttl] : value.items()) {
        absl::Duration d;
        if (absl::Status t = duration(absl::StrCat(key, ".", service), ttl, d); !t.ok()) return t;
        auto same = std::find_if(dns.service_ttl.begin(), dns.service_ttl.end(),
                                 [&service = service](const auto& e) { return e.first == service; });
        if (same != dns.service_ttl.end()) {
          same->second = d;  // a later file's entry wins, as Consul merges maps
        } else {
          dns.service_ttl.emplace_back(service, d);
        }
      }
    } else {
      return KeyError(source, key, "is not a known config key");
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ApplyObject(absl::string_view source, const Json& object, AgentConfig& config) {
  if (!object.is_object()) return absl::InvalidArgumentError(absl::StrCat(source, ": must hold one JSON object, got ", TypeName(object)));
  for (const auto& [key, value] : object.items()) {
    if (key == kPortsKey) {
      if (absl::Status s = ApplyPorts(source, value, config); !s.ok()) return s;
      continue;
    }
    if (key == "dns_config") {
      if (absl::Status s = ApplyDnsConfig(source, value, config); !s.ok()) return s;
      continue;
    }
    if (key == "service" || key == "services" || key == "check" || key == "checks") {
      if (absl::Status s = ApplyDefinitions(source, key, value, config); !s.ok()) return s;
      continue;
    }
    if (key == "watches") {  // a list of objects, kept as written (core/agent/watches.h reads them)
      if (!value.is_array()) return WrongType(source, key, "a list of objects", value);
      for (const Json& item : value) {
        if (!item.is_object()) return WrongType(source, key, "a list of objects", item);
        config.watches.push_back(item.dump());
      }
      continue;
    }
    const auto spec = std::find_if(std::begin(kKeys), std::end(kKeys),
                                   [&key = key](const KeySpec& k) { return k.key == key; });
    if (spec == std::end(kKeys)) return KeyError(source, key, "is not a known config key");
    if (absl::Status s = std::visit(FieldSetter{source, key, value, config}, spec->field); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// ---- Config files and dirs. ----

struct ConfigSource {
  bool is_dir;
  std::string path;
};

std::string FileSource(absl::string_view path) { return absl::StrCat("config file ", path); }

absl::Status ApplyFile(const ConfigFiles& files, const std::string& path, AgentConfig& config) {
  const std::string source = FileSource(path);
  if (absl::EndsWith(path, ".hcl")) return absl::InvalidArgumentError(absl::StrCat(source, ": ", kHclRefusal));
  absl::StatusOr<std::string> text = files.ReadFile(path);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(source, ": cannot read it: ", text.status().message()));
  // nlohmann reports where parsing stopped only through its exception; it is caught here, at
  // the one call, and becomes the error.
  Json object;
  try {
    object = Json::parse(*text);
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not JSON (", kHclRefusal, "): ", e.what()));
  }
  return ApplyObject(source, object, config);
}

// A dir's *.json files in lexical order, as Consul reads them; an *.hcl file is refused (not
// skipped, which would silently drop configuration); other files are not config.
absl::Status ApplyDir(const ConfigFiles& files, const std::string& dir, AgentConfig& config) {
  absl::StatusOr<std::vector<std::string>> names = files.ListDir(dir);
  if (!names.ok()) return absl::InvalidArgumentError(absl::StrCat("config dir ", dir, ": cannot list it: ", names.status().message()));
  std::sort(names->begin(), names->end());
  const std::string prefix = absl::EndsWith(dir, "/") ? dir : dir + "/";
  for (const std::string& name : *names) {
    if (!absl::EndsWith(name, ".json") && !absl::EndsWith(name, ".hcl")) continue;
    if (absl::Status s = ApplyFile(files, prefix + name, config); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// ---- Flags: each checked as it is read, then kept as one JSON object of config keys, so
// the flags apply after the files by the same code. ----

enum class FlagKind { kBool, kInt, kString, kDuration, kList, kConfigFile, kConfigDir, kDev };

struct FlagSpec {
  absl::string_view name;
  FlagKind kind;
  absl::string_view pointer;  // a JSON pointer to the config key it sets
};

const FlagSpec kFlags[] = {
    {"server", FlagKind::kBool, "/server"},
    {"bootstrap-expect", FlagKind::kInt, "/bootstrap_expect"},
    {"bootstrap", FlagKind::kBool, "/bootstrap"},
    {"node", FlagKind::kString, "/node_name"},
    {"node-id", FlagKind::kString, "/node_id"},
    {"datacenter", FlagKind::kString, "/datacenter"},
    {"data-dir", FlagKind::kString, "/data_dir"},
    {"bind", FlagKind::kString, "/bind_addr"},
    {"advertise", FlagKind::kString, "/advertise_addr"},
    {"client", FlagKind::kString, "/client_addr"},
    {"join", FlagKind::kList, "/start_join"},
    {"retry-join", FlagKind::kList, "/retry_join"},
    {"retry-interval", FlagKind::kDuration, "/retry_interval"},
    {"retry-max", FlagKind::kInt, "/retry_max"},
    {"rejoin", FlagKind::kBool, "/rejoin_after_leave"},
    {"http-port", FlagKind::kInt, "/ports/http"},
    {"dns-port", FlagKind::kInt, "/ports/dns"},
    {"serf-lan-port", FlagKind::kInt, "/ports/serf_lan"},
    {"serf-wan-port", FlagKind::kInt, "/ports/serf_wan"},
    {"server-port", FlagKind::kInt, "/ports/server"},
    {"log-level", FlagKind::kString, "/log_level"},
    {"raft-snapshot-threshold", FlagKind::kInt, "/raft_snapshot_threshold"},
    {"enable-script-checks", FlagKind::kBool, "/enable_script_checks"},
    {"strict-http-methods", FlagKind::kBool, "/strict_http_methods"},
    {"event-handler", FlagKind::kList, "/event_handlers"},
    {"domain", FlagKind::kString, "/domain"},
    {"alt-domain", FlagKind::kString, "/alt_domain"},
    {"recursor", FlagKind::kList, "/recursors"},
    {"dev", FlagKind::kDev, ""},
    {"config-file", FlagKind::kConfigFile, ""},
    {"config-dir", FlagKind::kConfigDir, ""},
};

constexpr absl::string_view kCommandLine = "command line";

struct ParsedFlags {
  bool dev = false;
  std::vector<ConfigSource> sources;
  Json settings = Json::object();
};

absl::Status FlagError(absl::string_view flag, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("flag -", flag, ": ", what));
}

// Go's strconv.ParseBool, which Consul's boolean flags use.
std::optional<bool> ParseGoBool(absl::string_view text) {
  for (absl::string_view t : {"1", "t", "T", "true", "TRUE", "True"}) {
    if (text == t) return true;
  }
  for (absl::string_view f : {"0", "f", "F", "false", "FALSE", "False"}) {
    if (text == f) return false;
  }
  return std::nullopt;
}

absl::Status StoreFlag(const FlagSpec& spec, const std::string& value, ParsedFlags& parsed) {
  const Json::json_pointer at{std::string(spec.pointer)};
  switch (spec.kind) {
    case FlagKind::kBool:
    case FlagKind::kDev: {
      const std::optional<bool> b = ParseGoBool(value);
      if (!b.has_value()) return FlagError(spec.name, absl::StrCat("invalid boolean \"", value, "\" (true or false)"));
      if (spec.kind == FlagKind::kDev) {
        parsed.dev = *b;
      } else {
        parsed.settings[at] = *b;
      }
      return absl::OkStatus();
    }
    case FlagKind::kInt: {
      int i = 0;
      if (!absl::SimpleAtoi(value, &i)) return FlagError(spec.name, absl::StrCat("invalid integer \"", value, "\""));
      parsed.settings[at] = i;
      return absl::OkStatus();
    }
    case FlagKind::kDuration: {
      absl::StatusOr<absl::Duration> d = ParseConfigDuration(value);
      if (!d.ok()) return FlagError(spec.name, d.status().message());
      parsed.settings[at] = value;
      return absl::OkStatus();
    }
    case FlagKind::kString:
      parsed.settings[at] = value;
      return absl::OkStatus();
    case FlagKind::kList:
      // The flags' lists append to the files', as Consul merges every source's slices.
      parsed.settings[at].push_back(value);
      return absl::OkStatus();
    case FlagKind::kConfigFile:
    case FlagKind::kConfigDir:
      parsed.sources.push_back({spec.kind == FlagKind::kConfigDir, value});
      return absl::OkStatus();
  }
  return FlagError(spec.name, "has no parser");  // unreachable: the switch covers every kind
}

absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args) {
  ParsedFlags parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--") {
      if (i + 1 < args.size()) return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", args[i + 1], "': muster agent takes only flags"));
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "': muster agent takes only flags"));
    }
    arg.remove_prefix(absl::StartsWith(arg, "--") ? 2 : 1);
    if (arg.empty() || arg[0] == '-' || arg[0] == '=') {
      return absl::InvalidArgumentError(absl::StrCat("bad flag syntax: ", args[i]));
    }
    const size_t eq = arg.find('=');
    const absl::string_view name = arg.substr(0, eq);
    const auto spec = std::find_if(std::begin(kFlags), std::end(kFlags), [&](const FlagSpec& f) { return f.name == name; });
    if (spec == std::end(kFlags)) return absl::InvalidArgumentError(absl::StrCat("flag provided but not defined: -", name));
    std::string value;
    if (eq != absl::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (spec->kind == FlagKind::kBool || spec->kind == FlagKind::kDev) {
      value = "true";  // a bare boolean flag; Go never takes the next argument for one
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return FlagError(name, "needs a value");
    }
    if (absl::Status s = StoreFlag(*spec, value, parsed); !s.ok()) return s;
  }
  return parsed;
}

}  // namespace

absl::StatusOr<absl::Duration> ParseConfigDuration(std::string_view text_std) {
  const absl::string_view text(text_std.data(), text_std.size());
  absl::Duration d;
  const bool parsed = absl::ParseDuration(std::string(text), &d);
  if (!parsed || d == absl::InfiniteDuration() || d == -absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad duration \"", text, "\": write a number with a unit, like 10s, 1m or 1h30m"));
  }
  if (d < absl::ZeroDuration()) return absl::InvalidArgumentError(absl::StrCat("bad duration \"", text, "\": negative"));
  return d;
}

absl::StatusOr<agent::AgentConfig> LoadAgentConfig(std::vector<std::string> args, const ConfigFiles& files,
                                                   std::string_view hostname) {
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args);
  if (!flags.ok()) return flags.status();
  AgentConfig config;
  if (flags->dev) agent::ApplyDevDefaults(config);
  for (const ConfigSource& source : flags->sources) {
    absl::Status s = source.is_dir ? ApplyDir(files, source.path, config) : ApplyFile(files, source.path, config);
    if (!s.ok()) return s;
  }
  if (absl::Status s = ApplyObject(kCommandLine, flags->settings, config); !s.ok()) return s;

  if (config.node_name.empty()) config.node_name = std::string(hostname);
  config.datacenter = absl::AsciiStrToLower(config.datacenter);
  // The DNS domains as the resolver compares them (core/agent/dns_resolve.h): lowercased,
  // with one final dot; an empty -domain is Consul's "consul.".
  config.domain = agent::CanonicalDomain(config.domain);
  if (config.domain.empty()) config.domain = "consul.";
  config.alt_domain = agent::CanonicalDomain(config.alt_domain);
  if (absl::Status s = agent::Validate(config); !s.ok()) return s;
  if (!config.node_id.empty()) config.node_id = *agent::ParseNodeId(config.node_id);
  return config;
}

}  // namespace muster::config
