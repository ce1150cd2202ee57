// LoadAgentConfig and agent::Validate: every flag and config key, both flag spellings, Consul's
// merge order, each refusal with the flag / file / key it names, and -dev's defaults. Files
// come from memory (MemoryFiles), except one test on a real temporary dir.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "core/agent/agent_config.h"
#include "gtest/gtest.h"
#include "io/config/agent_config_loader.h"
#include "io/config/disk_config_files.h"

namespace muster::config {
namespace {

using agent::AgentConfig;

constexpr char kHost[] = "host-1";
constexpr char kNodeId[] = "8a2f4c1e-1b3d-4e5f-9a7b-0c1d2e3f4a5b";

// Files held in memory: a path to its content; a dir is every path under it.
class MemoryFiles final : public ConfigFiles {
 public:
  void Add(const std::string& path, const std::string& content) { files_[path] = content; }

  absl::StatusOr<std::string> ReadFile(const std::string& path) const override {
    const auto it = files_.find(path);
    if (it == files_.end()) return absl::NotFoundError("no such file");
    return it->second;
  }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) const override {
    std::vector<std::string> names;
    const std::string prefix = dir + "/";
    for (const auto& [path, content] : files_) {
      if (absl::StartsWith(path, prefix)) names.push_back(path.substr(prefix.size()));
    }
    if (names.empty()) return absl::NotFoundError("no such dir");
    std::reverse(names.begin(), names.end());  // any order: the loader must sort
    return names;
  }

