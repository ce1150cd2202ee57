// Anti-entropy: the diff over every combination of local and remote present, absent and
// different (services and checks), serfHealth and protected services never removed; the
// full-sync interval's scaling; the syncer driven through a fake catalog (full sync, partial
// sync after a change, deregistration of what the agent dropped, back-off on failure).
#include "core/agent/anti_entropy.h"

#include <map>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace muster::agent {
namespace {

using state::HealthStatus;
namespace pba = ::muster::proto::agent;

const Time kT0 = absl::FromUnixSeconds(1'000'000);

state::Service Svc(std::string id, int port = 80) {
  state::Service s;
  s.id = id;
  s.name = "svc-" + id;
  s.port = port;
  return s;
}

state::Check Chk(std::string id, HealthStatus status = HealthStatus::kPassing, std::string service = "") {
  state::Check c;
  c.node = "n1";
  c.check_id = id;
  c.name = id;
  c.status = status;
  c.service_id = service;
  return c;
}

template <typename T>
bool Has(const std::vector<T>& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Every combination for one service and one check: local absent/present, remote
// absent/present-same/present-different.
TEST(DiffNode, EveryCombinationOfLocalAndRemote) {
  enum Remote { kAbsent, kSame, kDifferent };
  for (bool local_has : {false, true}) {
    for (Remote remote : {kAbsent, kSame, kDifferent}) {
      LocalNode local;
      RemoteNode rem;
      rem.exists = true;
      if (local_has) {
        local.services.push_back(Svc("s"));
        local.checks.push_back(Chk("c"));
      }
      if (remote == kSame) {
        rem.services.push_back(Svc("s"));
        rem.checks.push_back(Chk("c"));
      } else if (remote == kDifferent) {
        rem.services.push_back(Svc("s", 81));
        rem.checks.push_back(Chk("c", HealthStatus::kCritical));
      }
      const NodeDiff d = DiffNode(local, rem);
      const std::string what = absl::StrCat("local=", local_has, " remote=", static_cast<int>(remote));
      const bool register_expected = local_has && remote != kSame;
      const bool deregister_expected = !local_has && remote != kAbsent;
      EXPECT_EQ(Has(d.services_to_register, std::string("s")), register_expected) << what;
      EXPECT_EQ(Has(d.checks_to_register, std::string("c")), register_expected) << what;
      EXPECT_EQ(Has(d.services_to_deregister, std::string("s")), deregister_expected) << what;
      EXPECT_EQ(Has(d.checks_to_deregister, std::string("c")), deregister_expected) << what;
    }
  }
}

TEST(DiffNode, EachFieldThatDiffersCounts) {
  const state::Service base = Svc("s");
  std::vector<state::Service> variants(8, base);
  variants[0].name = "other";
  variants[1].tags = {"t"};
  variants[2].address = "10.0.0.9";
  variants[3].port = 9;
  variants[4].meta["k"] = "v";
  variants[5].weights.passing = 3;
  variants[6].enable_tag_override = true;
  variants[7].weights.warning = 0;
  for (const state::Service& v : variants) EXPECT_FALSE(SameService(base, v));
  state::Service indexed = base;
  indexed.create_index = indexed.modify_index = 42;
  EXPECT_TRUE(SameService(base, indexed));  // indexes are the catalog's, not a difference

  const state::Check c = Chk("c");
  std::vector<state::Check> cv(5, c);
  cv[0].name = "x";
  cv[1].status = HealthStatus::kWarning;
  cv[2].notes = "n";
  cv[3].output = "o";
  cv[4].service_id = "s";
  for (const state::Check& v : cv) EXPECT_FALSE(SameCheck(c, v));
  state::Check denormalised = c;
  denormalised.service_name = "filled by the store";
  denormalised.service_tags = {"too"};
  EXPECT_TRUE(SameCheck(c, denormalised));
}

TEST(DiffNode, SerfHealthAndProtectedServicesStay) {
  LocalNode local;
  RemoteNode rem;
  rem.exists = true;
  rem.checks.push_back(Chk(std::string(state::kSerfCheckId)));
  rem.services.push_back(Svc("consul"));
  rem.checks.push_back(Chk("consul-check", HealthStatus::kPassing, "consul"));
  rem.services.push_back(Svc("stale"));
  const NodeDiff d = DiffNode(local, rem, {"consul"});
  EXPECT_TRUE(d.checks_to_deregister.empty());
  EXPECT_EQ(d.services_to_deregister, std::vector<std::string>{"stale"});
}

TEST(DiffNode, NodeNotInTheCatalogRegistersEverything) {
  LocalNode local;
  local.services = {Svc("a"), Svc("b")};
  local.checks = {Chk("x")};
  RemoteNode rem;  // exists = false
  const NodeDiff d = DiffNode(local, rem);
  EXPECT_EQ(d.services_to_register.size(), 2u);
  EXPECT_EQ(d.checks_to_register.size(), 1u);
}

TEST(FullSyncInterval, ConsulsScaleFactor) {
  EXPECT_EQ(FullSyncInterval(1), absl::Seconds(60));
  EXPECT_EQ(FullSyncInterval(128), absl::Seconds(60));
  EXPECT_EQ(FullSyncInterval(129), absl::Seconds(120));
  EXPECT_EQ(FullSyncInterval(256), absl::Seconds(120));
  EXPECT_EQ(FullSyncInterval(257), absl::Seconds(180));
  EXPECT_EQ(FullSyncInterval(10000), absl::Seconds(60 * 8));
}

TEST(ParseRemoteNode, ConsulsShapes) {
  std::optional<RemoteNode> r = ParseRemoteNode(
      R"({"Node":{"Node":"n1"},"Services":{"web":{"ID":"web","Service":"web","Tags":["a"],"Port":80,"Address":"","Meta":{"k":"v"},"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false}}})",
      R"([{"Node":"n1","CheckID":"serfHealth","Name":"Serf Health Status","Status":"passing","Notes":"","Output":"","ServiceID":""}])");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->exists);
  ASSERT_EQ(r->services.size(), 1u);
  EXPECT_EQ(r->services[0].meta.at("k"), "v");
  ASSERT_EQ(r->checks.size(), 1u);
  EXPECT_EQ(r->checks[0].status, HealthStatus::kPassing);
  std::optional<RemoteNode> none = ParseRemoteNode("null", "[]");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->exists);
  EXPECT_FALSE(ParseRemoteNode("{", "[]").has_value());
}

