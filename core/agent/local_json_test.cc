// The agent endpoints' bodies: python-consul's lower-case names, Consul's CamelCase and
// snake_case all read; the IDs and names Consul fills in; bad bodies refused naming the field.
#include "core/agent/local_json.h"

#include <string>

#include "core/base/rng.h"
#include "gtest/gtest.h"

namespace muster::agent {
namespace {

using state::HealthStatus;

TEST(ServiceRegistrationJson, PythonConsulsLowerCaseBody) {
  absl::StatusOr<ServiceRegistration> r = ParseServiceRegistration(
      R"({"name": "web", "enabletagoverride": true, "id": "web1", "address": "10.0.0.5", "port": 8080,
          "tags": ["a", "b"], "check": {"http": "http://127.0.0.1:8080/", "interval": "10s", "timeout": "2s"}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->service.id, "web1");
  EXPECT_EQ(r->service.name, "web");
  EXPECT_TRUE(r->service.enable_tag_override);
  EXPECT_EQ(r->service.port, 8080);
  EXPECT_EQ(r->service.tags, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(r->checks.size(), 1u);
  EXPECT_EQ(r->checks[0].id, "service:web1");
  EXPECT_EQ(r->checks[0].name, "Service 'web' check");
  EXPECT_EQ(r->checks[0].service_id, "web1");
  EXPECT_EQ(r->checks[0].kind, CheckKind::kHttp);
  EXPECT_EQ(r->checks[0].interval, absl::Seconds(10));
  EXPECT_EQ(r->checks[0].timeout, absl::Seconds(2));
}

TEST(ServiceRegistrationJson, CamelAndSnakeCaseAndSeveralChecks) {
  absl::StatusOr<ServiceRegistration> r = ParseServiceRegistration(
      R"({"Name": "db", "Meta": {"Version": "1"}, "enable_tag_override": true, "Weights": {"Passing": 3, "Warning": 1},
          "Checks": [{"TTL": "30s", "Status": "passing"},
                     {"Args": ["/bin/check", "-x"], "Interval": "5s", "success_before_passing": 2,
                      "DeregisterCriticalServiceAfter": "90m", "Notes": "n"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->service.id, "db");  // defaults to the name
  EXPECT_EQ(r->service.meta.at("Version"), "1");  // map keys as sent
  EXPECT_TRUE(r->service.enable_tag_override);
  EXPECT_EQ(r->service.weights.passing, 3);
  ASSERT_EQ(r->checks.size(), 2u);
  EXPECT_EQ(r->checks[0].id, "service:db:1");
  EXPECT_EQ(r->checks[1].id, "service:db:2");
  EXPECT_EQ(r->checks[0].kind, CheckKind::kTtl);
  EXPECT_EQ(r->checks[0].initial_status, HealthStatus::kPassing);
  EXPECT_EQ(r->checks[1].kind, CheckKind::kScript);
  EXPECT_EQ(r->checks[1].args, (std::vector<std::string>{"/bin/check", "-x"}));
  EXPECT_EQ(r->checks[1].success_before_passing, 2);
  EXPECT_EQ(r->checks[1].deregister_critical_service_after, absl::Minutes(90));
}

TEST(ServiceRegistrationJson, Refusals) {
  EXPECT_FALSE(ParseServiceRegistration("").ok());
  EXPECT_FALSE(ParseServiceRegistration("[]").ok());
  EXPECT_EQ(ParseServiceRegistration(R"({"port": 1})").status().message(), "Missing service name");
  EXPECT_FALSE(ParseServiceRegistration(R"({"name": "x", "port": 70000})").ok());
  EXPECT_FALSE(ParseServiceRegistration(R"({"name": "x", "tags": "a"})").ok());
  EXPECT_FALSE(ParseServiceRegistration(R"({"name": "x", "check": {"interval": "10s"}})").ok());
  EXPECT_FALSE(ParseServiceRegistration(R"({"name": "x", "check": {"ttl": "ten"}})").ok());
  EXPECT_FALSE(ParseServiceRegistration(R"({"name": "x", "check": {"ttl": "10s", "status": "bad"}})").ok());
  std::string meta = R"({"name": "x", "meta": {)";
  for (int i = 0; i < 65; ++i) meta += absl::StrCat(i == 0 ? "" : ",", "\"k", i, "\": \"v\"");
  meta += "}}";
  EXPECT_FALSE(ParseServiceRegistration(meta).ok());
  // python-consul's "no check" is an empty object: no check.
  absl::StatusOr<ServiceRegistration> none = ParseServiceRegistration(R"({"name": "x", "check": {}})");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->checks.empty());
}

TEST(CheckRegistrationJson, IdDefaultsToNameAndKinds) {
  absl::StatusOr<CheckDefinition> c =
      ParseCheckRegistration(R"({"name": "mem", "script": "/bin/true", "interval": "10s", "serviceid": "web"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, "mem");
  EXPECT_EQ(c->kind, CheckKind::kShell);
  EXPECT_EQ(c->service_id, "web");
  c = ParseCheckRegistration(
      R"({"Name": "api", "ID": "api-1", "HTTP": "https://x/", "Method": "POST", "Header": {"X-A": ["1", "2"]},
          "TLSSkipVerify": true, "Interval": 5000000000})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, "api-1");
  EXPECT_EQ(c->method, "POST");
  EXPECT_EQ(c->headers.size(), 2u);
  EXPECT_TRUE(c->tls_skip_verify);
  EXPECT_EQ(c->interval, absl::Seconds(5));  // nanoseconds, as Consul takes them too
  c = ParseCheckRegistration(R"({"name": "t", "tcp": "localhost:22", "interval": "10s"})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, CheckKind::kTcp);
  EXPECT_EQ(ParseCheckRegistration(R"({"ttl": "10s"})").status().message(), "Missing check name");
  // Go keeps whole nanoseconds: a quarter of one is no TTL at all.
  EXPECT_FALSE(ParseCheckRegistration(R"({"name": "t", "ttl": "0.25ns"})").ok());
}

TEST(CheckUpdateJson, StatusAndOutput) {
  absl::StatusOr<CheckUpdate> u = ParseCheckUpdate(R"({"Status": "warning", "Output": "slow"})");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->status, HealthStatus::kWarning);
  EXPECT_EQ(u->output, "slow");
  EXPECT_FALSE(ParseCheckUpdate(R"({"Status": "maybe"})").ok());
}

// Seeded mutations of valid bodies (bytes flipped, cut, fields repeated and retyped): each
// parse gives a bounded value or INVALID_ARGUMENT, never anything else.
TEST(RegistrationJson, MutatedBodiesAreRefusedOrBounded) {
  const std::vector<std::string> seeds = {
      R"({"name":"web","id":"w","port":80,"tags":["a"],"meta":{"k":"v"},"weights":{"passing":2},"check":{"http":"http://x/","interval":"10s","header":{"A":["b"]}}})",
      R"({"Name":"db","Checks":[{"TTL":"30s","Status":"passing"},{"Args":["/bin/true"],"Interval":"5s","Timeout":"1s"}]})",
      R"({"name":"c","tcp":"h:1","interval":"1s","deregister_critical_service_after":"1m","success_before_passing":3})",
  };
  const std::string alphabet = "{}[]\":,0123456789-.eE truefalsnl\\abcXYZ_";
  Rng rng(42);
  int parsed = 0, refused = 0;
  for (int i = 0; i < 6000; ++i) {
    std::string body = seeds[rng.Uniform(seeds.size())];
    const int edits = 1 + static_cast<int>(rng.Uniform(6));
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t at = rng.Uniform(body.size());
      switch (rng.Uniform(4)) {
        case 0: body[at] = alphabet[rng.Uniform(alphabet.size())]; break;
        case 1: body.erase(at, 1 + rng.Uniform(8)); break;
        case 2: body.insert(at, body.substr(at, rng.Uniform(40))); break;
        default: body.insert(at, 1, alphabet[rng.Uniform(alphabet.size())]); break;
      }
    }
    for (int kind = 0; kind < 3; ++kind) {
      absl::Status status;
      if (kind == 0) {
        absl::StatusOr<ServiceRegistration> r = ParseServiceRegistration(body);
        status = r.status();
        if (r.ok()) {
          EXPECT_FALSE(r->service.id.empty());
          EXPECT_LE(r->checks.size(), kChecksPerRegistrationMax);
          EXPECT_LE(r->service.tags.size(), kServiceTagsMax);
          EXPECT_LE(r->service.meta.size(), kServiceMetaPairsMax);
        }
      } else if (kind == 1) {
        absl::StatusOr<CheckDefinition> c = ParseCheckRegistration(body);
        status = c.status();
        if (c.ok()) {
          EXPECT_FALSE(c->id.empty());
          EXPECT_LE(c->headers.size(), kCheckHeadersMax);
        }
      } else {
        status = ParseCheckUpdate(body).status();
      }
      if (status.ok()) {
        ++parsed;
      } else {
        ++refused;
        EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << body;
      }
    }
  }
  EXPECT_GT(parsed, 100);
  EXPECT_GT(refused, 1000);
}

TEST(AgentJson, Shapes) {
  state::Service s;
  s.id = "web1";
  s.name = "web";
  Json j = AgentServiceJson(s, "dc1");
  EXPECT_EQ(j["ID"], "web1");
  EXPECT_EQ(j["Service"], "web");
  EXPECT_EQ(j["Weights"]["Passing"], 1);
  EXPECT_EQ(j["Datacenter"], "dc1");
  EXPECT_TRUE(j["Meta"].is_object());
  state::Check c;
  c.node = "n1";
  c.check_id = "x";
  c.status = HealthStatus::kWarning;
  Json k = AgentCheckJson(c);
  EXPECT_EQ(k["Status"], "warning");
  EXPECT_EQ(k["Node"], "n1");
  EXPECT_TRUE(k["ServiceTags"].is_array());
}

TEST(CheckRegistrationJson, AliasInAnySpelling) {
  absl::StatusOr<CheckDefinition> c = ParseCheckRegistration(R"({"Name": "a", "AliasService": "web1"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind, CheckKind::kAlias);
  EXPECT_EQ(c->alias_service, "web1");
  c = ParseCheckRegistration(R"({"name": "a", "alias_service": "web1", "alias_node": "n2"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind, CheckKind::kAlias);
  EXPECT_EQ(c->alias_node, "n2");
  c = ParseCheckRegistration(R"({"name": "a", "aliasservice": "web1"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->alias_service, "web1");
  absl::StatusOr<ServiceRegistration> reg = ParseServiceRegistration(
      R"({"Name": "web-proxy", "Check": {"AliasService": "web1"}, "Checks": [{"alias_service": "db1"}]})");
  ASSERT_TRUE(reg.ok()) << reg.status();
  ASSERT_EQ(reg->checks.size(), 2u);
  EXPECT_EQ(reg->checks[0].kind, CheckKind::kAlias);
  EXPECT_EQ(reg->checks[0].alias_service, "web1");
  EXPECT_EQ(reg->checks[1].alias_service, "db1");
  EXPECT_EQ(reg->checks[1].service_id, "web-proxy");
  EXPECT_FALSE(ParseCheckRegistration(R"({"name": "a", "AliasService": 7})").ok());
}

}  // namespace
}  // namespace muster::agent
