#include "core/agent/local_json.h"

#include <cstdint>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/base/go_duration.h"
#include "core/base/strings.h"

namespace muster::agent {
namespace {

constexpr size_t kBodyBytesMax = 512 * 1024;
constexpr size_t kStringBytesMax = 4096;
// Longer: a URL, a script, a check's HTTP body or an update's output.
constexpr size_t kLongStringBytesMax = 64 * 1024;

// The spelling-free form of a field name: lower case, no underscores, so that Consul's
// CamelCase, python-consul's lower case and the snake_case Consul's docs allow all meet.
std::string FieldKey(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c != '_') out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

absl::Status Bad(std::string_view what, std::string_view field, std::string_view must) {
  return absl::InvalidArgumentError(absl::StrCat("Request decode failed: ", Absl(what), ": ", Absl(field), " must be ", Absl(must)));
}

struct Reader {
  std::string_view what;  // "service", "check"

  absl::Status String(const Json& v, std::string_view field, std::string* out, size_t max = kStringBytesMax) const {
    if (v.is_null()) return absl::OkStatus();
    if (!v.is_string() || v.get_ref<const std::string&>().size() > max) return Bad(what, field, "a string");
    *out = v.get<std::string>();
    return absl::OkStatus();
  }
  absl::Status Strings(const Json& v, std::string_view field, std::vector<std::string>* out, size_t count_max) const {
    if (v.is_null()) return absl::OkStatus();
    if (!v.is_array() || v.size() > count_max) return Bad(what, field, "a list of strings");
    out->clear();
    for (const Json& e : v) {
      if (!e.is_string() || e.get_ref<const std::string&>().size() > kStringBytesMax) {
        return Bad(what, field, "a list of strings");
      }
      out->push_back(e.get<std::string>());
    }
    return absl::OkStatus();
  }
  absl::Status Bool(const Json& v, std::string_view field, bool* out) const {
    if (v.is_null()) return absl::OkStatus();
    if (!v.is_boolean()) return Bad(what, field, "true or false");
    *out = v.get<bool>();
    return absl::OkStatus();
  }
  absl::Status Int(const Json& v, std::string_view field, int64_t lo, int64_t hi, int64_t* out) const {
    if (v.is_null()) return absl::OkStatus();
    if (!v.is_number_integer()) return Bad(what, field, "an integer");
    if (v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(hi)
                               : (v.get<int64_t>() < lo || v.get<int64_t>() > hi)) {
      return Bad(what, field, absl::StrCat("between ", lo, " and ", hi));
    }
    *out = v.get<int64_t>();
    return absl::OkStatus();
  }
  // A Go duration string ("10s") or a number of nanoseconds, as Consul's decoder takes both.
  absl::Status Duration(const Json& v, std::string_view field, muster::Duration* out) const {
    if (v.is_null()) return absl::OkStatus();
    if (v.is_string()) {
      if (v.get_ref<const std::string&>().empty()) {
        *out = absl::ZeroDuration();
        return absl::OkStatus();
      }
      const std::string& text = v.get_ref<const std::string&>();
      absl::StatusOr<muster::Duration> d =
          text.size() > 64 ? absl::InvalidArgumentError("too long") : muster::ParseGoDuration(text);
      if (!d.ok() || *d < absl::ZeroDuration() || *d > absl::Hours(24 * 365)) {
        return Bad(what, field, "a duration (\"10s\") of at most a year");
      }
      *out = absl::Trunc(*d, absl::Nanoseconds(1));  // whole nanoseconds, as Go's
      return absl::OkStatus();
    }
    if (v.is_number_unsigned()) {
      *out = absl::Nanoseconds(std::min<uint64_t>(v.get<uint64_t>(), uint64_t{1} << 62));
      return absl::OkStatus();
    }
    return Bad(what, field, "a duration (\"10s\")");
  }
  absl::Status StringMap(const Json& v, std::string_view field, std::map<std::string, std::string>* out) const {
    if (v.is_null()) return absl::OkStatus();
    if (!v.is_object() || v.size() > kServiceMetaPairsMax) {
      return Bad(what, field, absl::StrCat("an object of at most ", kServiceMetaPairsMax, " strings"));
    }
    out->clear();
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it.key().empty() || it.key().size() > kServiceMetaKeyBytesMax || !it.value().is_string() ||
          it.value().get_ref<const std::string&>().size() > kServiceMetaValueBytesMax) {
        return Bad(what, field, "an object of short strings");
      }
      (*out)[it.key()] = it.value().get<std::string>();
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<Json> ParseObject(std::string_view text, std::string_view what) {
  if (text.size() > kBodyBytesMax) return absl::InvalidArgumentError(absl::StrCat("Request decode failed: ", Absl(what), ": body too large"));
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("Request decode failed: ", Absl(what), ": the body is not a JSON object"));
  }
  return j;
}

// One check definition (Consul's CheckType, or CheckDefinition with its ID/Name/ServiceID)
// from a JSON object; kind picked from what is set.
absl::StatusOr<CheckDefinition> ReadCheck(const Json& j, std::string_view what) {
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat("Request decode failed: ", Absl(what), " must be an object"));
  Reader r{what};
  CheckDefinition def;
  std::optional<std::string> status;
  bool has_args = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string k = FieldKey(it.key());
    const Json& v = it.value();
    absl::Status s;
    if (k == "id" || k == "checkid") {
      s = r.String(v, "CheckID", &def.id, 256);
    } else if (k == "name") {
      s = r.String(v, "Name", &def.name, 256);
    } else if (k == "serviceid") {
      s = r.String(v, "ServiceID", &def.service_id, 256);
    } else if (k == "notes") {
      s = r.String(v, "Notes", &def.notes);
    } else if (k == "status") {
      std::string st;
      s = r.String(v, "Status", &st, 32);
      if (s.ok() && !st.empty()) status = st;
    } else if (k == "ttl") {
      s = r.Duration(v, "TTL", &def.ttl);
    } else if (k == "http") {
      s = r.String(v, "HTTP", &def.http, kLongStringBytesMax);
    } else if (k == "method") {
      s = r.String(v, "Method", &def.method, 32);
    } else if (k == "body") {
      s = r.String(v, "Body", &def.body, kLongStringBytesMax);
    } else if (k == "header") {
      if (v.is_null()) continue;
      if (!v.is_object() || v.size() > kCheckHeadersMax) return Bad(what, "Header", "an object of string lists");
      for (auto h = v.begin(); h != v.end(); ++h) {
        if (!h.value().is_array() || h.value().size() > kCheckHeadersMax) return Bad(what, "Header", "an object of string lists");
        for (const Json& e : h.value()) {
          if (!e.is_string() || e.get_ref<const std::string&>().size() > kStringBytesMax || h.key().size() > 256) {
            return Bad(what, "Header", "an object of string lists");
          }
          if (def.headers.size() >= kCheckHeadersMax) return Bad(what, "Header", "at most 64 values");
          def.headers.emplace_back(h.key(), e.get<std::string>());
        }
      }
    } else if (k == "tlsskipverify") {
      s = r.Bool(v, "TLSSkipVerify", &def.tls_skip_verify);
    } else if (k == "tcp") {
      s = r.String(v, "TCP", &def.tcp, 512);
    } else if (k == "args" || k == "scriptargs") {
      s = r.Strings(v, "Args", &def.args, 256);
      has_args = has_args || !def.args.empty();
    } else if (k == "script") {
      s = r.String(v, "Script", &def.script, kLongStringBytesMax);
    } else if (k == "interval") {
      s = r.Duration(v, "Interval", &def.interval);
    } else if (k == "timeout") {
      s = r.Duration(v, "Timeout", &def.timeout);
    } else if (k == "deregistercriticalserviceafter") {
      s = r.Duration(v, "DeregisterCriticalServiceAfter", &def.deregister_critical_service_after);
    } else if (k == "aliasservice") {
      s = r.String(v, "AliasService", &def.alias_service, 256);
    } else if (k == "aliasnode") {
      s = r.String(v, "AliasNode", &def.alias_node, 256);
    } else if (k == "successbeforepassing" || k == "failuresbeforecritical") {
      int64_t n = 0;
      s = r.Int(v, it.key(), 0, 1'000'000, &n);
      (k == "successbeforepassing" ? def.success_before_passing : def.failures_before_critical) = static_cast<int>(n);
    }
    // Other fields (Definition, GRPC, DockerContainerID, ...) are ignored as
    // encoding/json ignores what it does not know; a check of only those has no kind and is
    // refused below.
    if (!s.ok()) return s;
  }
  if (!def.http.empty()) {
    def.kind = CheckKind::kHttp;
  } else if (!def.tcp.empty()) {
    def.kind = CheckKind::kTcp;
  } else if (has_args) {
    def.kind = CheckKind::kScript;
  } else if (!def.script.empty()) {
    def.kind = CheckKind::kShell;
  } else if (def.ttl > absl::ZeroDuration()) {
    def.kind = CheckKind::kTtl;
  } else if (!def.alias_service.empty() || !def.alias_node.empty()) {
    def.kind = CheckKind::kAlias;
  } else {
    return absl::InvalidArgumentError(
        "Must provide TTL or Script/DockerContainerID/HTTP/TCP/GRPC/AliasNode/AliasService and Interval");
  }
  if (status.has_value()) {
    absl::StatusOr<state::HealthStatus> st = state::ParseHealthStatus(*status);
    if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("Request decode failed: ", Absl(what), ": Status must be passing, warning or critical"));
    def.initial_status = *st;
  }
  return def;
}

}  // namespace

