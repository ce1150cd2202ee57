// LocalState: registration and its storage record, a restart reading it back, a crash losing
// only a write not yet applied, TTL expiry, interval runs as host tasks and their results,
// deregistration after critical, maintenance.
#include "core/agent/local_state.h"

#include <functional>
#include <map>
#include <string>

#include "core/seam/apply_storage_op.h"
#include "gtest/gtest.h"

namespace muster::agent {
namespace {

using state::HealthStatus;

const Time kT0 = absl::FromUnixSeconds(1'000'000);

class MapStorage final : public StorageView {
 public:
  std::optional<std::string> Get(std::string_view key) const override {
    auto it = kv_.find(key);
    if (it == kv_.end()) return std::nullopt;
    return it->second;
  }
  void Scan(std::string_view begin, std::string_view end,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    for (auto it = kv_.lower_bound(begin); it != kv_.end() && (end.empty() || it->first < end); ++it) {
      if (!visit(it->first, it->second)) return;
    }
  }
  void Apply(const Effects& e) {
    for (const StorageWrite& w : e.writes) {
      for (const StorageOp& op : w.ops) ApplyStorageOp(kv_, op);
    }
  }
  size_t size() const { return kv_.size(); }

 private:
  OrderedKv kv_;
};

LocalStateOptions Options(bool scripts = false) {
  LocalStateOptions o;
  o.node_name = "n1";
  o.enable_script_checks = scripts;
  o.reap_interval = absl::Seconds(3);
  o.deregister_interval_min = absl::ZeroDuration();
  return o;
}

ServiceRegistration Web(std::vector<CheckDefinition> checks = {}) {
  ServiceRegistration r;
  r.service.id = "web1";
  r.service.name = "web";
  r.service.tags = {"a"};
  r.service.port = 80;
  r.checks = std::move(checks);
  for (CheckDefinition& c : r.checks) c.service_id = "web1";
  return r;
}

CheckDefinition Ttl(std::string id, Duration ttl) {
  CheckDefinition d;
  d.id = d.name = std::move(id);
  d.kind = CheckKind::kTtl;
  d.ttl = ttl;
  return d;
}

CheckDefinition HttpCheck(std::string id) {
  CheckDefinition d;
  d.id = d.name = std::move(id);
  d.kind = CheckKind::kHttp;
  d.http = "http://127.0.0.1:1/";
  d.interval = absl::Seconds(10);
  return d;
}

// Drives one LocalState like a host: every batch's writes applied, ticks at the wake-up.
struct Harness {
  MapStorage disk;
  std::unique_ptr<LocalState> local;
  Time now = kT0;
  std::optional<Time> wake;
  std::vector<ProcessStart> started;
  LocalStateOptions options;