 private:
  std::map<std::string, std::string> files_;
};

absl::StatusOr<AgentConfig> Load(std::vector<std::string> args, const MemoryFiles& files = MemoryFiles()) {
  return LoadAgentConfig(std::move(args), files, kHost);
}

// A load that must fail, with every fragment in its message.
void ExpectRefused(const absl::StatusOr<AgentConfig>& result, const std::vector<std::string>& fragments) {
  ASSERT_FALSE(result.ok()) << "loaded, but should have been refused";
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
  for (const std::string& f : fragments) {
    EXPECT_TRUE(absl::StrContains(result.status().message(), f))
        << "'" << result.status().message() << "' lacks '" << f << "'";
  }
}

TEST(LoadAgentConfig, DefaultsAreConsuls) {
  absl::StatusOr<AgentConfig> c = Load({"-data-dir=/d"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->server);
  EXPECT_EQ(c->bootstrap_expect, 0);
  EXPECT_FALSE(c->bootstrap);
  EXPECT_EQ(c->node_name, kHost);
  EXPECT_EQ(c->node_id, "");
  EXPECT_EQ(c->datacenter, "dc1");
  EXPECT_EQ(c->data_dir, "/d");
  EXPECT_EQ(c->bind_addr, "0.0.0.0");
  EXPECT_EQ(c->advertise_addr, "");
  EXPECT_EQ(c->client_addr, "127.0.0.1");
  EXPECT_TRUE(c->start_join.empty());
  EXPECT_TRUE(c->retry_join.empty());
  EXPECT_EQ(c->retry_interval, absl::Seconds(30));
  EXPECT_EQ(c->retry_max, 0);
  EXPECT_EQ(c->ports.dns, 8600);
  EXPECT_EQ(c->ports.http, 8500);
  EXPECT_EQ(c->ports.serf_lan, 8301);
  EXPECT_EQ(c->ports.serf_wan, 8302);
  EXPECT_EQ(c->ports.server, 8300);
  EXPECT_EQ(c->log_level, "INFO");
  EXPECT_FALSE(c->leave_on_terminate.has_value());
  EXPECT_FALSE(c->dev_mode);
  EXPECT_TRUE(agent::LeavesOnTerminate(*c)) << "a client leaves on SIGTERM by default";
}

const std::vector<std::string> kEveryFlag = {
    "-server", "-bootstrap-expect=3", "-node=web-1", "-node-id=8A2F4C1E-1B3D-4E5F-9A7B-0C1D2E3F4A5B",
    "-datacenter=EU-west_2", "-data-dir=/var/muster", "-bind=10.0.0.5", "-advertise=192.0.2.7",
    "-client=0.0.0.0", "-join=10.0.0.6", "-join=10.0.0.7", "-retry-join=10.0.0.8", "-retry-join=[::1]:8301",
    "-retry-interval=1m30s", "-retry-max=5", "-http-port=18500", "-dns-port=18600", "-serf-lan-port=18301",
    "-serf-wan-port=18302", "-server-port=18300", "-log-level=debug", "-raft-snapshot-threshold=64"};

void ExpectEveryFlagSet(const AgentConfig& c) {
  EXPECT_TRUE(c.server);
  EXPECT_EQ(c.bootstrap_expect, 3);
  EXPECT_EQ(c.node_name, "web-1");
  EXPECT_EQ(c.node_id, kNodeId) << "canonical: lowercase";
  EXPECT_EQ(c.datacenter, "eu-west_2") << "lowercased, as Consul does";
  EXPECT_EQ(c.data_dir, "/var/muster");
  EXPECT_EQ(c.bind_addr, "10.0.0.5");
  EXPECT_EQ(c.advertise_addr, "192.0.2.7");
  EXPECT_EQ(c.client_addr, "0.0.0.0");
  EXPECT_EQ(c.start_join, (std::vector<std::string>{"10.0.0.6", "10.0.0.7"}));
  EXPECT_EQ(c.retry_join, (std::vector<std::string>{"10.0.0.8", "[::1]:8301"}));
  EXPECT_EQ(c.retry_interval, absl::Seconds(90));
  EXPECT_EQ(c.retry_max, 5);
  EXPECT_EQ(c.raft_snapshot_threshold, 64);
  EXPECT_EQ(c.ports.http, 18500);
  EXPECT_EQ(c.ports.dns, 18600);
  EXPECT_EQ(c.ports.serf_lan, 18301);
  EXPECT_EQ(c.ports.serf_wan, 18302);
  EXPECT_EQ(c.ports.server, 18300);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_FALSE(agent::LeavesOnTerminate(c)) << "a server stays on SIGTERM by default";
}

TEST(LoadAgentConfig, EveryFlagWithEquals) {
  absl::StatusOr<AgentConfig> c = Load(kEveryFlag);
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectEveryFlagSet(*c);
}

// `-name value` and `--name=value` / `--name value` mean what `-name=value` means.
TEST(LoadAgentConfig, EveryFlagWithSpaceAndDoubleDash) {
  std::vector<std::string> spaced;
  std::vector<std::string> double_dash;
  for (const std::string& flag : kEveryFlag) {
    const size_t eq = flag.find('=');
    double_dash.push_back("-" + flag);
    if (eq == std::string::npos) {
      spaced.push_back(flag);
      continue;
    }
    spaced.push_back(flag.substr(0, eq));
    spaced.push_back(flag.substr(eq + 1));
  }
  absl::StatusOr<AgentConfig> c = Load(spaced);
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectEveryFlagSet(*c);
  c = Load(double_dash);
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectEveryFlagSet(*c);
  c = Load({"--data-dir", "/d", "--server", "--bootstrap"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data_dir, "/d");
  EXPECT_TRUE(c->bootstrap);
}

TEST(LoadAgentConfig, BooleanFlagsTakeGoForms) {
  absl::StatusOr<AgentConfig> c = Load({"-data-dir=/d", "-server=true", "-bootstrap=1"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->server);
  EXPECT_TRUE(c->bootstrap);
  c = Load({"-data-dir=/d", "-server", "-server=false"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->server) << "the last of a repeated scalar flag wins";
  // A bare boolean never takes the next argument: "false" is then an unexpected argument.
  ExpectRefused(Load({"-data-dir=/d", "-server", "false"}), {"unexpected argument 'false'"});
  ExpectRefused(Load({"-data-dir=/d", "-server=yes"}), {"-server", "invalid boolean \"yes\""});
}

// Script checks are off unless the flag or the file's key turns them on, as Consul's.
TEST(LoadAgentConfig, EnableScriptChecks) {
  absl::StatusOr<AgentConfig> c = Load({"-data-dir=/d"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->enable_script_checks);
  c = Load({"-data-dir=/d", "-enable-script-checks"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->enable_script_checks);
  MemoryFiles files;
  files.Add("/s.json", R"({"data_dir": "/d", "enable_script_checks": true})");
  c = Load({"-config-file=/s.json"}, files);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->enable_script_checks);
}

// After a graceful leave the serf snapshot is not re-joined unless -rejoin or the file's key says so.
TEST(LoadAgentConfig, RejoinAfterLeave) {
  absl::StatusOr<AgentConfig> c = Load({"-data-dir=/d"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->rejoin_after_leave);
  c = Load({"-data-dir=/d", "-rejoin"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->rejoin_after_leave);
  MemoryFiles files;
  files.Add("/r.json", R"({"data_dir": "/d", "rejoin_after_leave": true})");
  c = Load({"-config-file=/r.json"}, files);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->rejoin_after_leave);
}

// GET on the legacy write endpoints is taken unless the operator asks for Consul's strict methods.
TEST(LoadAgentConfig, StrictHttpMethods) {
  absl::StatusOr<AgentConfig> c = Load({"-data-dir=/d"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->strict_http_methods);
  c = Load({"-data-dir=/d", "-strict-http-methods"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->strict_http_methods);
  MemoryFiles files;
  files.Add("/s.json", R"({"data_dir": "/d", "strict_http_methods": true})");
  c = Load({"-config-file=/s.json"}, files);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->strict_http_methods);
}

// Consul's service and check blocks: one object or a list, appended across files in merge
// order, kept as JSON for the agent to read; a wrong shape names the file and key.
TEST(LoadAgentConfig, ServiceAndCheckDefinitions) {
  MemoryFiles files;
  files.Add("/conf.d/a.json", R"({"data_dir": "/d", "service": {"name": "web", "port": 80}, "checks": [{"name": "c1", "ttl": "10s"}]})");
  files.Add("/conf.d/b.json", R"({"services": [{"name": "db"}, {"name": "cache"}], "check": {"name": "c2", "ttl": "5s"}})");
  absl::StatusOr<AgentConfig> c = Load({"-config-dir=/conf.d"}, files);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->services.size(), 3u);
  EXPECT_NE(c->services[0].find("\"web\""), std::string::npos);
  EXPECT_NE(c->services[2].find("\"cache\""), std::string::npos);
  ASSERT_EQ(c->checks.size(), 2u);
  EXPECT_NE(c->checks[1].find("\"c2\""), std::string::npos);
  MemoryFiles bad;
  bad.Add("/bad.json", R"({"data_dir": "/d", "services": {"name": "web"}})");
  ExpectRefused(Load({"-config-file=/bad.json"}, bad), {"/bad.json", "services"});
}

TEST(LoadAgentConfig, EveryKeyOfAFile) {
  MemoryFiles files;
  files.Add("/etc/muster/agent.json", R"({
    "server": true, "bootstrap_expect": 5, "bootstrap": false, "node_name": "db-2",
    "node_id": "8a2f4c1e-1b3d-4e5f-9a7b-0c1d2e3f4a5b", "datacenter": "dc2", "data_dir": "/data",
    "bind_addr": "::1", "advertise_addr": "2001:db8::2", "client_addr": "127.0.0.2",
    "start_join": ["a", "b"], "retry_join": ["c"], "retry_interval": "10s", "retry_max": 7,
    "ports": {"dns": -1, "http": 28500, "serf_lan": 28301, "serf_wan": 28302, "server": 28300},
    "log_level": "WARN", "leave_on_terminate": true, "raft_snapshot_threshold": 128
  })");
  absl::StatusOr<AgentConfig> c = Load({"-config-file=/etc/muster/agent.json"}, files);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->server);
  EXPECT_EQ(c->bootstrap_expect, 5);
  EXPECT_FALSE(c->bootstrap);
  EXPECT_EQ(c->node_name, "db-2");
  EXPECT_EQ(c->node_id, kNodeId);
  EXPECT_EQ(c->datacenter, "dc2");
  EXPECT_EQ(c->data_dir, "/data");
  EXPECT_EQ(c->bind_addr, "::1");
  EXPECT_EQ(c->advertise_addr, "2001:db8::2");
  EXPECT_EQ(c->client_addr, "127.0.0.2");
  EXPECT_EQ(c->start_join, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c->retry_join, (std::vector<std::string>{"c"}));
  EXPECT_EQ(c->retry_interval, absl::Seconds(10));
  EXPECT_EQ(c->retry_max, 7);
  EXPECT_EQ(c->raft_snapshot_threshold, 128);
  EXPECT_EQ(c->ports.dns, agent::kPortDisabled);
  EXPECT_EQ(c->ports.http, 28500);
  EXPECT_EQ(c->ports.serf_lan, 28301);
  EXPECT_EQ(c->ports.serf_wan, 28302);
  EXPECT_EQ(c->ports.server, 28300);
  EXPECT_EQ(c->log_level, "WARN");
  ASSERT_TRUE(c->leave_on_terminate.has_value());
  EXPECT_TRUE(agent::LeavesOnTerminate(*c)) << "set explicitly, even for a server";
}

// Consul's order: files as given (a dir's sorted), each overriding earlier scalars and
// appending to lists; then the flags, whose lists append too.
// The DNS interface's flags and keys (issue 15): Consul's names, defaults and merge.
TEST(LoadAgentConfig, DnsFlagsAndDnsConfig) {
  absl::StatusOr<AgentConfig> d = Load({"-data-dir=/d"});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->domain, "consul.");
  EXPECT_EQ(d->alt_domain, "");
  EXPECT_TRUE(d->dns_config.allow_stale);
  EXPECT_EQ(d->dns_config.max_stale, absl::Hours(87600));
  EXPECT_EQ(d->dns_config.udp_answer_limit, 3);
  MemoryFiles files;
  files.Add("/dns.json", R"({"recursors": ["127.0.0.9"], "dns_config": {"allow_stale": false, "max_stale": "5s",
      "node_ttl": "10s", "service_ttl": {"*": "5s", "web": "30s"}, "only_passing": true, "udp_answer_limit": 5,
      "enable_truncate": true}})");
  absl::StatusOr<AgentConfig> c =
      Load({"-data-dir=/d", "-config-file=/dns.json", "-domain=Example.", "-alt-domain", "alt", "-recursor=10.0.0.1:53"},
           files);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->domain, "example.");
  EXPECT_EQ(c->alt_domain, "alt.");
  EXPECT_EQ(c->recursors, (std::vector<std::string>{"127.0.0.9", "10.0.0.1:53"}));
  EXPECT_FALSE(c->dns_config.allow_stale);
  EXPECT_EQ(c->dns_config.max_stale, absl::Seconds(5));
  EXPECT_EQ(c->dns_config.node_ttl, absl::Seconds(10));
  ASSERT_EQ(c->dns_config.service_ttl.size(), 2u);
  EXPECT_EQ(c->dns_config.service_ttl[1].first, "web");
  EXPECT_EQ(c->dns_config.service_ttl[1].second, absl::Seconds(30));
  EXPECT_TRUE(c->dns_config.only_passing);
  EXPECT_EQ(c->dns_config.udp_answer_limit, 5);
  files.Add("/bad.json", R"({"dns_config": {"node_ttl": 5}})");
  EXPECT_FALSE(Load({"-data-dir=/d", "-config-file=/bad.json"}, files).ok());
  files.Add("/unknown.json", R"({"dns_config": {"nope": true}})");
  EXPECT_FALSE(Load({"-data-dir=/d", "-config-file=/unknown.json"}, files).ok());
}

TEST(LoadAgentConfig, MergeOrderIsConsuls) {
  MemoryFiles files;
  files.Add("/conf.d/20-b.json", R"({"node_name": "from-b", "retry_join": ["b"], "log_level": "WARN"})");
  files.Add("/conf.d/10-a.json", R"({"node_name": "from-a", "retry_join": ["a"], "datacenter": "dc-a",
                                     "ports": {"http": 1111, "dns": 2222}})");
  files.Add("/conf.d/notes.txt", "not config, skipped");
  files.Add("/later.json", R"({"datacenter": "dc-later", "retry_join": ["later"], "ports": {"http": 3333},
                             "data_dir": "/file"})");
  absl::StatusOr<AgentConfig> c =
      Load({"-config-dir", "/conf.d", "-retry-join=flag", "-config-file=/later.json", "-log-level=ERR"}, files);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node_name, "from-b") << "10-a.json before 20-b.json, whatever order the dir lists them in";
  EXPECT_EQ(c->datacenter, "dc-later") << "a later file overrides an earlier one";
  EXPECT_EQ(c->ports.http, 3333) << "a later file overrides one port";
  EXPECT_EQ(c->ports.dns, 2222) << "and keeps the others";
  EXPECT_EQ(c->log_level, "ERR") << "a flag overrides every file, wherever it stands";
  EXPECT_EQ(c->retry_join, (std::vector<std::string>{"a", "b", "later", "flag"}))
      << "lists append: files in order, then the flags";
  c = Load({"-config-file=/later.json", "-data-dir=/flag"}, files);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data_dir, "/flag");
}

