// The pure pieces of `muster agent`: Consul's log line and banner shapes, the advertise
// address rules, and the node-id file in a temp dir (created, kept, refused when it differs).
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "cmd/agent/console_log.h"
#include "cmd/agent/node_id_file.h"
#include "cmd/agent/startup.h"
#include "core/agent/identity.h"
#include "gtest/gtest.h"

namespace muster::cmd {
namespace {

TEST(ConsoleLogTest, LinesHaveConsulsShape) {
  const absl::Time at = absl::FromUnixMillis(1796132657123);  // 2026-12-01T13:44:17.123Z
  EXPECT_EQ(FormatLogLine(at, LogLevel::kInfo, "agent.server.raft", "entering leader state"),
            "2026-12-01T13:44:17.123Z [INFO]  agent.server.raft: entering leader state\n");
  EXPECT_EQ(FormatLogLine(at, LogLevel::kError, "agent", "x"), "2026-12-01T13:44:17.123Z [ERROR] agent: x\n");
  EXPECT_EQ(FormatLogLine(at, LogLevel::kWarn, "agent", "x"), "2026-12-01T13:44:17.123Z [WARN]  agent: x\n");
  EXPECT_EQ(FormatLogLine(at, LogLevel::kDebug, "agent", "x"), "2026-12-01T13:44:17.123Z [DEBUG] agent: x\n");
  EXPECT_EQ(FormatLogLine(at, LogLevel::kTrace, "agent", "x"), "2026-12-01T13:44:17.123Z [TRACE] agent: x\n");
}

TEST(ConsoleLogTest, ParsesConsulsLevels) {
  EXPECT_EQ(*ParseLogLevel("trace"), LogLevel::kTrace);
  EXPECT_EQ(*ParseLogLevel("DEBUG"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("Info"), LogLevel::kInfo);
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarn);
  EXPECT_EQ(*ParseLogLevel("err"), LogLevel::kError);
  EXPECT_EQ(*ParseLogLevel("ERROR"), LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("loud").ok());
}

std::string ReadAll(FILE* file) {
  fflush(file);
  rewind(file);
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), file)) > 0) out.append(buffer, n);
  return out;
}

TEST(ConsoleLogTest, FiltersByLevelAndHoldsLinesUntilOpen) {
  FILE* out = tmpfile();
  ASSERT_NE(out, nullptr);
  ConsoleLog log(out, LogLevel::kInfo);
  const absl::Time at = absl::FromUnixSeconds(0);
  log.Write(at, LogLevel::kDebug, "agent", "hidden");
  log.Write(at, LogLevel::kInfo, "agent", "held");
  EXPECT_EQ(ReadAll(out), "");
  fprintf(out, "BANNER\n");
  log.Open();
  log.Write(at, LogLevel::kWarn, "agent", "live");
  log.set_min_level(LogLevel::kDebug);  // SIGHUP with -log-level=debug
  log.Write(at, LogLevel::kDebug, "agent", "now shown");
  log.set_min_level(LogLevel::kError);
  log.Write(at, LogLevel::kWarn, "agent", "now hidden");
  EXPECT_EQ(ReadAll(out),
            "BANNER\n"
            "1970-01-01T00:00:00.000Z [INFO]  agent: held\n"
            "1970-01-01T00:00:00.000Z [WARN]  agent: live\n"
            "1970-01-01T00:00:00.000Z [DEBUG] agent: now shown\n");
  fclose(out);
}

TEST(ConsoleLogTest, HeldLinesAreBounded) {
  FILE* out = tmpfile();
  ASSERT_NE(out, nullptr);
  ConsoleLog log(out, LogLevel::kInfo);
  for (size_t i = 0; i < kHeldLinesMax + 10; ++i) log.Write(absl::FromUnixSeconds(0), LogLevel::kInfo, "a", "m");
  log.Open();
  std::string all = ReadAll(out);
  EXPECT_NE(all.find("10 log lines from before the start were dropped"), std::string::npos);
  size_t lines = 0;
  for (char c : all) lines += c == '\n';
  EXPECT_EQ(lines, kHeldLinesMax + 1);
  fclose(out);
}

agent::AgentConfig DevConfig() {
  agent::AgentConfig config;
  agent::ApplyDevDefaults(config);
  config.node_name = "laptop";
  return config;
}

TEST(StartupTest, BannerHasConsulsShape) {
  agent::AgentConfig config = DevConfig();
  EXPECT_EQ(FormatBanner(config, "8d4e6a3c-1f0b-4c5e-9a7d-2b3c4d5e6f70", "127.0.0.1"),
            "==> Starting muster agent...\n"
            "           Version: '1.0.0'\n"
            "           Node ID: '8d4e6a3c-1f0b-4c5e-9a7d-2b3c4d5e6f70'\n"
            "         Node name: 'laptop'\n"
            "        Datacenter: 'dc1' (Segment: '<all>')\n"
            "            Server: true (Bootstrap: true)\n"
            "       Client Addr: [127.0.0.1] (HTTP: 8500, HTTPS: -1, DNS: 8600)\n"
            "      Cluster Addr: 127.0.0.1 (LAN: 8301, WAN: 8302)\n"
            "           Encrypt: Gossip: false, TLS-Outgoing: false, TLS-Incoming: false, Auto-Encrypt-TLS: false\n"
            "\n"
            "==> Log data will now stream in as it occurs:\n"
            "\n");
  agent::AgentConfig client;
  client.node_name = "web-1";
  std::string banner = FormatBanner(client, "id", "10.0.0.5");
  EXPECT_NE(banner.find("            Server: false (Bootstrap: false)\n"), std::string::npos);
  EXPECT_NE(banner.find("        Datacenter: 'dc1' (Segment: '')\n"), std::string::npos);
  EXPECT_NE(banner.find("      Cluster Addr: 10.0.0.5 (LAN: 8301, WAN: -1)\n"), std::string::npos);
}