  explicit Harness(LocalStateOptions o = Options()) : options(o) { Start(); }
  void Start() {
    local = std::make_unique<LocalState>(options, &disk, 7, now, Logger());
    Effects e;
    local->Tick(now, &e);
    Take(e);
  }
  void Take(Effects& e) {
    disk.Apply(e);
    for (ProcessStart& p : e.processes) started.push_back(p);
    wake = e.wake_at;
  }
  // Ticks at each wake-up until `until`.
  void RunUntil(Time until) {
    for (int guard = 0; guard < 100000 && wake.has_value() && *wake <= until; ++guard) {
      now = std::max(now, *wake);
      Effects e;
      local->Tick(now, &e);
      Take(e);
    }
    now = until;
  }
  template <typename F>
  auto Do(F f) {
    Effects e;
    auto r = f(&e);
    Take(e);
    return r;
  }
  void Exit(uint64_t id, int code, std::string output = "") {
    ProcessExitedInput x;
    x.process_id = id;
    x.exit_code = code;
    x.output = std::move(output);
    Effects e;
    local->HandleProcessExit(now, x, &e);
    Take(e);
  }
};

TEST(LocalState, RegisterWritesOneSyncedRecordEachAndRestartReadsThemBack) {
  Harness h;
  Effects e;
  absl::StatusOr<uint64_t> w = h.local->AddService(h.now, Web({Ttl("web-ttl", absl::Seconds(30))}), false, &e);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(e.writes.size(), 1u);
  EXPECT_EQ(e.writes[0].id, *w);
  EXPECT_TRUE(e.writes[0].sync);
  EXPECT_EQ(e.writes[0].ops.size(), 2u);  // the service and its check, atomically
  h.Take(e);
  EXPECT_TRUE(h.disk.Get("local/service/web1").has_value());
  EXPECT_TRUE(h.disk.Get("local/check/web-ttl").has_value());
  Effects update;
  absl::StatusOr<uint64_t> ttl = h.local->UpdateTtl(h.now, "web-ttl", HealthStatus::kPassing, "fine", &update);
  ASSERT_TRUE(ttl.ok());
  EXPECT_EQ(*ttl, 0u);  // not waited for: an unsynced write gates no answer
  ASSERT_EQ(update.writes.size(), 1u);
  EXPECT_FALSE(update.writes[0].sync);
  h.Take(update);

  // A restart: a new LocalState on the same storage has both, with the check's status.
  h.Start();
  ASSERT_EQ(h.local->services().size(), 1u);
  EXPECT_EQ(h.local->services().at("web1").service.tags, std::vector<std::string>{"a"});
  ASSERT_EQ(h.local->checks().size(), 1u);
  EXPECT_EQ(h.local->checks().at("web-ttl").state.status(), HealthStatus::kPassing);
  EXPECT_EQ(h.local->checks().at("web-ttl").state.output(), "fine");
  EXPECT_FALSE(h.local->services().at("web1").in_sync);  // a restart syncs everything again
}

TEST(LocalState, ACrashBeforeTheWriteKeepsThePreviousVersion) {
  Harness h;
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, Web(), false, e); }).ok());
  // The second registration's write never reaches the disk (a crash before it applied).
  ServiceRegistration changed = Web();
  changed.service.port = 81;
  Effects lost;
  ASSERT_TRUE(h.local->AddService(h.now, changed, false, &lost).ok());
  h.Start();
  EXPECT_EQ(h.local->services().at("web1").service.port, 80);
}

TEST(LocalState, DeregisterRemovesTheServiceItsChecksAndTheirRecords) {
  Harness h;
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, Web({Ttl("c1", absl::Seconds(9))}), false, e); }).ok());
  EXPECT_EQ(h.disk.size(), 2u);
  EXPECT_GT(h.Do([&](Effects* e) { return h.local->RemoveService(h.now, "web1", e); }), 0u);
  EXPECT_EQ(h.disk.size(), 0u);
  EXPECT_TRUE(h.local->services().empty());
  EXPECT_TRUE(h.local->checks().empty());
  EXPECT_TRUE(h.local->deleted_services().contains("web1"));
  EXPECT_TRUE(h.local->deleted_checks().contains("c1"));
  // Unknown: nothing to do, no write (Consul answers 200).
  EXPECT_EQ(h.Do([&](Effects* e) { return h.local->RemoveService(h.now, "nope", e); }), 0u);
}