TEST(LoadAgentConfig, DevDefaults) {
  absl::StatusOr<AgentConfig> c = Load({"-dev"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->dev_mode);
  EXPECT_TRUE(c->server);
  EXPECT_TRUE(c->bootstrap);
  EXPECT_EQ(c->bootstrap_expect, 0);
  EXPECT_EQ(c->data_dir, "") << "in memory";
  EXPECT_EQ(c->bind_addr, "127.0.0.1");
  EXPECT_EQ(c->client_addr, "127.0.0.1");
  EXPECT_EQ(c->log_level, "DEBUG");
  EXPECT_EQ(c->node_name, kHost);
  EXPECT_EQ(c->ports.http, 8500);
  // Files and flags still override what -dev set, as Consul's dev source comes first.
  MemoryFiles files;
  files.Add("/dev.json", R"({"log_level": "TRACE"})");
  c = Load({"-client=0.0.0.0", "-config-file=/dev.json", "-dev"}, files);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->client_addr, "0.0.0.0");
  EXPECT_EQ(c->log_level, "TRACE");
  EXPECT_EQ(c->bind_addr, "127.0.0.1");
}

TEST(LoadAgentConfig, FlagErrorsNameTheFlag) {
  ExpectRefused(Load({"-data-dir=/d", "-bogus"}), {"flag provided but not defined: -bogus"});
  ExpectRefused(Load({"-data-dir=/d", "--bogus=1"}), {"-bogus"});
  ExpectRefused(Load({"-data-dir=/d", "-bootstrap-expect=three"}), {"-bootstrap-expect", "invalid integer \"three\""});
  ExpectRefused(Load({"-data-dir=/d", "-http-port", "80x"}), {"-http-port", "\"80x\""});
  ExpectRefused(Load({"-data-dir=/d", "-retry-interval=10"}), {"-retry-interval", "bad duration \"10\""});
  ExpectRefused(Load({"-data-dir=/d", "-retry-interval=soon"}), {"-retry-interval", "bad duration"});
  ExpectRefused(Load({"-data-dir=/d", "-retry-interval=-5s"}), {"-retry-interval", "negative"});
  ExpectRefused(Load({"-data-dir=/d", "-retry-interval=inf"}), {"-retry-interval", "bad duration"});
  ExpectRefused(Load({"-data-dir=/d", "-node"}), {"-node", "needs a value"});
  ExpectRefused(Load({"-data-dir=/d", "agent"}), {"unexpected argument 'agent'"});
  ExpectRefused(Load({"-data-dir=/d", "--", "x"}), {"unexpected argument 'x'"});
  ExpectRefused(Load({"---server"}), {"bad flag syntax: ---server"});
  ExpectRefused(Load({"-=1"}), {"bad flag syntax"});
}