absl::StatusOr<ServiceRegistration> ParseServiceRegistration(std::string_view text) {
  absl::StatusOr<Json> parsed = ParseObject(text, "service");
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  Reader r{"service"};
  ServiceRegistration reg;
  state::Service& s = reg.service;
  std::vector<const Json*> checks;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string k = FieldKey(it.key());
    const Json& v = it.value();
    absl::Status st;
    if (k == "id") {
      st = r.String(v, "ID", &s.id, 256);
    } else if (k == "name" || k == "service") {
      st = r.String(v, "Name", &s.name, 256);
    } else if (k == "tags") {
      st = r.Strings(v, "Tags", &s.tags, kServiceTagsMax);
    } else if (k == "address") {
      st = r.String(v, "Address", &s.address, 512);
    } else if (k == "port") {
      int64_t port = 0;
      st = r.Int(v, "Port", 0, 65535, &port);
      s.port = static_cast<int32_t>(port);
    } else if (k == "meta") {
      st = r.StringMap(v, "Meta", &s.meta);
    } else if (k == "enabletagoverride") {
      st = r.Bool(v, "EnableTagOverride", &s.enable_tag_override);
    } else if (k == "weights") {
      if (v.is_null()) continue;
      if (!v.is_object()) return Bad("service", "Weights", "{\"Passing\": n, \"Warning\": n}");
      for (auto w = v.begin(); w != v.end(); ++w) {
        int64_t n = 0;
        const std::string wk = FieldKey(w.key());
        if (wk != "passing" && wk != "warning") continue;
        st = r.Int(w.value(), "Weights", 0, 1 << 30, &n);
        if (!st.ok()) return st;
        (wk == "passing" ? s.weights.passing : s.weights.warning) = static_cast<int32_t>(n);
      }
    } else if (k == "check") {
      if (!v.is_null()) checks.push_back(&v);
    } else if (k == "checks") {
      if (v.is_null()) continue;
      if (!v.is_array() || v.size() > kChecksPerRegistrationMax) return Bad("service", "Checks", "a list of checks");
      for (const Json& c : v) checks.push_back(&c);
    } else if (k == "kind") {
      std::string kind;
      st = r.String(v, "Kind", &kind, 64);
      if (st.ok() && !kind.empty()) return absl::InvalidArgumentError(absl::StrCat("service kind \"", kind, "\" is not supported"));
    }
    if (!st.ok()) return st;
  }
  if (s.name.empty()) return absl::InvalidArgumentError("Missing service name");
  if (s.id.empty()) s.id = s.name;
  if (checks.size() > kChecksPerRegistrationMax) return Bad("service", "Checks", "at most 64 checks");
  for (size_t i = 0; i < checks.size(); ++i) {
    // python-consul's Check._compat sends {} for "no check".
    if (checks[i]->is_object() && checks[i]->empty()) continue;
    absl::StatusOr<CheckDefinition> c = ReadCheck(*checks[i], "check");
    if (!c.ok()) return c.status();
    c->service_id = s.id;
    reg.checks.push_back(std::move(*c));
  }
  for (size_t i = 0; i < reg.checks.size(); ++i) {
    CheckDefinition& c = reg.checks[i];
    if (c.id.empty()) {
      c.id = absl::StrCat("service:", s.id);
      if (reg.checks.size() > 1) absl::StrAppend(&c.id, ":", i + 1);
    }
    if (c.name.empty()) c.name = absl::StrCat("Service '", s.name, "' check");
  }
  return reg;
}