TEST(LocalState, ACheckOfAnUnknownServiceIsRefused) {
  Harness h;
  CheckDefinition c = Ttl("c", absl::Seconds(5));
  c.service_id = "ghost";
  absl::StatusOr<uint64_t> w = h.Do([&](Effects* e) { return h.local->AddCheck(h.now, c, e); });
  EXPECT_EQ(w.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(LocalState, ScriptChecksNeedEnableScriptChecks) {
  CheckDefinition s;
  s.id = s.name = "s";
  s.kind = CheckKind::kShell;
  s.script = "/bin/true";
  s.interval = absl::Seconds(1);
  Harness off;
  EXPECT_EQ(off.Do([&](Effects* e) { return off.local->AddCheck(off.now, s, e); }).status().code(),
            absl::StatusCode::kInvalidArgument);
  Harness on(Options(/*scripts=*/true));
  EXPECT_TRUE(on.Do([&](Effects* e) { return on.local->AddCheck(on.now, s, e); }).ok());
}

TEST(LocalState, TtlExpiresToCriticalWithConsulsOutput) {
  Harness h;
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddCheck(h.now, Ttl("t", absl::Seconds(10)), e); }).ok());
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->UpdateTtl(h.now, "t", HealthStatus::kPassing, "", e); }).ok());
  h.RunUntil(kT0 + absl::Seconds(9));
  EXPECT_EQ(h.local->checks().at("t").state.status(), HealthStatus::kPassing);
  // A pass at 9 s starts the TTL again.
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->UpdateTtl(h.now, "t", HealthStatus::kPassing, "alive", e); }).ok());
  h.RunUntil(kT0 + absl::Seconds(18));
  EXPECT_EQ(h.local->checks().at("t").state.status(), HealthStatus::kPassing);
  h.RunUntil(kT0 + absl::Seconds(20));
  EXPECT_EQ(h.local->checks().at("t").state.status(), HealthStatus::kCritical);
  EXPECT_EQ(h.local->checks().at("t").state.output(), "TTL expired (last output before timeout follows): alive");
  // Updating a check that is not TTL, or unknown, is NOT_FOUND.
  EXPECT_EQ(h.Do([&](Effects* e) { return h.local->UpdateTtl(h.now, "x", HealthStatus::kPassing, "", e); }).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(LocalState, IntervalChecksRunAsHostTasksAndTheirResultsCount) {
  Harness h;
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, Web({HttpCheck("h")}), false, e); }).ok());
  EXPECT_EQ(h.local->checks().at("h").state.status(), HealthStatus::kCritical);
  h.RunUntil(kT0 + absl::Seconds(10));  // the first run is staggered within the interval
  ASSERT_EQ(h.started.size(), 1u);
  EXPECT_EQ(h.started[0].kind, ProcessStart::Kind::kHttp);
  EXPECT_EQ(h.started[0].url, "http://127.0.0.1:1/");
  const uint64_t changes = h.local->changes();
  h.Exit(h.started[0].id, 200, "ok");
  EXPECT_EQ(h.local->checks().at("h").state.status(), HealthStatus::kPassing);
  EXPECT_GT(h.local->changes(), changes);  // a status change calls for a sync
  // One run per interval, never two at once: a run still out at the next interval is skipped.
  h.RunUntil(kT0 + absl::Seconds(60));
  EXPECT_EQ(h.started.size(), 2u);
  EXPECT_EQ(h.local->running(), 1u);
  h.Exit(h.started[1].id, 503, "down");
  EXPECT_EQ(h.local->checks().at("h").state.status(), HealthStatus::kCritical);
  // The next run starts at the next interval, and stays the only one until it ends.
  h.RunUntil(kT0 + absl::Seconds(100));
  EXPECT_EQ(h.started.size(), 3u);
  EXPECT_EQ(h.local->running(), 1u);
  // An exit for a process it never started changes nothing.
  h.Exit(999, 200);
  EXPECT_EQ(h.local->checks().at("h").state.status(), HealthStatus::kCritical);
}

TEST(LocalState, ThousandsOfChecksOneTimerQueue) {
  Harness h;
  for (int i = 0; i < 3000; ++i) {
    CheckDefinition c = HttpCheck(absl::StrCat("c", i));
    ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddCheck(h.now, c, e); }).ok());
  }
  h.RunUntil(kT0 + absl::Seconds(10));
  EXPECT_EQ(h.started.size(), 3000u);  // each ran once in its first interval
  for (const ProcessStart& p : h.started) h.Exit(p.id, 200);
  for (const auto& [id, c] : h.local->checks()) EXPECT_EQ(c.state.status(), HealthStatus::kPassing) << id;
}

TEST(LocalState, DeregisterCriticalServiceAfter) {
  Harness h;
  CheckDefinition c = Ttl("t", absl::Seconds(5));
  c.deregister_critical_service_after = absl::Seconds(30);
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, Web({c}), false, e); }).ok());
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->UpdateTtl(h.now, "t", HealthStatus::kPassing, "", e); }).ok());
  h.RunUntil(kT0 + absl::Seconds(30));  // critical since 5 s
  EXPECT_TRUE(h.local->services().contains("web1"));
  h.RunUntil(kT0 + absl::Seconds(34));  // 29 s critical, the reaper runs every 3 s
  EXPECT_TRUE(h.local->services().contains("web1"));
  h.RunUntil(kT0 + absl::Seconds(40));
  EXPECT_FALSE(h.local->services().contains("web1"));
  EXPECT_FALSE(h.local->checks().contains("t"));
  EXPECT_EQ(h.disk.size(), 0u);
}