// A catalog of one node, answering the syncer's requests at once (or failing them).
struct FakeCatalog {
  std::map<std::string, state::Service> services;
  std::map<std::string, state::Check> checks;
  bool fail = false;
  int registers = 0, deregisters = 0, reads = 0;

  AntiEntropy::Requester requester() {
    return [this](const std::string& method, const pba::Call& call, AntiEntropy::Callback done) {
      pba::Reply reply;
      if (fail) return done(absl::UnavailableError("No cluster leader"), reply);
      using J = nlohmann::json;
      if (method == "catalog.node") {
        ++reads;
        J j;
        j["Node"] = J{{"Node", "n1"}};
        j["Services"] = J::object();
        for (const auto& [id, s] : services) {
          j["Services"][id] = J{{"ID", s.id}, {"Service", s.name}, {"Tags", s.tags}, {"Port", s.port}, {"Address", s.address}};
        }
        reply.set_body(j.dump());
      } else if (method == "health.node") {
        J arr = J::array();
        for (const auto& [id, c] : checks) {
          arr.push_back(J{{"Node", "n1"}, {"CheckID", id}, {"Name", c.name}, {"Status", std::string(state::HealthStatusName(c.status))},
                          {"Notes", c.notes}, {"Output", c.output}, {"ServiceID", c.service_id}});
        }
        reply.set_body(arr.dump());
      } else if (method == "catalog.register") {
        ++registers;
        J j = J::parse(call.json());
        EXPECT_EQ(j["Node"], "n1");
        EXPECT_TRUE(j["SkipNodeUpdate"].get<bool>());
        if (j.contains("Service")) {
          state::Service s;
          s.id = j["Service"]["ID"];
          s.name = j["Service"]["Service"];
          s.tags = j["Service"]["Tags"].get<std::vector<std::string>>();
          s.port = j["Service"]["Port"];
          services[s.id] = s;
        }
        std::vector<J> cs;
        if (j.contains("Check")) cs.push_back(j["Check"]);
        if (j.contains("Checks")) {
          for (const J& c : j["Checks"]) cs.push_back(c);
        }
        for (const J& c : cs) {
          state::Check k;
          k.check_id = c["CheckID"];
          k.name = c["Name"];
          k.status = *state::ParseHealthStatus(c["Status"].get<std::string>());
          k.notes = c["Notes"];
          k.output = c["Output"];
          k.service_id = c["ServiceID"];
          checks[k.check_id] = k;
        }
        reply.set_body("true");
      } else if (method == "catalog.deregister") {
        ++deregisters;
        J j = J::parse(call.json());
        if (j.contains("ServiceID")) {
          const std::string id = j["ServiceID"];
          services.erase(id);
          std::erase_if(checks, [&](const auto& kv) { return kv.second.service_id == id; });
        }
        if (j.contains("CheckID")) checks.erase(j["CheckID"].get<std::string>());
        reply.set_body("true");
      } else {
        ADD_FAILURE() << "unexpected method " << method;
      }
      done(absl::OkStatus(), reply);
    };
  }
};

