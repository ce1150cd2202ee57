#include "core/agent/check_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/base/go_duration.h"
#include "core/base/strings.h"

namespace muster::agent {
namespace {

// The reason phrases Consul's output carries after the status code (Go's resp.Status).
std::string_view ReasonPhrase(int code) {
  switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

}  // namespace

std::string_view CheckKindType(CheckKind kind) {
  switch (kind) {
    case CheckKind::kTtl: return "ttl";
    case CheckKind::kHttp: return "http";
    case CheckKind::kTcp: return "tcp";
    case CheckKind::kScript:
    case CheckKind::kShell: return "script";
    case CheckKind::kMaintenance: return "maintenance";
    case CheckKind::kAlias: return "alias";
  }
  return "";
}

Duration CheckDefinition::EffectiveTimeout() const {
  if (timeout > absl::ZeroDuration()) return timeout;
  switch (kind) {
    case CheckKind::kHttp: return kCheckHttpTimeoutDefault;
    case CheckKind::kTcp: return kCheckTcpTimeoutDefault;
    default: return kCheckScriptTimeoutDefault;
  }
}

absl::Status ValidateCheck(CheckDefinition* def, bool enable_script_checks) {
  if (def->id.empty()) return absl::InvalidArgumentError("Missing check ID");
  if (def->name.empty()) return absl::InvalidArgumentError("Missing check name");
  if (def->kind == CheckKind::kMaintenance) return absl::OkStatus();
  if (def->kind == CheckKind::kAlias) {
    // Consul: an alias check has no interval, TTL or script of its own.
    if (def->alias_service.empty() && def->alias_node.empty()) {
      return absl::InvalidArgumentError("AliasService or AliasNode must be set for an alias check");
    }
    return absl::OkStatus();
  }
  if (def->kind == CheckKind::kTtl) {
    if (def->ttl <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          "Must provide TTL or Script/DockerContainerID/HTTP/TCP/GRPC/AliasNode/AliasService and Interval");
    }
  } else if (def->interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("Interval must be > 0 for Script, HTTP, or TCP checks");
  }
  if ((def->kind == CheckKind::kScript || def->kind == CheckKind::kShell) && !enable_script_checks) {
    return absl::InvalidArgumentError(
        "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or "
        "'enable_local_script_checks' to true");
  }
  if (def->kind == CheckKind::kScript && def->args.empty()) return absl::InvalidArgumentError("Args must not be empty");
  if (def->timeout < absl::ZeroDuration()) return absl::InvalidArgumentError("Timeout must not be negative");
  if (def->success_before_passing < 0 || def->failures_before_critical < 0) {
    return absl::InvalidArgumentError("SuccessBeforePassing and FailuresBeforeCritical must not be negative");
  }
  if (def->runs() && def->interval < kCheckIntervalMin) def->interval = kCheckIntervalMin;
  return absl::OkStatus();
}

std::string CutCheckOutput(std::string_view output) {
  if (output.size() <= kCheckOutputBytesMax) return std::string(output);
  return absl::StrCat("Captured ", kCheckOutputBytesMax, " of ", output.size(), " bytes\n...\n",
                      Absl(output.substr(output.size() - kCheckOutputBytesMax)));
}

ProcessStart CheckProcess(const CheckDefinition& def) {
  ProcessStart p;
  p.timeout = def.EffectiveTimeout();
  switch (def.kind) {
    case CheckKind::kHttp:
      p.kind = ProcessStart::Kind::kHttp;
      p.url = def.http;
      p.method = def.method.empty() ? "GET" : def.method;
      p.headers = def.headers;
      p.body = def.body;
      p.tls_skip_verify = def.tls_skip_verify;
      break;
    case CheckKind::kTcp:
      p.kind = ProcessStart::Kind::kTcp;
      p.address = def.tcp;
      break;
    case CheckKind::kScript:
      p.kind = ProcessStart::Kind::kExec;
      p.args = def.args;
      break;
    case CheckKind::kShell:
    case CheckKind::kTtl:  // never run; a shell of nothing if asked
    case CheckKind::kMaintenance:
    case CheckKind::kAlias:
      p.kind = ProcessStart::Kind::kShell;
      p.command = def.script;
      break;
  }
  return p;
}

CheckResult ResultOfExit(const CheckDefinition& def, const ProcessExitedInput& exit) {
  using state::HealthStatus;
  CheckResult r;
  switch (def.kind) {
    case CheckKind::kHttp: {
      const std::string method = def.method.empty() ? "GET" : def.method;
      if (exit.timed_out || exit.exit_code <= 0) {
        r.status = HealthStatus::kCritical;
        r.output = exit.timed_out && exit.output.empty()
                       ? absl::StrCat(method, " ", def.http, ": timed out after ", FormatGoDuration(def.EffectiveTimeout()))
                       : exit.output;
        break;
      }
      const int code = exit.exit_code;
      r.status = code >= 200 && code <= 299 ? HealthStatus::kPassing
                 : code == 429             ? HealthStatus::kWarning
                                           : HealthStatus::kCritical;
      std::string_view reason = ReasonPhrase(code);
      r.output = absl::StrCat("HTTP ", method, " ", def.http, ": ", code, reason.empty() ? "" : " ", Absl(reason),
                              " Output: ", exit.output);
      break;
    }
    case CheckKind::kTcp:
      if (!exit.timed_out && exit.exit_code == 0) {
        r.status = HealthStatus::kPassing;
        r.output = absl::StrCat("TCP connect ", def.tcp, ": Success");
      } else {
        r.status = HealthStatus::kCritical;
        r.output = exit.output.empty() ? absl::StrCat("dial tcp ", def.tcp, ": failed") : exit.output;
      }
      break;
    case CheckKind::kScript:
    case CheckKind::kShell:
    case CheckKind::kTtl:
    case CheckKind::kMaintenance:
    case CheckKind::kAlias:
      if (exit.timed_out) {
        r.status = HealthStatus::kCritical;
        r.output = absl::StrCat("Timed out (", FormatGoDuration(def.EffectiveTimeout()), ") running check");
        break;
      }
      r.status = exit.exit_code == 0   ? HealthStatus::kPassing
                 : exit.exit_code == 1 ? HealthStatus::kWarning
                                       : HealthStatus::kCritical;
      r.output = exit.output;
      break;
  }
  r.output = CutCheckOutput(r.output);
  return r;
}

namespace {

// Whether the alias counts check `c`: its node's (not another node's), a node check or one of
// the aliased service, not the alias itself.
bool AliasCounts(const CheckDefinition& alias, std::string_view self_id, const state::Check& c) {
  if (!self_id.empty() && c.check_id == self_id) return false;
  if (!alias.alias_node.empty() && c.node != alias.alias_node) return false;
  return c.service_id.empty() || c.service_id == alias.alias_service;
}

}  // namespace

bool AliasSeesService(const CheckDefinition& alias, std::string_view self_id,
                      const std::vector<state::Check>& node_checks) {
  return std::any_of(node_checks.begin(), node_checks.end(), [&](const state::Check& c) {
    return AliasCounts(alias, self_id, c) && c.service_id == alias.alias_service;
  });
}

CheckResult AliasResult(const CheckDefinition& alias, std::string_view self_id,
                        const std::vector<state::Check>& node_checks, bool service_registered) {
  using state::HealthStatus;
  CheckResult r{HealthStatus::kPassing, "No checks found."};
  bool service_seen = false;
  for (const state::Check& c : node_checks) {
    if (!AliasCounts(alias, self_id, c)) continue;
    service_seen = service_seen || c.service_id == alias.alias_service;
    if (c.status == HealthStatus::kCritical || c.status == HealthStatus::kWarning) {
      r.status = c.status;
      r.output = absl::StrCat("Aliased check \"", c.name, "\" failing: ", c.output);
      if (c.status == HealthStatus::kCritical) break;  // nothing outranks it
    } else if (r.status == HealthStatus::kPassing) {
      r.output = "All checks passing.";
    }
  }
  if (!service_seen && !service_registered) {
    r.status = HealthStatus::kCritical;
    r.output = absl::StrCat("Service ", alias.alias_service, " could not be found on node ", alias.alias_node);
  }
  r.output = CutCheckOutput(r.output);
  return r;
}

bool CheckState::Record(Time now, const CheckDefinition& def, CheckResult result) {
  if (result.status == state::HealthStatus::kPassing || result.status == state::HealthStatus::kWarning) {
    ++successes_;
    failures_ = 0;
    if (successes_ < def.success_before_passing) return false;  // below the threshold: nothing changes
  } else {
    ++failures_;
    successes_ = 0;
    if (failures_ < def.failures_before_critical) return false;
  }
  // Counters stop growing past what any threshold needs.
  successes_ = std::min(successes_, def.success_before_passing);
  failures_ = std::min(failures_, def.failures_before_critical);
  return Set(now, result.status, CutCheckOutput(result.output));
}

bool CheckState::Set(Time now, state::HealthStatus status, std::string output) {
  output_ = std::move(output);
  if (status == status_) return false;
  status_ = status;
  since_ = now;
  return true;
}

}  // namespace muster::agent