TEST(LocalState, APassingCheckInTimeKeepsItsService) {
  Harness h;
  CheckDefinition c = Ttl("t", absl::Seconds(5));
  c.deregister_critical_service_after = absl::Seconds(10);
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, Web({c}), false, e); }).ok());
  // Critical from the start; passing again at 8 s, before the 10 s are up.
  h.RunUntil(kT0 + absl::Seconds(8));
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->UpdateTtl(h.now, "t", HealthStatus::kPassing, "", e); }).ok());
  h.RunUntil(kT0 + absl::Seconds(12));
  EXPECT_TRUE(h.local->services().contains("web1"));
}

TEST(LocalState, ReplaceExistingChecks) {
  Harness h;
  ASSERT_TRUE(h.Do([&](Effects* e) {
                 return h.local->AddService(h.now, Web({Ttl("a", absl::Seconds(5)), Ttl("b", absl::Seconds(5))}), false, e);
               }).ok());
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->UpdateTtl(h.now, "a", HealthStatus::kPassing, "", e); }).ok());
  // Without the flag the old checks stay; a check registered again keeps its status.
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, Web({Ttl("a", absl::Seconds(5))}), false, e); }).ok());
  EXPECT_TRUE(h.local->checks().contains("b"));
  EXPECT_EQ(h.local->checks().at("a").state.status(), HealthStatus::kPassing);
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, Web({Ttl("a", absl::Seconds(5))}), true, e); }).ok());
  EXPECT_FALSE(h.local->checks().contains("b"));
  EXPECT_TRUE(h.local->checks().contains("a"));
  EXPECT_FALSE(h.disk.Get("local/check/b").has_value());
}

TEST(LocalState, ConfiguredServicesAndChecksAreAddedAtStartAndNeverWritten) {
  LocalStateOptions o = Options();
  o.config_services = {R"({"name": "cfg", "port": 1, "check": {"ttl": "30s"}})", R"({"port": 2})"};
  o.config_checks = {R"({"name": "disk", "http": "http://127.0.0.1:1/", "interval": "5s"})",
                     R"({"name": "sh", "script": "true", "interval": "5s"})"};  // scripts are off
  Harness h(o);
  EXPECT_TRUE(h.local->services().contains("cfg"));
  EXPECT_EQ(h.local->services().size(), 1u);  // the one without a name is skipped
  EXPECT_TRUE(h.local->checks().contains("service:cfg"));
  EXPECT_TRUE(h.local->checks().contains("disk"));
  EXPECT_FALSE(h.local->checks().contains("sh"));
  EXPECT_FALSE(h.local->services().at("cfg").in_sync);  // anti-entropy sends them
  // Nothing of theirs is written, also not a status change.
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->UpdateTtl(h.now, "service:cfg", HealthStatus::kPassing, "", e); }).ok());
  EXPECT_EQ(h.local->checks().at("service:cfg").state.status(), HealthStatus::kPassing);
  h.RunUntil(kT0 + absl::Seconds(6));
  ASSERT_FALSE(h.started.empty());  // the configured HTTP check runs
  h.Exit(h.started[0].id, 200);
  EXPECT_EQ(h.disk.size(), 0u);
  // Taken out of the configuration: gone after the restart.
  h.options.config_services.clear();
  h.options.config_checks.clear();
  h.Start();
  EXPECT_TRUE(h.local->services().empty());
  EXPECT_TRUE(h.local->checks().empty());
}