struct Syncer {
  LocalState local;
  AntiEntropy ae;
  FakeCatalog catalog;
  Time now = kT0;
  std::optional<Time> wake;

  Syncer()
      : local(LocalStateOptions{"n1", false, absl::Seconds(30), absl::Minutes(1)}, nullptr, 1, kT0, Logger()),
        ae(AntiEntropyOptions{"n1", "11111111-2222-3333-4444-555555555555", "10.0.0.1", {}}, 2, kT0, Logger()) {}
  void Step() {
    Effects e;
    local.Tick(now, &e);
    ae.Tick(now, local, 3, catalog.requester(), &e);
    wake = e.wake_at;
  }
  void RunUntil(Time until) {
    Step();
    for (int guard = 0; guard < 10000 && wake.has_value() && *wake <= until; ++guard) {
      now = std::max(now, *wake);
      Step();
    }
    now = until;
  }
};

ServiceRegistration Reg(std::string id, std::vector<std::string> tags = {}) {
  ServiceRegistration r;
  r.service.id = id;
  r.service.name = id;
  r.service.tags = std::move(tags);
  CheckDefinition c;
  c.id = "ttl-" + id;
  c.name = c.id;
  c.service_id = id;
  c.kind = CheckKind::kTtl;
  c.ttl = absl::Minutes(10);
  r.checks.push_back(c);
  return r;
}

TEST(AntiEntropy, FullSyncRegistersMissingAndRemovesStale) {
  Syncer s;
  s.catalog.services["stale"] = Svc("stale");
  s.catalog.checks["stale-check"] = Chk("stale-check");
  s.catalog.checks[std::string(state::kSerfCheckId)] = Chk(std::string(state::kSerfCheckId));
  Effects e;
  ASSERT_TRUE(s.local.AddService(s.now, Reg("web", {"v1"}), false, &e).ok());
  s.RunUntil(kT0 + absl::Seconds(5));
  EXPECT_EQ(s.ae.full_syncs(), 1u);
  EXPECT_TRUE(s.catalog.services.contains("web"));
  EXPECT_EQ(s.catalog.services.at("web").tags, std::vector<std::string>{"v1"});
  EXPECT_TRUE(s.catalog.checks.contains("ttl-web"));
  EXPECT_EQ(s.catalog.checks.at("ttl-web").status, HealthStatus::kCritical);
  EXPECT_FALSE(s.catalog.services.contains("stale"));
  EXPECT_FALSE(s.catalog.checks.contains("stale-check"));
  EXPECT_TRUE(s.catalog.checks.contains(std::string(state::kSerfCheckId)));
  EXPECT_TRUE(s.local.services().at("web").in_sync);
  EXPECT_TRUE(s.local.checks().at("ttl-web").in_sync);
  EXPECT_TRUE(s.ae.idle());
}