TEST(LoadAgentConfig, FileErrorsNameTheFileAndKey) {
  MemoryFiles files;
  files.Add("/x/a.hcl", "server = true\n");
  files.Add("/x/b.json", "server = true\n");
  files.Add("/x/unknown.json", R"({"server": true, "encrypt_everything": 1})");
  files.Add("/x/port.json", R"({"ports": {"grpc": 8502}})");
  files.Add("/x/ports-list.json", R"({"ports": [8500]})");
  files.Add("/x/type.json", R"({"bootstrap_expect": "3"})");
  files.Add("/x/float.json", R"({"retry_max": 2.5})");
  files.Add("/x/big.json", R"({"retry_max": 99999999999})");
  files.Add("/x/bool.json", R"({"server": "true"})");
  files.Add("/x/list.json", R"({"retry_join": "10.0.0.1"})");
  files.Add("/x/list-item.json", R"({"start_join": ["a", 7]})");
  files.Add("/x/duration.json", R"({"retry_interval": "1 minute"})");
  files.Add("/x/duration-number.json", R"({"retry_interval": 30})");
  files.Add("/x/array.json", R"([{"server": true}])");
  files.Add("/x/empty.json", "");
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"/x/a.hcl", {"config file /x/a.hcl: HCL is not supported, write JSON"}},
      {"/x/b.json", {"config file /x/b.json", "not JSON", "HCL is not supported"}},
      {"/x/unknown.json", {"config file /x/unknown.json", "'encrypt_everything'", "not a known config key"}},
      {"/x/port.json", {"config file /x/port.json", "'ports.grpc'", "not a known config key"}},
      {"/x/ports-list.json", {"'ports' must be an object, got a list"}},
      {"/x/type.json", {"config file /x/type.json", "'bootstrap_expect' must be an integer, got a string"}},
      {"/x/float.json", {"'retry_max' must be an integer, got a fractional number"}},
      {"/x/big.json", {"'retry_max' is out of range"}},
      {"/x/bool.json", {"'server' must be a boolean, got a string"}},
      {"/x/list.json", {"'retry_join' must be a list of strings, got a string"}},
      {"/x/list-item.json", {"'start_join' must be a list of strings, but one item is an integer"}},
      {"/x/duration.json", {"'retry_interval'", "bad duration \"1 minute\""}},
      {"/x/duration-number.json", {"'retry_interval' must be a duration string"}},
      {"/x/array.json", {"config file /x/array.json: must hold one JSON object, got a list"}},
      {"/x/empty.json", {"config file /x/empty.json", "not JSON"}},
      {"/x/missing.json", {"config file /x/missing.json: cannot read it"}},
  };
  for (const auto& [path, fragments] : cases) {
    SCOPED_TRACE(path);
    ExpectRefused(Load({"-data-dir=/d", "-config-file", path}, files), fragments);
  }
}

