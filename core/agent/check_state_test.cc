// The check state machine: results by kind, the success/failure thresholds, flapping, output
// cut at 4 KiB, and Consul's rules for a definition.
#include "core/agent/check_state.h"

#include <string>

#include "gtest/gtest.h"

namespace muster::agent {
namespace {

using state::HealthStatus;

const Time kT0 = absl::FromUnixSeconds(1'000'000);

CheckDefinition Http() {
  CheckDefinition d;
  d.id = "web";
  d.name = "web";
  d.kind = CheckKind::kHttp;
  d.http = "http://127.0.0.1:8080/health";
  d.interval = absl::Seconds(10);
  return d;
}

ProcessExitedInput Exit(int code, std::string output = "", bool timed_out = false) {
  ProcessExitedInput e;
  e.exit_code = code;
  e.output = std::move(output);
  e.timed_out = timed_out;
  return e;
}

TEST(CheckResult, HttpStatusCodes) {
  const CheckDefinition d = Http();
  EXPECT_EQ(ResultOfExit(d, Exit(200, "ok")).status, HealthStatus::kPassing);
  EXPECT_EQ(ResultOfExit(d, Exit(204)).status, HealthStatus::kPassing);
  EXPECT_EQ(ResultOfExit(d, Exit(299)).status, HealthStatus::kPassing);
  EXPECT_EQ(ResultOfExit(d, Exit(429)).status, HealthStatus::kWarning);
  EXPECT_EQ(ResultOfExit(d, Exit(300)).status, HealthStatus::kCritical);
  EXPECT_EQ(ResultOfExit(d, Exit(503)).status, HealthStatus::kCritical);
  EXPECT_EQ(ResultOfExit(d, Exit(0, "connection refused")).status, HealthStatus::kCritical);
  EXPECT_EQ(ResultOfExit(d, Exit(0, "connection refused")).output, "connection refused");
  EXPECT_EQ(ResultOfExit(d, Exit(200, "ok", /*timed_out=*/true)).status, HealthStatus::kCritical);
  EXPECT_EQ(ResultOfExit(d, Exit(200, "ok")).output, "HTTP GET http://127.0.0.1:8080/health: 200 OK Output: ok");
}

TEST(CheckResult, ScriptExitCodes) {
  CheckDefinition d;
  d.kind = CheckKind::kScript;
  d.args = {"/bin/true"};
  EXPECT_EQ(ResultOfExit(d, Exit(0)).status, HealthStatus::kPassing);
  EXPECT_EQ(ResultOfExit(d, Exit(1)).status, HealthStatus::kWarning);
  EXPECT_EQ(ResultOfExit(d, Exit(2)).status, HealthStatus::kCritical);
  EXPECT_EQ(ResultOfExit(d, Exit(127)).status, HealthStatus::kCritical);
  EXPECT_EQ(ResultOfExit(d, Exit(-1)).status, HealthStatus::kCritical);
  const CheckResult timed_out = ResultOfExit(d, Exit(0, "", true));
  EXPECT_EQ(timed_out.status, HealthStatus::kCritical);
  EXPECT_EQ(timed_out.output, "Timed out (30s) running check");
}

TEST(CheckResult, TcpConnects) {
  CheckDefinition d;
  d.kind = CheckKind::kTcp;
  d.tcp = "127.0.0.1:22";
  EXPECT_EQ(ResultOfExit(d, Exit(0)).status, HealthStatus::kPassing);
  EXPECT_EQ(ResultOfExit(d, Exit(0)).output, "TCP connect 127.0.0.1:22: Success");
  EXPECT_EQ(ResultOfExit(d, Exit(1, "refused")).status, HealthStatus::kCritical);
}

TEST(CheckOutput, CutAt4KiBKeepingTheEnd) {
  EXPECT_EQ(CutCheckOutput("short"), "short");
  const std::string exact(kCheckOutputBytesMax, 'x');
  EXPECT_EQ(CutCheckOutput(exact), exact);
  std::string big(10'000, 'a');
  big += "END";
  const std::string cut = CutCheckOutput(big);
  EXPECT_EQ(cut.rfind("Captured 4096 of 10003 bytes\n...\n", 0), 0u);
  EXPECT_EQ(cut.substr(cut.size() - 3), "END");
  EXPECT_EQ(cut.size(), std::string("Captured 4096 of 10003 bytes\n...\n").size() + kCheckOutputBytesMax);
  CheckDefinition d = Http();
  EXPECT_LE(ResultOfExit(d, Exit(200, big)).output.size(), kCheckOutputBytesMax + 64);
}

TEST(CheckState, NoThresholdsFollowsEachResult) {
  const CheckDefinition d = Http();
  CheckState s(HealthStatus::kCritical, "", kT0);
  EXPECT_TRUE(s.Record(kT0 + absl::Seconds(1), d, {HealthStatus::kPassing, "ok"}));
  EXPECT_EQ(s.status(), HealthStatus::kPassing);
  EXPECT_EQ(s.since(), kT0 + absl::Seconds(1));
  EXPECT_FALSE(s.Record(kT0 + absl::Seconds(2), d, {HealthStatus::kPassing, "ok again"}));
  EXPECT_EQ(s.output(), "ok again");
  EXPECT_EQ(s.since(), kT0 + absl::Seconds(1));  // the status did not change
  EXPECT_TRUE(s.Record(kT0 + absl::Seconds(3), d, {HealthStatus::kWarning, "slow"}));
  EXPECT_TRUE(s.Record(kT0 + absl::Seconds(4), d, {HealthStatus::kCritical, "down"}));
  EXPECT_EQ(s.since(), kT0 + absl::Seconds(4));
}

TEST(CheckState, SuccessBeforePassing) {
  CheckDefinition d = Http();
  d.success_before_passing = 3;
  CheckState s(HealthStatus::kCritical, "", kT0);
  EXPECT_FALSE(s.Record(kT0, d, {HealthStatus::kPassing, "1"}));
  EXPECT_FALSE(s.Record(kT0, d, {HealthStatus::kPassing, "2"}));
  EXPECT_EQ(s.status(), HealthStatus::kCritical);
  EXPECT_EQ(s.output(), "");  // below the threshold nothing changes, the output neither
  EXPECT_TRUE(s.Record(kT0, d, {HealthStatus::kPassing, "3"}));
  EXPECT_EQ(s.status(), HealthStatus::kPassing);
  EXPECT_EQ(s.output(), "3");
  // Once passing, a fourth success keeps it (the counter does not need to start again).
  EXPECT_FALSE(s.Record(kT0, d, {HealthStatus::kPassing, "4"}));
  EXPECT_EQ(s.output(), "4");
}

TEST(CheckState, FailuresBeforeCritical) {
  CheckDefinition d = Http();
  d.failures_before_critical = 2;
  CheckState s(HealthStatus::kPassing, "", kT0);
  EXPECT_FALSE(s.Record(kT0, d, {HealthStatus::kCritical, "down 1"}));
  EXPECT_EQ(s.status(), HealthStatus::kPassing);
  EXPECT_TRUE(s.Record(kT0, d, {HealthStatus::kCritical, "down 2"}));
  EXPECT_EQ(s.status(), HealthStatus::kCritical);
}

TEST(CheckState, FlappingBelowBothThresholdsNeverChanges) {
  CheckDefinition d = Http();
  d.success_before_passing = 2;
  d.failures_before_critical = 2;
  CheckState s(HealthStatus::kPassing, "start", kT0);
  // Alternating results reset each other's counter: the status holds.
  for (int i = 0; i < 50; ++i) {
    const HealthStatus r = i % 2 == 0 ? HealthStatus::kCritical : HealthStatus::kPassing;
    EXPECT_FALSE(s.Record(kT0 + absl::Seconds(i), d, {r, "flap"}));
  }
  EXPECT_EQ(s.status(), HealthStatus::kPassing);
  EXPECT_EQ(s.since(), kT0);
  // Two failures in a row do count.
  EXPECT_FALSE(s.Record(kT0 + absl::Seconds(60), d, {HealthStatus::kCritical, "a"}));
  EXPECT_TRUE(s.Record(kT0 + absl::Seconds(61), d, {HealthStatus::kCritical, "b"}));
  EXPECT_EQ(s.since(), kT0 + absl::Seconds(61));
}

TEST(CheckState, FlappingWithoutThresholdsChangesEveryTime) {
  const CheckDefinition d = Http();
  CheckState s(HealthStatus::kPassing, "", kT0);
  int changes = 0;
  for (int i = 0; i < 10; ++i) {
    changes += s.Record(kT0, d, {i % 2 == 0 ? HealthStatus::kCritical : HealthStatus::kPassing, ""}) ? 1 : 0;
  }
  EXPECT_EQ(changes, 10);
}

TEST(CheckDefinitionRules, ValidateAsConsul) {
  CheckDefinition ttl;
  ttl.id = ttl.name = "t";
  ttl.kind = CheckKind::kTtl;
  EXPECT_FALSE(ValidateCheck(&ttl, false).ok());
  ttl.ttl = absl::Seconds(10);
  EXPECT_TRUE(ValidateCheck(&ttl, false).ok());

  CheckDefinition http = Http();
  http.interval = absl::ZeroDuration();
  EXPECT_FALSE(ValidateCheck(&http, false).ok());
  http.interval = absl::Milliseconds(10);
  EXPECT_TRUE(ValidateCheck(&http, false).ok());
  EXPECT_EQ(http.interval, kCheckIntervalMin);  // raised, as Consul

  CheckDefinition script;
  script.id = script.name = "s";
  script.kind = CheckKind::kShell;
  script.script = "true";
  script.interval = absl::Seconds(5);
  absl::Status refused = ValidateCheck(&script, /*enable_script_checks=*/false);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("enable_script_checks"), std::string_view::npos);
  EXPECT_TRUE(ValidateCheck(&script, true).ok());
}

TEST(CheckProcessStart, EachKindItsTask) {
  CheckDefinition http = Http();
  http.method = "POST";
  http.headers = {{"X-A", "1"}};
  http.tls_skip_verify = true;
  ProcessStart p = CheckProcess(http);
  EXPECT_EQ(p.kind, ProcessStart::Kind::kHttp);
  EXPECT_EQ(p.url, http.http);
  EXPECT_EQ(p.method, "POST");
  EXPECT_EQ(p.headers, http.headers);
  EXPECT_TRUE(p.tls_skip_verify);
  EXPECT_EQ(p.timeout, kCheckHttpTimeoutDefault);

  CheckDefinition args;
  args.kind = CheckKind::kScript;
  args.args = {"/bin/true", "x"};
  args.timeout = absl::Seconds(3);
  p = CheckProcess(args);
  EXPECT_EQ(p.kind, ProcessStart::Kind::kExec);
  EXPECT_EQ(p.args, args.args);
  EXPECT_EQ(p.timeout, absl::Seconds(3));

  CheckDefinition shell;
  shell.kind = CheckKind::kShell;
  shell.script = "exit 1";
  p = CheckProcess(shell);
  EXPECT_EQ(p.kind, ProcessStart::Kind::kShell);
  EXPECT_EQ(p.command, "exit 1");

  CheckDefinition tcp;
  tcp.kind = CheckKind::kTcp;
  tcp.tcp = "[::1]:80";
  p = CheckProcess(tcp);
  EXPECT_EQ(p.kind, ProcessStart::Kind::kTcp);
  EXPECT_EQ(p.address, "[::1]:80");
}

state::Check NodeCheck(std::string id, HealthStatus status, std::string service_id = "", std::string output = "") {
  state::Check c;
  c.node = "n1";
  c.check_id = c.name = std::move(id);
  c.status = status;
  c.service_id = std::move(service_id);
  c.output = std::move(output);
  return c;
}

CheckDefinition AliasOf(std::string service, std::string node = "") {
  CheckDefinition d;
  d.id = d.name = "alias";
  d.kind = CheckKind::kAlias;
  d.alias_service = std::move(service);
  d.alias_node = std::move(node);
  return d;
}

TEST(AliasRule, EveryBranchAsConsul) {
  const CheckDefinition alias = AliasOf("web1");
  // Nothing counted, the service registered: passing, "No checks found.".
  CheckResult r = AliasResult(alias, "alias", {}, /*service_registered=*/true);
  EXPECT_EQ(r.status, HealthStatus::kPassing);
  EXPECT_EQ(r.output, "No checks found.");
  // Nothing counted, the service unknown: critical, naming the service and node.
  r = AliasResult(AliasOf("web1", "n2"), "", {}, false);
  EXPECT_EQ(r.status, HealthStatus::kCritical);
  EXPECT_EQ(r.output, "Service web1 could not be found on node n2");
  // Only passing checks: "All checks passing.".
  r = AliasResult(alias, "alias", {NodeCheck("a", HealthStatus::kPassing, "web1")}, true);
  EXPECT_EQ(r.status, HealthStatus::kPassing);
  EXPECT_EQ(r.output, "All checks passing.");
  // Another service's critical check is skipped; a node check counts.
  r = AliasResult(alias, "alias",
                  {NodeCheck("other", HealthStatus::kCritical, "db1"), NodeCheck("a", HealthStatus::kPassing, "web1")},
                  true);
  EXPECT_EQ(r.status, HealthStatus::kPassing);
  r = AliasResult(alias, "alias",
                  {NodeCheck("a", HealthStatus::kPassing, "web1"), NodeCheck("serf", HealthStatus::kCritical, "", "gone")},
                  true);
  EXPECT_EQ(r.status, HealthStatus::kCritical);
  EXPECT_EQ(r.output, "Aliased check \"serf\" failing: gone");
  // A warning wins over passing, and a later passing check does not take it back.
  r = AliasResult(alias, "alias",
                  {NodeCheck("a", HealthStatus::kWarning, "web1", "slow"), NodeCheck("b", HealthStatus::kPassing, "web1")},
                  true);
  EXPECT_EQ(r.status, HealthStatus::kWarning);
  EXPECT_EQ(r.output, "Aliased check \"a\" failing: slow");
  // A critical outranks a warning wherever it comes, and the first critical is named.
  r = AliasResult(alias, "alias",
                  {NodeCheck("a", HealthStatus::kWarning, "web1"), NodeCheck("b", HealthStatus::kCritical, "web1", "x"),
                   NodeCheck("c", HealthStatus::kCritical, "web1", "y")},
                  true);
  EXPECT_EQ(r.status, HealthStatus::kCritical);
  EXPECT_EQ(r.output, "Aliased check \"b\" failing: x");
  // A check of the service seen: never "not found", even when the service is not known.
  r = AliasResult(alias, "alias", {NodeCheck("a", HealthStatus::kPassing, "web1")}, false);
  EXPECT_EQ(r.status, HealthStatus::kPassing);
  // Only node checks seen and the service unknown: critical, not found.
  r = AliasResult(alias, "alias", {NodeCheck("serf", HealthStatus::kPassing)}, false);
  EXPECT_EQ(r.status, HealthStatus::kCritical);
  EXPECT_EQ(r.output, "Service web1 could not be found on node ");
  // The alias check itself (a node check) is never counted.
  r = AliasResult(alias, "alias", {NodeCheck("alias", HealthStatus::kCritical)}, true);
  EXPECT_EQ(r.status, HealthStatus::kPassing);
  // Checks of another node than the aliased one are skipped.
  state::Check elsewhere = NodeCheck("a", HealthStatus::kCritical, "web1");
  elsewhere.node = "n3";
  r = AliasResult(AliasOf("web1", "n2"), "", {elsewhere}, true);
  EXPECT_EQ(r.status, HealthStatus::kPassing);
  EXPECT_EQ(r.output, "No checks found.");
}

TEST(AliasRule, SeesTheServiceOnlyThroughAChecksItCounts) {
  // The service's check on the aliased node: seen (no lookup of the node's services needed).
  state::Check web = NodeCheck("a", HealthStatus::kPassing, "web1");
  web.node = "n2";
  EXPECT_TRUE(AliasSeesService(AliasOf("web1", "n2"), "", {web}));
  // Another service's check, one on another node, a node check: not the service's.
  state::Check db = web;
  db.service_id = "db1";
  state::Check serf = NodeCheck("serf", HealthStatus::kPassing);
  serf.node = "n2";
  EXPECT_FALSE(AliasSeesService(AliasOf("web1", "n2"), "", {db, serf}));
  EXPECT_FALSE(AliasSeesService(AliasOf("web1", "n3"), "", {web}));
  // A node alias (no service) sees the node through any node check, not through itself.
  EXPECT_TRUE(AliasSeesService(AliasOf("", "n2"), "", {serf}));
  EXPECT_FALSE(AliasSeesService(AliasOf("", "n2"), "", {web}));
  EXPECT_FALSE(AliasSeesService(AliasOf(""), "alias", {NodeCheck("alias", HealthStatus::kPassing)}));
}

TEST(AliasRule, ValidationAndKind) {
  CheckDefinition d = AliasOf("web1");
  EXPECT_TRUE(ValidateCheck(&d, false).ok());  // no interval, TTL or script needed
  EXPECT_FALSE(d.runs());
  EXPECT_EQ(CheckKindType(d.kind), "alias");
  d.alias_service.clear();
  EXPECT_FALSE(ValidateCheck(&d, false).ok());
}

}  // namespace
}  // namespace muster::agent