TEST(AntiEntropy, ALocalChangeSyncsAtOnceAndOnlyWhatChanged) {
  Syncer s;
  Effects e;
  ASSERT_TRUE(s.local.AddService(s.now, Reg("a"), false, &e).ok());
  ASSERT_TRUE(s.local.AddService(s.now, Reg("b"), false, &e).ok());
  s.RunUntil(kT0 + absl::Seconds(5));
  const int registers = s.catalog.registers;
  // A status change: one register of that check alone, without waiting for the full sync.
  ASSERT_TRUE(s.local.UpdateTtl(s.now, "ttl-a", HealthStatus::kPassing, "", &e).ok());
  s.RunUntil(s.now);
  EXPECT_EQ(s.catalog.registers, registers + 1);
  EXPECT_EQ(s.catalog.checks.at("ttl-a").status, HealthStatus::kPassing);
  EXPECT_EQ(s.ae.full_syncs(), 1u);
  // A deregistration: removed from the catalog at once, the tombstone forgotten after.
  EXPECT_GT(s.local.RemoveService(s.now, "b", &e), 0u);
  s.RunUntil(s.now);
  EXPECT_FALSE(s.catalog.services.contains("b"));
  EXPECT_FALSE(s.catalog.checks.contains("ttl-b"));
  EXPECT_TRUE(s.local.deleted_services().empty());
  EXPECT_TRUE(s.local.deleted_checks().empty());
}

TEST(AntiEntropy, TheCatalogChangedBehindOurBackIsRepairedByTheNextFullSync) {
  Syncer s;
  Effects e;
  ASSERT_TRUE(s.local.AddService(s.now, Reg("a", {"x"}), false, &e).ok());
  s.RunUntil(kT0 + absl::Seconds(5));
  s.catalog.services.at("a").tags = {"tampered"};
  s.catalog.checks.erase("ttl-a");
  s.RunUntil(kT0 + absl::Seconds(50));
  EXPECT_EQ(s.catalog.services.at("a").tags, std::vector<std::string>{"tampered"});  // not yet
  s.RunUntil(kT0 + absl::Seconds(70));  // 60 s + at most 60/16 s of stagger after the first
  EXPECT_EQ(s.ae.full_syncs(), 2u);
  EXPECT_EQ(s.catalog.services.at("a").tags, std::vector<std::string>{"x"});
  EXPECT_TRUE(s.catalog.checks.contains("ttl-a"));
}

// A deregistration the catalog never heard of (the agent restarted before it synced: the
// tombstone is gone with the old life) is still carried out: the next full sync finds the
// catalog's entry that the agent no longer has.
TEST(AntiEntropy, ARestartForgetsTombstonesAndTheFullSyncStillRemoves) {
  Syncer s;
  s.catalog.services["gone"] = Svc("gone");
  s.catalog.checks["gone-check"] = Chk("gone-check", HealthStatus::kPassing, "gone");
  Effects e;
  ASSERT_TRUE(s.local.AddService(s.now, Reg("kept"), false, &e).ok());
  s.RunUntil(kT0 + absl::Seconds(5));
  EXPECT_FALSE(s.catalog.services.contains("gone"));
  EXPECT_FALSE(s.catalog.checks.contains("gone-check"));
  EXPECT_TRUE(s.catalog.services.contains("kept"));
  // Nothing left to do: the next rounds send nothing until something changes.
  const int writes = s.catalog.registers + s.catalog.deregisters;
  s.RunUntil(kT0 + absl::Seconds(50));
  EXPECT_EQ(s.catalog.registers + s.catalog.deregisters, writes);
}