absl::StatusOr<CheckDefinition> ParseCheckRegistration(std::string_view text) {
  absl::StatusOr<Json> parsed = ParseObject(text, "check");
  if (!parsed.ok()) return parsed.status();
  bool named = false;
  for (auto it = parsed->begin(); it != parsed->end(); ++it) {
    if (FieldKey(it.key()) == "name" && it.value().is_string() && !it.value().get_ref<const std::string&>().empty()) named = true;
  }
  if (!named) return absl::InvalidArgumentError("Missing check name");
  absl::StatusOr<CheckDefinition> def = ReadCheck(*parsed, "check");
  if (!def.ok()) return def.status();
  if (def->id.empty()) def->id = def->name;
  return def;
}

absl::StatusOr<CheckUpdate> ParseCheckUpdate(std::string_view text) {
  absl::StatusOr<Json> parsed = ParseObject(text, "check update");
  if (!parsed.ok()) return parsed.status();
  Reader r{"check update"};
  CheckUpdate u;
  std::string status;
  for (auto it = parsed->begin(); it != parsed->end(); ++it) {
    const std::string k = FieldKey(it.key());
    absl::Status s;
    if (k == "status") s = r.String(it.value(), "Status", &status, 32);
    if (k == "output") s = r.String(it.value(), "Output", &u.output, kLongStringBytesMax);
    if (!s.ok()) return s;
  }
  absl::StatusOr<state::HealthStatus> st = state::ParseHealthStatus(status);
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("Invalid check status: '", status, "'"));
  u.status = *st;
  return u;
}