TEST(LoadAgentConfig, DirErrorsNameTheFile) {
  MemoryFiles files;
  files.Add("/conf.d/10-ok.json", R"({"server": true})");
  files.Add("/conf.d/20-legacy.hcl", "server = true\n");
  ExpectRefused(Load({"-data-dir=/d", "-config-dir=/conf.d"}, files),
                {"config file /conf.d/20-legacy.hcl: HCL is not supported, write JSON"});
  ExpectRefused(Load({"-data-dir=/d", "-config-dir=/nowhere"}, files), {"config dir /nowhere: cannot list it"});
}

// ---- Validate's rules, through the loader so each is seen as a user would meet it. ----

TEST(Validate, BootstrapRules) {
  ExpectRefused(Load({"-data-dir=/d", "-server", "-bootstrap", "-bootstrap-expect=3"}),
                {"-bootstrap", "-bootstrap-expect", "mutually exclusive"});
  ExpectRefused(Load({"-data-dir=/d", "-bootstrap-expect=3"}), {"-bootstrap-expect (bootstrap_expect) needs -server"});
  ExpectRefused(Load({"-data-dir=/d", "-bootstrap"}), {"-bootstrap (bootstrap) needs -server"});
  ExpectRefused(Load({"-data-dir=/d", "-server", "-bootstrap-expect=-1"}), {"-bootstrap-expect", "0 or more"});
  EXPECT_TRUE(Load({"-data-dir=/d", "-server", "-bootstrap-expect=1"}).ok());
  EXPECT_TRUE(Load({"-data-dir=/d", "-server", "-bootstrap"}).ok());
}