TEST(LocalState, Maintenance) {
  Harness h;
  h.Do([&](Effects* e) { return h.local->SetNodeMaintenance(h.now, true, "", e); });
  ASSERT_TRUE(h.local->checks().contains("_node_maintenance"));
  const state::Check node = h.local->CheckRecord(h.local->checks().at("_node_maintenance"));
  EXPECT_EQ(node.status, HealthStatus::kCritical);
  EXPECT_EQ(node.notes, kNodeMaintenanceDefaultReason);
  EXPECT_EQ(node.type, "maintenance");
  h.Do([&](Effects* e) { return h.local->SetNodeMaintenance(h.now, false, "", e); });
  EXPECT_FALSE(h.local->checks().contains("_node_maintenance"));

  EXPECT_EQ(h.Do([&](Effects* e) { return h.local->SetServiceMaintenance(h.now, "web1", true, "x", e); }).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, Web(), false, e); }).ok());
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->SetServiceMaintenance(h.now, "web1", true, "deploy", e); }).ok());
  const state::Check svc = h.local->CheckRecord(h.local->checks().at("_service_maintenance:web1"));
  EXPECT_EQ(svc.notes, "deploy");
  EXPECT_EQ(svc.service_id, "web1");
  EXPECT_EQ(svc.service_name, "web");
  EXPECT_EQ(svc.status, HealthStatus::kCritical);
  // It survives a restart, as Consul persists it.
  h.Start();
  EXPECT_TRUE(h.local->checks().contains("_service_maintenance:web1"));
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->SetServiceMaintenance(h.now, "web1", false, "", e); }).ok());
  EXPECT_FALSE(h.local->checks().contains("_service_maintenance:web1"));
}

CheckDefinition Alias(std::string id, std::string service) {
  CheckDefinition d;
  d.id = d.name = std::move(id);
  d.kind = CheckKind::kAlias;
  d.alias_service = std::move(service);
  return d;
}

TEST(LocalState, ALocalAliasFollowsItsServicesCheck) {
  Harness h;
  CheckDefinition ttl = Ttl("web-ttl", absl::Minutes(10));
  ttl.initial_status = HealthStatus::kPassing;
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, Web({ttl}), false, e); }).ok());
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddCheck(h.now, Alias("a", "web1"), e); }).ok());
  auto alias = [&] { return h.local->checks().at("a").state; };
  EXPECT_EQ(alias().status(), HealthStatus::kPassing);
  EXPECT_EQ(alias().output(), "All checks passing.");
  EXPECT_EQ(h.local->CheckRecord(h.local->checks().at("a")).type, "alias");
  EXPECT_TRUE(h.wake.has_value());  // no timer of its own, but the TTL's
  const struct {
    HealthStatus status;
    const char* output;
  } steps[] = {{HealthStatus::kWarning, "Aliased check \"web-ttl\" failing: slow"},
               {HealthStatus::kCritical, "Aliased check \"web-ttl\" failing: slow"},
               {HealthStatus::kPassing, "All checks passing."}};
  for (const auto& step : steps) {
    const uint64_t changes = h.local->changes();
    ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->UpdateTtl(h.now, "web-ttl", step.status, "slow", e); }).ok());
    EXPECT_EQ(alias().status(), step.status);
    EXPECT_EQ(alias().output(), step.output);
    EXPECT_FALSE(h.local->checks().at("a").in_sync);
    EXPECT_GE(h.local->changes(), changes + 2);  // the TTL's change and the alias's: a partial sync
  }
  // The TTL running out is followed too (the timer path).
  h.RunUntil(h.now + absl::Minutes(11));
  EXPECT_EQ(alias().status(), HealthStatus::kCritical);
  EXPECT_EQ(alias().output(), "Aliased check \"web-ttl\" failing: TTL expired (last output before timeout follows): slow");
  // A node check counts: maintenance makes the alias critical, leaving it lets it go back.
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->UpdateTtl(h.now, "web-ttl", HealthStatus::kPassing, "", e); }).ok());
  EXPECT_EQ(alias().status(), HealthStatus::kPassing);
  h.Do([&](Effects* e) { return h.local->SetNodeMaintenance(h.now, true, "", e); });
  EXPECT_EQ(alias().status(), HealthStatus::kCritical);
  h.Do([&](Effects* e) { return h.local->SetNodeMaintenance(h.now, false, "", e); });
  EXPECT_EQ(alias().status(), HealthStatus::kPassing);
  // The service deregistered: critical, not found.
  h.Do([&](Effects* e) { return h.local->RemoveService(h.now, "web1", e); });
  EXPECT_EQ(alias().status(), HealthStatus::kCritical);
  EXPECT_EQ(alias().output(), "Service web1 could not be found on node ");
  // Registered again without checks: passing, nothing found.
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, Web(), false, e); }).ok());
  EXPECT_EQ(alias().status(), HealthStatus::kPassing);
  EXPECT_EQ(alias().output(), "No checks found.");
}