Json AgentServiceJson(const state::Service& s, std::string_view datacenter) {
  Json j;
  j["ID"] = s.id;
  j["Service"] = s.name;
  j["Tags"] = s.tags;
  Json meta = Json::object();
  for (const auto& [k, v] : s.meta) meta[k] = v;
  j["Meta"] = std::move(meta);
  j["Port"] = s.port;
  j["Address"] = s.address;
  j["Weights"] = Json{{"Passing", s.weights.passing}, {"Warning", s.weights.warning}};
  j["EnableTagOverride"] = s.enable_tag_override;
  j["Datacenter"] = std::string(datacenter);
  return j;
}

Json AgentCheckJson(const state::Check& c) {
  Json j;
  j["Node"] = c.node;
  j["CheckID"] = c.check_id;
  j["Name"] = c.name;
  j["Status"] = std::string(state::HealthStatusName(c.status));
  j["Notes"] = c.notes;
  j["Output"] = c.output;
  j["ServiceID"] = c.service_id;
  j["ServiceName"] = c.service_name;
  j["ServiceTags"] = c.service_tags;
  j["Type"] = c.type;
  j["Definition"] = Json::object();
  j["CreateIndex"] = 0;
  j["ModifyIndex"] = 0;
  return j;
}

}  // namespace muster::agent