TEST(StartupTest, JoinHostPortBracketsIpv6) {
  EXPECT_EQ(JoinHostPort("10.0.0.1", 8300), "10.0.0.1:8300");
  EXPECT_EQ(JoinHostPort("::1", 8300), "[::1]:8300");
  EXPECT_EQ(JoinHostPort("[::1]", 8300), "[::1]:8300");
}

TEST(StartupTest, AdvertiseAddressFollowsConsulsRules) {
  const std::vector<InterfaceAddress> one_private = {
      {"127.0.0.1", false, true}, {"10.1.2.3", false, false}, {"8.8.8.8", false, false},
      {"fe80::1", true, false},   {"2001:db8::5", true, false}};
  agent::AgentConfig config;
  config.advertise_addr = "192.0.2.1";
  EXPECT_EQ(*ResolveAdvertiseAddr(config, one_private), "192.0.2.1");
  config.advertise_addr = "";
  config.bind_addr = "127.0.0.71";
  EXPECT_EQ(*ResolveAdvertiseAddr(config, one_private), "127.0.0.71");
  config.bind_addr = "0.0.0.0";
  EXPECT_EQ(*ResolveAdvertiseAddr(config, one_private), "10.1.2.3");
  config.bind_addr = "::";
  EXPECT_EQ(*ResolveAdvertiseAddr(config, one_private), "2001:db8::5");

  config.bind_addr = "0.0.0.0";
  std::vector<InterfaceAddress> two_private = one_private;
  two_private.push_back({"192.168.1.9", false, false});
  absl::StatusOr<std::string> several = ResolveAdvertiseAddr(config, two_private);
  ASSERT_FALSE(several.ok());
  EXPECT_TRUE(absl::StrContains(several.status().message(), "Multiple private IPv4 addresses"));
  EXPECT_TRUE(absl::StrContains(several.status().message(), "10.1.2.3, 192.168.1.9"));
  absl::StatusOr<std::string> none = ResolveAdvertiseAddr(config, {{"127.0.0.1", false, true}, {"8.8.8.8", false, false}});
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(absl::StrContains(none.status().message(), "No private IPv4 address"));
  // 172.16/12 and 100.64/10 are private; 172.32 is not.
  EXPECT_EQ(*ResolveAdvertiseAddr(config, {{"172.31.0.1", false, false}, {"172.32.0.1", false, false}}), "172.31.0.1");
  EXPECT_EQ(*ResolveAdvertiseAddr(config, {{"100.127.0.1", false, false}, {"100.128.0.1", false, false}}), "100.127.0.1");
}

class NodeIdFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/node_id_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string root_;
};

TEST_F(NodeIdFileTest, MadeOnceAndKept) {
  const std::string dir = root_ + "/data/nested";
  absl::StatusOr<std::string> first = LoadOrCreateNodeId(dir, "");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(agent::ParseNodeId(*first).ok());
  EXPECT_EQ(Read(dir + "/node-id"), *first);
  absl::StatusOr<std::string> again = LoadOrCreateNodeId(dir, "");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *first);
  // Asking for the same ID explicitly is fine; another one is refused, naming both.
  EXPECT_EQ(*LoadOrCreateNodeId(dir, *first), *first);
  const std::string other = "11111111-2222-4333-8444-555555555555";
  absl::StatusOr<std::string> refused = LoadOrCreateNodeId(dir, other);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::StrContains(refused.status().message(), other));
  EXPECT_TRUE(absl::StrContains(refused.status().message(), *first));
  EXPECT_EQ(Read(dir + "/node-id"), *first);
}

TEST_F(NodeIdFileTest, AnExplicitIdIsWrittenAndRandomOnesDiffer) {
  const std::string id = "11111111-2222-4333-8444-555555555555";
  EXPECT_EQ(*LoadOrCreateNodeId(root_ + "/a", id), id);
  EXPECT_EQ(Read(root_ + "/a/node-id"), id);
  EXPECT_NE(*LoadOrCreateNodeId(root_ + "/b", ""), *LoadOrCreateNodeId(root_ + "/c", ""));
  EXPECT_NE(*RandomNodeId(), *RandomNodeId());
}

TEST_F(NodeIdFileTest, AGarbledFileOrAFileAsDataDirIsRefused) {
  const std::string dir = root_ + "/garbled";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  std::ofstream(dir + "/node-id") << "not-a-uuid";
  absl::StatusOr<std::string> garbled = LoadOrCreateNodeId(dir, "");
  ASSERT_FALSE(garbled.ok());
  EXPECT_TRUE(absl::StrContains(garbled.status().message(), "not a valid UUID"));
  // A file where the data dir should be.
  std::ofstream(root_ + "/plain") << "x";
  EXPECT_FALSE(LoadOrCreateNodeId(root_ + "/plain", "").ok());
  // Trailing whitespace (an editor's newline) is tolerated.
  const std::string spaced = root_ + "/spaced";
  ASSERT_EQ(mkdir(spaced.c_str(), 0755), 0);
  std::ofstream(spaced + "/node-id") << "11111111-2222-4333-8444-555555555555\n";
  EXPECT_EQ(*LoadOrCreateNodeId(spaced, ""), "11111111-2222-4333-8444-555555555555");
}

}  // namespace
}  // namespace muster::cmd