TEST(Validate, DevRules) {
  MemoryFiles files;
  files.Add("/client.json", R"({"server": false})");
  files.Add("/nobootstrap.json", R"({"bootstrap": false})");
  ExpectRefused(Load({"-dev", "-config-file=/client.json"}, files), {"-dev runs a server"});
  ExpectRefused(Load({"-dev", "-config-file=/nobootstrap.json"}, files), {"-dev bootstraps itself"});
  ExpectRefused(Load({"-dev", "-bootstrap-expect=3"}), {"-bootstrap-expect (bootstrap_expect) is not allowed with -dev"});
  ExpectRefused(Load({"-dev", "-data-dir=/d"}), {"-data-dir (data_dir) is not allowed with -dev"});
  ExpectRefused(Load({"-server"}), {"-data-dir (data_dir) is required"});
  ExpectRefused(Load({"-dev=false"}), {"-data-dir (data_dir) is required"});
}

TEST(Validate, IdentityRules) {
  ExpectRefused(Load({"-data-dir=/d", "-node-id=not-a-uuid"}), {"-node-id (node_id) 'not-a-uuid'", "36 characters"});
  ExpectRefused(Load({"-data-dir=/d", "-node=web 1"}), {"-node (node_name)", "letters, digits"});
  ExpectRefused(LoadAgentConfig({"-data-dir=/d"}, MemoryFiles(), ""), {"-node (node_name)", "1 to 128 bytes"});
  ExpectRefused(Load({"-data-dir=/d", "-datacenter=dc.1"}), {"-datacenter (datacenter) 'dc.1'"});
  ExpectRefused(Load({"-data-dir=/d", "-datacenter="}), {"-datacenter (datacenter)"});
}