TEST(LocalState, AliasesRestartChainAndStayLocal) {
  Harness h;
  CheckDefinition ttl = Ttl("web-ttl", absl::Minutes(10));
  ttl.initial_status = HealthStatus::kWarning;
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, Web({ttl}), false, e); }).ok());
  // A proxy service whose own check aliases web1, and a node alias of the proxy: a chain.
  ServiceRegistration proxy;
  proxy.service.id = proxy.service.name = "proxy";
  CheckDefinition of_web = Alias("proxy-alias", "web1");
  of_web.service_id = "proxy";
  proxy.checks = {of_web};
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, proxy, false, e); }).ok());
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddCheck(h.now, Alias("of-proxy", "proxy"), e); }).ok());
  EXPECT_EQ(h.local->checks().at("proxy-alias").state.status(), HealthStatus::kWarning);
  EXPECT_EQ(h.local->checks().at("of-proxy").state.status(), HealthStatus::kWarning);
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->UpdateTtl(h.now, "web-ttl", HealthStatus::kCritical, "", e); }).ok());
  EXPECT_EQ(h.local->checks().at("of-proxy").state.status(), HealthStatus::kCritical);
  // After a restart the aliases are recomputed from what was restored.
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->UpdateTtl(h.now, "web-ttl", HealthStatus::kPassing, "", e); }).ok());
  h.Start();
  EXPECT_EQ(h.local->checks().at("web-ttl").state.status(), HealthStatus::kPassing);
  EXPECT_EQ(h.local->checks().at("proxy-alias").state.output(), "All checks passing.");
  EXPECT_EQ(h.local->checks().at("proxy-alias").def.alias_service, "web1");
  EXPECT_EQ(h.local->checks().at("of-proxy").state.status(), HealthStatus::kPassing);
  // Two services whose checks alias each other: the bounded passes end; with nothing else to
  // go on they hold what they started from (critical), as Consul's would.
  for (const auto& [name, other] : {std::pair{"ring1", "ring2"}, std::pair{"ring2", "ring1"}}) {
    ServiceRegistration ring;
    ring.service.id = ring.service.name = name;
    CheckDefinition of_other = Alias(std::string(name) + "-alias", other);
    of_other.service_id = name;
    ring.checks = {of_other};
    ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddService(h.now, ring, false, e); }).ok());
  }
  EXPECT_EQ(h.local->checks().at("ring1-alias").state.status(), HealthStatus::kCritical);
  EXPECT_EQ(h.local->checks().at("ring2-alias").state.status(), HealthStatus::kCritical);
  // An alias of another node's service is left to remote_alias.h (its status stays until its
  // read answers); of this node's by name, computed here.
  CheckDefinition remote = Alias("r", "web1");
  remote.alias_node = "n2";
  EXPECT_TRUE(h.Do([&](Effects* e) { return h.local->AddCheck(h.now, remote, e); }).ok());
  EXPECT_EQ(h.local->checks().at("r").state.status(), HealthStatus::kCritical);
  EXPECT_EQ(h.local->remote_alias_ids(), absl::btree_set<std::string>{"r"});
  remote.alias_node = "n1";
  EXPECT_TRUE(h.Do([&](Effects* e) { return h.local->AddCheck(h.now, remote, e); }).ok());
  EXPECT_EQ(h.local->checks().at("r").state.status(), HealthStatus::kPassing);
  EXPECT_TRUE(h.local->remote_alias_ids().empty());
  // A remote alias's result is set from outside; a local check's is not taken that way.
  remote.alias_node = "n2";
  ASSERT_TRUE(h.Do([&](Effects* e) { return h.local->AddCheck(h.now, remote, e); }).ok());
  h.Do([&](Effects* e) {
    h.local->SetRemoteAliasResult(h.now, "r", CheckResult{HealthStatus::kWarning, "far"}, e);
    h.local->SetRemoteAliasResult(h.now, "web-ttl", CheckResult{HealthStatus::kCritical, "no"}, e);
    return 0;
  });
  EXPECT_EQ(h.local->checks().at("r").state.status(), HealthStatus::kWarning);
  EXPECT_EQ(h.local->checks().at("r").state.output(), "far");
  EXPECT_EQ(h.local->checks().at("web-ttl").state.status(), HealthStatus::kPassing);
}

}  // namespace
}  // namespace muster::agent
