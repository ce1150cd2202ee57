// One health check of the agent: its definition (Consul's CheckType: TTL, HTTP, TCP, script
// args, legacy shell script; interval, timeout, thresholds, deregister-after) and the state
// machine that turns results into a status as Consul's StatusHandler does
// (success_before_passing, failures_before_critical). Pure: a run is a ProcessStart the agent
// hands its host, its end a ProcessExitedInput turned into a result here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/base/time.h"
#include "core/seam/effects.h"
#include "core/seam/input.h"
#include "core/state/types.h"

namespace muster::agent {

// Consul's checks.BufSize: what is kept of a check's output.
inline constexpr size_t kCheckOutputBytesMax = 4 * 1024;
// Consul's checks.MinInterval: shorter intervals are raised to it.
inline constexpr Duration kCheckIntervalMin = absl::Seconds(1);
// Consul's defaults when a definition gives no timeout.
inline constexpr Duration kCheckHttpTimeoutDefault = absl::Seconds(10);
inline constexpr Duration kCheckTcpTimeoutDefault = absl::Seconds(10);
inline constexpr Duration kCheckScriptTimeoutDefault = absl::Seconds(30);
// Consul's output for a TTL check whose TTL ran out.
inline constexpr std::string_view kTtlExpiredOutput = "TTL expired";

enum class CheckKind : uint8_t {
  kTtl,     // updated through the API; critical when the TTL runs out
  kHttp,    // an HTTP request every interval
  kTcp,     // a TCP connect every interval
  kScript,  // Args, run without a shell (Consul's ScriptArgs)
  kShell,   // the legacy Script field, through /bin/sh -c
  kMaintenance,  // Consul's maintenance checks: critical while they exist, never run
  kAlias,        // mirrors the health of another service (Consul's CheckAlias), never run
};

// Consul's check Type field: "ttl", "http", "tcp", "script", "maintenance", "alias".
std::string_view CheckKindType(CheckKind kind);

struct CheckDefinition {
  std::string id;  // CheckID
  std::string name;
  std::string service_id;  // empty: a node check
  std::string notes;
  CheckKind kind = CheckKind::kTtl;
  Duration interval = absl::ZeroDuration();  // interval kinds
  Duration timeout = absl::ZeroDuration();   // zero: the kind's default
  Duration ttl = absl::ZeroDuration();       // kTtl
  std::string http;                          // kHttp: the URL
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool tls_skip_verify = false;
  std::string tcp;                 // kTcp: host:port
  std::vector<std::string> args;   // kScript
  std::string script;              // kShell
  int success_before_passing = 0;
  int failures_before_critical = 0;
  // Zero: never. Otherwise the service is removed locally once this check has been critical
  // this long.
  Duration deregister_critical_service_after = absl::ZeroDuration();
  state::HealthStatus initial_status = state::HealthStatus::kCritical;
  std::string alias_service;  // kAlias: the service ID whose health this check mirrors
  std::string alias_node;     // kAlias: empty for this agent's node

  bool runs() const { return kind != CheckKind::kTtl && kind != CheckKind::kMaintenance && kind != CheckKind::kAlias; }
  Duration EffectiveTimeout() const;
  friend bool operator==(const CheckDefinition&, const CheckDefinition&) = default;
};

// Consul's rules for a definition (CheckType.Validate and the agent's AddCheck): the interval
// kinds need an interval, TTL a TTL, scripts need enable_script_checks. INVALID_ARGUMENT names
// what is wrong. Raises an interval below kCheckIntervalMin to it, as Consul.
absl::Status ValidateCheck(CheckDefinition* def, bool enable_script_checks);

// Keeps the last kCheckOutputBytesMax bytes, with Consul's "Captured N of M bytes" line in
// front when anything was cut.
std::string CutCheckOutput(std::string_view output);

// The host task that runs one check (id left 0: the caller numbers it).
ProcessStart CheckProcess(const CheckDefinition& def);

// A run's end as Consul reports it: the status the run gives and its output (script: 0
// passing, 1 warning, else critical; HTTP: 2xx passing, 429 warning, else critical; TCP:
// connected passing). A timeout is critical.
struct CheckResult {
  state::HealthStatus status = state::HealthStatus::kCritical;
  std::string output;
};
CheckResult ResultOfExit(const CheckDefinition& def, const ProcessExitedInput& exit);

// Consul's alias rule (agent/checks/alias.go) over the checks of the aliased node: checks of
// other services are skipped, node checks count; any critical gives critical ("Aliased check
// %q failing: <output>", the first critical), else any warning gives warning (the last one),
// else passing ("All checks passing.", or "No checks found." when none counted). When no
// check of the service was seen and `service_registered` is false the result is critical
// ("Service <id> could not be found on node <alias_node>"). `self_id` (the alias check's own
// ID; empty for a remote node) is skipped, so a node-level alias never feeds on itself.
CheckResult AliasResult(const CheckDefinition& alias, std::string_view self_id,
                        const std::vector<state::Check>& node_checks, bool service_registered);
// Whether any check the rule counts is the aliased service's (for AliasService empty: any
// node check). When none is, whether the service is registered decides (remote_alias.h looks
// it up in the catalog only then, as Consul's runQuery).
bool AliasSeesService(const CheckDefinition& alias, std::string_view self_id,
                      const std::vector<state::Check>& node_checks);

// The status of one check as its results come in: a result counts only once
// success_before_passing consecutive successes (passing or warning) or
// failures_before_critical consecutive failures have been seen (Consul's StatusHandler).
class CheckState {
 public:
  CheckState() = default;
  CheckState(state::HealthStatus status, std::string output, Time since)
      : status_(status), output_(std::move(output)), since_(since) {}

  // Returns true when the status changed.
  bool Record(Time now, const CheckDefinition& def, CheckResult result);
  // Sets status and output without the thresholds (maintenance, a restore).
  bool Set(Time now, state::HealthStatus status, std::string output);

  state::HealthStatus status() const { return status_; }
  const std::string& output() const { return output_; }
  // When the current status began (critical: the deregister-after clock).
  Time since() const { return since_; }
  int successes() const { return successes_; }
  int failures() const { return failures_; }

 private:
  state::HealthStatus status_ = state::HealthStatus::kCritical;
  std::string output_;
  Time since_ = absl::InfinitePast();
  int successes_ = 0;
  int failures_ = 0;
};

}  // namespace muster::agent