TEST(Validate, PortRules) {
  ExpectRefused(Load({"-data-dir=/d", "-http-port=0"}), {"-http-port (ports.http) must be in 1..65535 or -1"});
  ExpectRefused(Load({"-data-dir=/d", "-server-port=65536"}), {"-server-port (ports.server) must be in 1..65535, got"});
  ExpectRefused(Load({"-data-dir=/d", "-serf-lan-port=-1"}), {"-serf-lan-port (ports.serf_lan)"});
  ExpectRefused(Load({"-data-dir=/d", "-serf-wan-port=-1"}), {"-serf-wan-port (ports.serf_wan)"});
  ExpectRefused(Load({"-data-dir=/d", "-dns-port=8300"}), {"-dns-port (ports.dns) and -server-port (ports.server) are both 8300"});
  ExpectRefused(Load({"-data-dir=/d", "-serf-lan-port=9000", "-serf-wan-port=9000"}), {"-serf-lan-port", "-serf-wan-port"});
  absl::StatusOr<AgentConfig> c = Load({"-data-dir=/d", "-dns-port=-1", "-http-port=-1"});
  ASSERT_TRUE(c.ok()) << c.status() << ": two disabled ports are not a conflict";
  EXPECT_EQ(c->ports.dns, agent::kPortDisabled);
  EXPECT_EQ(c->ports.http, agent::kPortDisabled);
  EXPECT_TRUE(Load({"-data-dir=/d", "-server-port=1", "-http-port=65535"}).ok());
}

TEST(Validate, OtherRules) {
  ExpectRefused(Load({"-data-dir=/d", "-log-level=loud"}), {"-log-level (log_level) 'loud'"});
  ExpectRefused(Load({"-data-dir=/d", "-retry-max=-2"}), {"-retry-max (retry_max) must be 0 or more"});
  ExpectRefused(Load({"-data-dir=/d", "-retry-interval=0s"}), {"-retry-interval (retry_interval) must be a positive"});
  ExpectRefused(Load({"-data-dir=/d", "-bind="}), {"-bind (bind_addr)"});
  ExpectRefused(Load({"-data-dir=/d", "-client="}), {"-client (client_addr)"});
  for (const char* level : {"trace", "DEBUG", "Info", "warn", "err", "ERROR"}) {
    EXPECT_TRUE(Load({"-data-dir=/d", std::string("-log-level=") + level}).ok()) << level;
  }
}

// Validate on a struct built by hand, as the agent and the simulator will build one.
TEST(Validate, OnAStructBuiltByHand) {
  AgentConfig config;
  EXPECT_FALSE(agent::Validate(config).ok()) << "no data dir and no node name";
  config.data_dir = "/d";
  config.node_name = "n1";
  EXPECT_TRUE(agent::Validate(config).ok());
  config.node_id = "8A2F4C1E-1B3D-4E5F-9A7B-0C1D2E3F4A5B";
  EXPECT_TRUE(agent::Validate(config).ok()) << "any case is a node ID; the loader makes it canonical";
  config.server = true;
  EXPECT_FALSE(agent::LeavesOnTerminate(config));
  config.leave_on_terminate = true;
  EXPECT_TRUE(agent::LeavesOnTerminate(config));

  AgentConfig dev;
  agent::ApplyDevDefaults(dev);
  dev.node_name = "n1";
  EXPECT_TRUE(agent::Validate(dev).ok());
  dev.bootstrap = false;
  EXPECT_FALSE(agent::Validate(dev).ok());
}