// The issue's large agent: 1,000 services with three checks each reach the catalog in rounds of
// at most kSyncRequestsMax requests, one request per service (its checks with it).
TEST(AntiEntropy, AThousandServicesAndThreeThousandChecksInBoundedRounds) {
  Syncer s;
  Effects e;
  for (int i = 0; i < 1000; ++i) {
    ServiceRegistration r = Reg(absl::StrCat("svc", i));
    for (int k = 2; k <= 3; ++k) {
      CheckDefinition c = r.checks[0];
      c.id = absl::StrCat(c.id, "-", k);
      r.checks.push_back(c);
    }
    ASSERT_TRUE(s.local.AddService(s.now, std::move(r), false, &e).ok());
  }
  s.RunUntil(kT0 + absl::Seconds(5));
  EXPECT_EQ(s.catalog.services.size(), 1000u);
  EXPECT_EQ(s.catalog.checks.size(), 3000u);
  EXPECT_EQ(s.catalog.registers, 1000);
  EXPECT_GE(s.ae.pushes(), 2u);  // 1,000 requests: more than one round of 512
  for (const auto& [id, c] : s.local.checks()) EXPECT_TRUE(c.in_sync) << id;
}

TEST(AntiEntropy, FailuresBackOffAndThenSucceed) {
  Syncer s;
  s.catalog.fail = true;
  Effects e;
  ASSERT_TRUE(s.local.AddService(s.now, Reg("a"), false, &e).ok());
  s.RunUntil(kT0 + absl::Seconds(30));
  const uint64_t failures = s.ae.failures();
  // Backing off: 1, 2, 4, 8, 16 s (+ a quarter): about five tries in 30 s, not hundreds.
  EXPECT_GE(failures, 3u);
  EXPECT_LE(failures, 6u);
  EXPECT_TRUE(s.catalog.services.empty());
  s.catalog.fail = false;
  s.RunUntil(kT0 + absl::Seconds(120));
  EXPECT_TRUE(s.catalog.services.contains("a"));
  EXPECT_TRUE(s.local.services().at("a").in_sync);
}

// Consul's ServerUp: a server joining cuts a long back-off short, so a client whose syncs failed
// while it was cut off is in the catalog seconds after it can reach a server again.
TEST(AntiEntropy, AServerJoiningBringsTheRetryWithinItsStagger) {
  Syncer s;
  s.catalog.fail = true;
  Effects e;
  ASSERT_TRUE(s.local.AddService(s.now, Reg("a"), false, &e).ok());
  s.RunUntil(kT0 + absl::Seconds(200));  // the back-off has grown to kSyncRetryMax
  const uint64_t failures = s.ae.failures();
  s.catalog.fail = false;
  s.RunUntil(s.now + absl::Seconds(1));
  EXPECT_EQ(s.ae.failures(), failures);
  ASSERT_FALSE(s.catalog.services.contains("a")) << "retried within a second of a long back-off";
  Effects up;
  s.ae.ServerUp(s.now, 3, &up);
  ASSERT_TRUE(up.wake_at.has_value());
  EXPECT_LE(*up.wake_at, s.now + kServerUpStagger);
  s.wake = up.wake_at;
  const Time joined = s.now;
  for (int guard = 0; guard < 100 && !s.catalog.services.contains("a"); ++guard) {
    ASSERT_TRUE(s.wake.has_value());
    s.now = std::max(s.now, *s.wake);
    s.Step();
  }
  EXPECT_TRUE(s.catalog.services.contains("a"));
  EXPECT_LE(s.now - joined, kServerUpStagger);
  // With nothing failing, it brings the next full sync forward the same way.
  const uint64_t full = s.ae.full_syncs();
  Effects again;
  s.ae.ServerUp(s.now, 3, &again);
  s.RunUntil(s.now + kServerUpStagger);
  EXPECT_EQ(s.ae.full_syncs(), full + 1);
}

}  // namespace
}  // namespace muster::agent