TEST(ParseConfigDuration, GoForms) {
  EXPECT_EQ(*ParseConfigDuration("10s"), absl::Seconds(10));
  EXPECT_EQ(*ParseConfigDuration("1m"), absl::Minutes(1));
  EXPECT_EQ(*ParseConfigDuration("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseConfigDuration("500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseConfigDuration("1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseConfigDuration("0"), absl::ZeroDuration());
  EXPECT_FALSE(ParseConfigDuration("").ok());
  EXPECT_FALSE(ParseConfigDuration("10").ok());
  EXPECT_FALSE(ParseConfigDuration("10 s").ok());
}

// The one test on a real file system: a temporary dir of config files read by DiskConfigFiles.
// -event-handler (Serf's flag, repeatable) appends to the files' event_handlers; watches are
// kept as written, and one that does not parse, or a bad handler, refuses the config.
TEST(LoadAgentConfig, EventHandlersAndWatches) {
  MemoryFiles files;
  files.Add("/etc/a.json", R"({"event_handlers": ["member-failed=/bin/f.sh"],
      "watches": [{"type": "key", "key": "cfg/x", "handler": "/bin/w.sh"},
                  {"type": "event", "name": "deploy", "args": ["/bin/e", "-v"]}]})");
  absl::StatusOr<AgentConfig> c =
      Load({"-data-dir=/d", "-config-file=/etc/a.json", "-event-handler", "user:deploy=/bin/d.sh", "-event-handler=all.sh"},
           files);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->event_handlers, (std::vector<std::string>{"member-failed=/bin/f.sh", "user:deploy=/bin/d.sh", "all.sh"}));
  ASSERT_EQ(c->watches.size(), 2u);
  EXPECT_TRUE(absl::StrContains(c->watches[0], "\"cfg/x\""));

  ExpectRefused(Load({"-data-dir=/d", "-event-handler=member-jion=x.sh"}), {"-event-handler", "unknown event type: member-jion"});
  MemoryFiles bad;
  bad.Add("/b.json", R"({"watches": [{"type": "key", "handler": "h"}]})");
  ExpectRefused(Load({"-data-dir=/d", "-config-file=/b.json"}, bad), {"watches", "Must specify a single key to watch"});
  bad.Add("/c.json", R"({"watches": {"type": "key"}})");
  ExpectRefused(Load({"-data-dir=/d", "-config-file=/c.json"}, bad), {"config file /c.json", "'watches'", "a list of objects"});
}

TEST(DiskConfigFiles, LoadsARealDir) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::filesystem::path root = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") / "muster_config_test";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root / "conf.d" / "sub.json");  // a dir, not config
  std::ofstream(root / "conf.d" / "b.json") << R"({"node_name": "disk-b", "retry_join": ["b"]})";
  std::ofstream(root / "conf.d" / "a.json") << R"({"node_name": "disk-a", "retry_join": ["a"], "server": true})";
  std::ofstream(root / "conf.d" / "README") << "not config";
  std::ofstream(root / "extra.json") << R"({"bootstrap_expect": 3})";

  DiskConfigFiles disk;
  absl::StatusOr<AgentConfig> c = LoadAgentConfig(
      {"-config-dir", (root / "conf.d").string(), "-config-file", (root / "extra.json").string(), "-data-dir=/d"},
      disk, kHost);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node_name, "disk-b");
  EXPECT_EQ(c->retry_join, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(c->server);
  EXPECT_EQ(c->bootstrap_expect, 3);

  ExpectRefused(LoadAgentConfig({"-data-dir=/d", "-config-file", (root / "missing.json").string()}, disk, kHost),
                {"missing.json: cannot read it"});
  ExpectRefused(LoadAgentConfig({"-data-dir=/d", "-config-file", (root / "conf.d").string()}, disk, kHost),
                {"is a directory"});
  ExpectRefused(LoadAgentConfig({"-data-dir=/d", "-config-dir", (root / "nowhere").string()}, disk, kHost),
                {"nowhere: cannot list it"});
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace muster::config
