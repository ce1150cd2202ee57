// Each command against canned answers (no sockets): the requests it makes (method, path,
// query, body, token), what it prints and where, and its exit code, as Consul's CLI.
#include <map>
#include <sstream>

#include "absl/strings/str_join.h"
#include "cmd/cli/cli.h"
#include "cmd/cli/cli_test_fixture.h"
#include "gtest/gtest.h"

namespace muster::cli {
namespace {

// ---- members ----------------------------------------------------------------------------

constexpr char kMembers[] = R"([
  {"Name":"web-1","Addr":"127.0.0.9","Port":8301,"Tags":{"role":"node","dc":"dc1","vsn":"2","build":"1.0.0:abc"},"Status":1},
  {"Name":"s2","Addr":"127.0.0.3","Port":8301,"Tags":{"role":"consul","dc":"dc1","vsn":"1","build":"1.0.0","id":"x"},"Status":4},
  {"Name":"s1","Addr":"::1","Port":8301,"Tags":{"role":"consul","dc":"dc1","vsn":"1","build":"1.0.0"},"Status":1},
  {"Name":"odd","Addr":"sim-n1","Port":8301,"Tags":{},"Status":3}
])";

TEST_F(CliTest, MembersColumnsServersFirst) {
  transport_.Answer("GET /v1/agent/members", 200, kMembers);
  EXPECT_EQ(Cli({"members"}), 0);
  EXPECT_EQ(Out(),
            "Node   Address         Status  Type     Build  Protocol  DC   Partition  Segment\n"
            "s1     [::1]:8301      alive   server   1.0.0  1         dc1  default    <all>\n"
            "s2     127.0.0.3:8301  failed  server   1.0.0  1         dc1  default    <all>\n"
            "odd    :8301           left    unknown                                   \n"
            "web-1  127.0.0.9:8301  alive   client   1.0.0  2         dc1  default    <default>\n");
  EXPECT_EQ(Err(), "");
  EXPECT_EQ(transport_.addresses.back(), "127.0.0.1:8500");
}

TEST_F(CliTest, MembersDetailedWanAndStatusFilter) {
  transport_.Answer("GET /v1/agent/members?wan=1", 200, kMembers);
  EXPECT_EQ(Cli({"members", "-wan", "-detailed", "-status=fail|left"}), 0);
  EXPECT_EQ(Out(),
            "Node  Address         Status  Tags\n"
            "s2    127.0.0.3:8301  failed  ap=default,build=1.0.0,dc=dc1,id=x,role=consul,segment=<all>,vsn=1\n"
            "odd   :8301           left    ap=default,segment=<default>\n");
  // No member matches: exit 2 and nothing printed, as Consul.
  EXPECT_EQ(Cli({"members", "-wan", "-status=^leaving$"}), 2);
  EXPECT_EQ(Out(), "");
  EXPECT_EQ(Cli({"members", "-status=("}), 1);
  EXPECT_NE(Err().find("Failed to compile status regexp"), std::string::npos);
}

TEST_F(CliTest, MembersErrors) {
  transport_.Refuse();
  EXPECT_EQ(Cli({"members"}), 1);
  EXPECT_EQ(Err(),
            "Error retrieving members: Get \"http://127.0.0.1:8500/v1/agent/members\": dial tcp 127.0.0.1:8500: "
            "connect: connection refused\n");
  EXPECT_EQ(Out(), "");
}

TEST_F(CliTest, HttpAddressFromFlagEnvAndDefault) {
  transport_.Answer("GET /v1/agent/members", 200, "[]");
  vars_["CONSUL_HTTP_ADDR"] = "http://127.0.0.7:9500";
  vars_["CONSUL_HTTP_TOKEN"] = "secret";
  EXPECT_EQ(Cli({"members"}), 2);
  EXPECT_EQ(transport_.addresses.back(), "127.0.0.7:9500");
  ASSERT_EQ(OnlyRequest().headers.size(), 1u);
  EXPECT_EQ(OnlyRequest().headers[0], std::make_pair(std::string("X-Consul-Token"), std::string("secret")));
  EXPECT_EQ(Cli({"members", "-http-addr=[::1]:8501", "-token=t2"}), 2);
  EXPECT_EQ(transport_.addresses.back(), "[::1]:8501");
  EXPECT_EQ(OnlyRequest().headers[0].second, "t2");
  EXPECT_EQ(Cli({"members", "-http-addr=https://x:1"}), 1);
  EXPECT_NE(Err().find("Error connecting to muster agent: unsupported scheme"), std::string::npos);
  EXPECT_TRUE(transport_.requests.empty());
}

TEST_F(CliTest, MusterHttpAddrWinsOverConsulHttpAddr) {
  transport_.Answer("GET /v1/agent/members", 200, "[]");
  vars_["MUSTER_HTTP_ADDR"] = "127.0.0.8:8600";
  EXPECT_EQ(Cli({"members"}), 2);
  EXPECT_EQ(transport_.addresses.back(), "127.0.0.8:8600");
  vars_["CONSUL_HTTP_ADDR"] = "127.0.0.7:9500";
  EXPECT_EQ(Cli({"members"}), 2);
  EXPECT_EQ(transport_.addresses.back(), "127.0.0.8:8600");
  EXPECT_EQ(Cli({"members", "-http-addr=127.0.0.6:1"}), 2);  // the flag wins over both
  EXPECT_EQ(transport_.addresses.back(), "127.0.0.6:1");
  vars_.erase("MUSTER_HTTP_ADDR");
  EXPECT_EQ(Cli({"members"}), 2);
  EXPECT_EQ(transport_.addresses.back(), "127.0.0.7:9500");
}

// ---- join / leave -----------------------------------------------------------------------

TEST_F(CliTest, JoinCountsJoins) {
  transport_.Answer("PUT /v1/agent/join/127.0.0.2:8301", 200, "");
  transport_.Answer("PUT /v1/agent/join/127.0.0.4:8301", 500, "dial failed");
  EXPECT_EQ(Cli({"join", "127.0.0.2:8301", "127.0.0.4:8301"}), 0);
  EXPECT_EQ(Out(), "Successfully joined cluster by contacting 1 nodes.\n");
  EXPECT_EQ(Err(), "Error joining address '127.0.0.4:8301': Unexpected response code: 500 (dial failed)\n");
  EXPECT_EQ(Cli({"join", "127.0.0.4:8301"}), 1);
  EXPECT_NE(Err().find("Failed to join any nodes.\n"), std::string::npos);
  EXPECT_EQ(Cli({"join"}), 1);
  EXPECT_EQ(Err().rfind("At least one address to join must be specified.\n", 0), 0u);
  transport_.Answer("PUT /v1/agent/join/10.0.0.1?wan=1", 200, "");
  EXPECT_EQ(Cli({"join", "-wan", "10.0.0.1"}), 0);
  EXPECT_EQ(OnlyRequest().target, "/v1/agent/join/10.0.0.1?wan=1");
}

TEST_F(CliTest, Leave) {
  transport_.Answer("PUT /v1/agent/leave", 200, "");
  EXPECT_EQ(Cli({"leave"}), 0);
  EXPECT_EQ(Out(), "Graceful leave complete\n");
  EXPECT_EQ(OnlyRequest().method, "PUT");
  EXPECT_EQ(Cli({"leave", "now"}), 1);
  EXPECT_EQ(Err(), "Error found unexpected args: [now]\n");
  transport_.Refuse();
  EXPECT_EQ(Cli({"leave"}), 1);
  EXPECT_EQ(Err().rfind("Error leaving: Put \"http://127.0.0.1:8500/v1/agent/leave\"", 0), 0u);
}

// ---- kv ---------------------------------------------------------------------------------

constexpr char kPair[] =
    R"([{"LockIndex":0,"Key":"redis/maxconns","Flags":42,"Value":"NQ==","CreateIndex":5,"ModifyIndex":7}])";

TEST_F(CliTest, KvGet) {
  transport_.Answer("GET /v1/kv/redis/maxconns", 200, kPair);
  EXPECT_EQ(Cli({"kv", "get", "/redis/maxconns"}), 0);  // the leading '/' is taken off
  EXPECT_EQ(Out(), "5\n");
  EXPECT_EQ(Cli({"kv", "get", "-detailed", "redis/maxconns"}), 0);
  EXPECT_EQ(Out(),
            "CreateIndex      5\n"
            "Flags            42\n"
            "Key              redis/maxconns\n"
            "LockIndex        0\n"
            "ModifyIndex      7\n"
            "Session          -\n"
            "Value            5\n");
  EXPECT_EQ(Cli({"kv", "get", "-base64", "redis/maxconns"}), 0);
  EXPECT_EQ(Out(), "NQ==\n");
  EXPECT_EQ(Cli({"kv", "get", "nope"}), 1);
  EXPECT_EQ(Err(), "Error! No key exists at: nope\n");
  EXPECT_EQ(Cli({"kv", "get"}), 1);
  EXPECT_EQ(Err(), "Error! Missing KEY argument\n");
  EXPECT_EQ(Cli({"kv", "get", "a", "b"}), 1);
  EXPECT_EQ(Err(), "Too many arguments (expected 1, got 2)\n");
}

TEST_F(CliTest, KvGetRecurseKeysAndEscaping) {
  transport_.Answer("GET /v1/kv/foo?recurse=", 200,
                    R"([{"Key":"foo/a","Value":"MQ==","Session":"s-1","LockIndex":1},{"Key":"foo/b","Value":null}])");
  EXPECT_EQ(Cli({"kv", "get", "-recurse", "foo"}), 0);
  EXPECT_EQ(Out(), "foo/a:1\nfoo/b:\n");
  EXPECT_EQ(Cli({"kv", "get", "-recurse", "-detailed", "foo"}), 0);
  EXPECT_NE(Out().find("Session          s-1\nValue            1\n\nCreateIndex"), std::string::npos);
  // Nothing under the prefix: 404, nothing printed, success.
  EXPECT_EQ(Cli({"kv", "get", "-recurse", "empty"}), 0);
  EXPECT_EQ(Out(), "");
  transport_.Answer("GET /v1/kv/?keys=&separator=%2F", 200, R"(["foo/","top"])");
  EXPECT_EQ(Cli({"kv", "get", "-keys"}), 0);
  EXPECT_EQ(Out(), "foo/\ntop\n");
  transport_.Answer("GET /v1/kv/a%20b%3F%23?dc=dc2&stale=", 200, R"([{"Key":"a b?#","Value":"eA=="}])");
  EXPECT_EQ(Cli({"kv", "get", "-datacenter=dc2", "-stale", "a b?#"}), 0);
  EXPECT_EQ(Out(), "x\n");
  transport_.Answer("GET /v1/kv/broken", 500, "No cluster leader");
  EXPECT_EQ(Cli({"kv", "get", "broken"}), 1);
  EXPECT_EQ(Err(), "Error querying muster agent: Unexpected response code: 500 (No cluster leader)\n");
}

TEST_F(CliTest, KvPut) {
  transport_.Answer("PUT /v1/kv/redis/maxconns", 200, "true");
  EXPECT_EQ(Cli({"kv", "put", "redis/maxconns", "5"}), 0);
  EXPECT_EQ(Out(), "Success! Data written to: redis/maxconns\n");
  EXPECT_EQ(OnlyRequest().body, "5");
  stdin_ = "from stdin";
  EXPECT_EQ(Cli({"kv", "put", "redis/maxconns", "-"}), 0);
  EXPECT_EQ(OnlyRequest().body, "from stdin");
  EXPECT_EQ(Cli({"kv", "put", "redis/maxconns", "@license.lic"}), 0);
  EXPECT_EQ(OnlyRequest().body, "file contents\n");
  EXPECT_EQ(Cli({"kv", "put", "redis/maxconns", "-dash-literal"}), 0);
  EXPECT_EQ(OnlyRequest().body, "-dash-literal");
  EXPECT_EQ(Cli({"kv", "put", "redis/maxconns"}), 0);
  EXPECT_EQ(OnlyRequest().body, "");
  EXPECT_EQ(Cli({"kv", "put", "redis/maxconns", "@missing"}), 1);
  EXPECT_EQ(Err(), "Error! Failed to read file: open missing: no such file or directory\n");
  EXPECT_EQ(Cli({"kv", "put"}), 1);
  EXPECT_EQ(Err(), "Error! Missing KEY argument\n");
  EXPECT_EQ(Cli({"kv", "put", "a", "b", "c"}), 1);
  EXPECT_EQ(Err(), "Error! Too many arguments (expected 1 or 2, got 3)\n");
  transport_.Answer("PUT /v1/kv/big", 413, "Value exceeds 524288 byte limit");
  EXPECT_EQ(Cli({"kv", "put", "big", "x"}), 1);
  EXPECT_EQ(Err(), "Error! Failed writing data: Unexpected response code: 413 (Value exceeds 524288 byte limit)\n");
}

TEST_F(CliTest, KvPutCasFlagsAndLocks) {
  transport_.Answer("PUT /v1/kv/k?cas=844&flags=3", 200, "true");
  EXPECT_EQ(Cli({"kv", "put", "-cas", "-modify-index=844", "-flags=3", "k", "v"}), 0);
  EXPECT_EQ(Out(), "Success! Data written to: k\n");
  transport_.Answer("PUT /v1/kv/k?cas=843", 200, "false");
  EXPECT_EQ(Cli({"kv", "put", "-cas", "-modify-index", "843", "k", "v"}), 1);
  EXPECT_EQ(Err(), "Error! Did not write to k: CAS failed\n");
  EXPECT_EQ(Cli({"kv", "put", "-cas", "k", "v"}), 1);
  EXPECT_EQ(Err(), "Must specify -modify-index with -cas!\n");
  EXPECT_TRUE(transport_.requests.empty());
  EXPECT_EQ(Cli({"kv", "put", "-acquire", "k"}), 1);
  EXPECT_EQ(Err(), "Error! Missing -session (required with -acquire and -release)\n");
  transport_.Answer("PUT /v1/kv/lock?acquire=sess-1", 200, "true");
  EXPECT_EQ(Cli({"kv", "put", "-acquire", "-session=sess-1", "lock", "me"}), 0);
  EXPECT_EQ(Out(), "Success! Lock acquired on: lock\n");
  transport_.Answer("PUT /v1/kv/lock?acquire=sess-2", 200, "false");
  EXPECT_EQ(Cli({"kv", "put", "-acquire", "-session=sess-2", "lock"}), 1);
  EXPECT_EQ(Err(), "Error! Did not acquire lock\n");
  transport_.Answer("PUT /v1/kv/lock?release=sess-1", 200, "true");
  EXPECT_EQ(Cli({"kv", "put", "-release", "-session=sess-1", "lock"}), 0);
  EXPECT_EQ(Out(), "Success! Lock released on: lock\n");
  transport_.Answer("PUT /v1/kv/b64", 200, "true");
  EXPECT_EQ(Cli({"kv", "put", "-base64", "b64", "aGVsbG8="}), 0);
  EXPECT_EQ(OnlyRequest().body, "hello");
  EXPECT_EQ(Cli({"kv", "put", "-flags=x", "k"}), 1);
  EXPECT_EQ(Err().rfind("invalid value \"x\" for flag -flags: parse error\n", 0), 0u);
}

TEST_F(CliTest, KvDelete) {
  transport_.Answer("DELETE /v1/kv/k", 200, "true");
  EXPECT_EQ(Cli({"kv", "delete", "k"}), 0);
  EXPECT_EQ(Out(), "Success! Deleted key: k\n");
  transport_.Answer("DELETE /v1/kv/dir?recurse=", 200, "true");
  EXPECT_EQ(Cli({"kv", "delete", "-recurse", "dir"}), 0);
  EXPECT_EQ(Out(), "Success! Deleted keys with prefix: dir\n");
  transport_.Answer("DELETE /v1/kv/k?cas=9", 200, "false");
  EXPECT_EQ(Cli({"kv", "delete", "-cas", "-modify-index=9", "k"}), 1);
  EXPECT_EQ(Err(), "Error! Did not delete key k: CAS failed\n");
  transport_.Answer("DELETE /v1/kv/k?cas=10", 200, "true");
  EXPECT_EQ(Cli({"kv", "delete", "-cas", "-modify-index=10", "k"}), 0);
  EXPECT_EQ(Cli({"kv", "delete", "-cas", "k"}), 1);
  EXPECT_EQ(Err(), "Cannot delete a key that does not exist. Provide a -modify-index greater than than 0.\n");
  EXPECT_EQ(Cli({"kv", "delete", "-modify-index=3", "k"}), 1);
  EXPECT_EQ(Err(), "Cannot specify -modify-index without -cas!\n");
  EXPECT_EQ(Cli({"kv", "delete", "-recurse", "-cas", "-modify-index=3", "k"}), 1);
  EXPECT_EQ(Err(), "Cannot specify both -cas and -recurse!\n");
  EXPECT_EQ(Cli({"kv", "delete"}), 1);
  EXPECT_EQ(Err(), "Error! Missing KEY argument\n");
}

// ---- operator ---------------------------------------------------------------------------

TEST_F(CliTest, RaftListPeers) {
  transport_.Answer("GET /v1/operator/raft/configuration", 200, R"({"Servers":[
    {"ID":"6b0bc5a1-3d5e-4c6a-9f1e-0a2b3c4d5e6f","Node":"s1","Address":"127.0.0.2:8300","Leader":true,"Voter":true,"ProtocolVersion":"3"},
    {"ID":"0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5","Node":"s4","Address":"127.0.0.5:8300","Leader":false,"Voter":false}],"Index":12})");
  EXPECT_EQ(Cli({"operator", "raft", "list-peers"}), 0);
  EXPECT_EQ(Out(),
            "Node  ID                                    Address         State     Voter  RaftProtocol\n"
            "s1    6b0bc5a1-3d5e-4c6a-9f1e-0a2b3c4d5e6f  127.0.0.2:8300  leader    true   3\n"
            "s4    0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5  127.0.0.5:8300  follower  false  <=1\n");
  transport_.Answer("GET /v1/operator/raft/configuration?stale=", 500, "No cluster leader");
  EXPECT_EQ(Cli({"operator", "raft", "list-peers", "-stale"}), 1);
  EXPECT_EQ(Err(), "Error getting peers: Failed to retrieve raft configuration: Unexpected response code: 500 (No cluster leader)\n");
}

TEST_F(CliTest, RaftRemovePeer) {
  transport_.Answer("DELETE /v1/operator/raft/peer?address=127.0.0.5%3A8300", 200, "");
  EXPECT_EQ(Cli({"operator", "raft", "remove-peer", "-address=127.0.0.5:8300"}), 0);
  EXPECT_EQ(Out(), "Removed peer with address \"127.0.0.5:8300\"\n");
  transport_.Answer("DELETE /v1/operator/raft/peer?id=abc", 200, "");
  EXPECT_EQ(Cli({"operator", "raft", "remove-peer", "-id", "abc"}), 0);
  EXPECT_EQ(Out(), "Removed peer with id \"abc\"\n");
  EXPECT_EQ(Cli({"operator", "raft", "remove-peer"}), 1);
  EXPECT_EQ(Err(), "Error removing peer: an address or id is required for the peer to remove\n");
  EXPECT_EQ(Cli({"operator", "raft", "remove-peer", "-id=a", "-address=b"}), 1);
  EXPECT_EQ(Err(), "Error removing peer: cannot give both an address and id\n");
  EXPECT_EQ(Cli({"operator", "raft", "remove-peer", "-id=gone"}), 1);
  EXPECT_EQ(Err(), "Error removing peer: Unexpected response code: 404 ()\n");
}

constexpr char kAutopilot[] =
    R"({"CleanupDeadServers":true,"LastContactThreshold":"200ms","MaxTrailingLogs":250,"MinQuorum":0,)"
    R"("ServerStabilizationTime":"10s","RedundancyZoneTag":"","DisableUpgradeMigration":false,)"
    R"("UpgradeVersionTag":"","CreateIndex":4,"ModifyIndex":4})";

TEST_F(CliTest, AutopilotGetConfig) {
  transport_.Answer("GET /v1/operator/autopilot/configuration", 200, kAutopilot);
  EXPECT_EQ(Cli({"operator", "autopilot", "get-config"}), 0);
  EXPECT_EQ(Out(),
            "CleanupDeadServers = true\n"
            "LastContactThreshold = 200ms\n"
            "MaxTrailingLogs = 250\n"
            "MinQuorum = 0\n"
            "ServerStabilizationTime = 10s\n"
            "RedundancyZoneTag = \"\"\n"
            "DisableUpgradeMigration = false\n"
            "UpgradeVersionTag = \"\"\n");
  // Durations in any Go spelling (or bare nanoseconds) print in Go's canonical form.
  transport_.Answer("GET /v1/operator/autopilot/configuration", 200,
                    R"({"LastContactThreshold":"0.2s","ServerStabilizationTime":90000000000})");
  EXPECT_EQ(Cli({"operator", "autopilot", "get-config"}), 0);
  EXPECT_NE(Out().find("LastContactThreshold = 200ms\n"), std::string::npos);
  EXPECT_NE(Out().find("ServerStabilizationTime = 1m30s\n"), std::string::npos);
  transport_.Answer("GET /v1/operator/autopilot/configuration", 200, R"({"LastContactThreshold":"soon"})");
  EXPECT_EQ(Cli({"operator", "autopilot", "get-config"}), 1);
  EXPECT_EQ(Err(), "Error querying Autopilot configuration: time: invalid duration \"soon\"\n");
}

TEST_F(CliTest, AutopilotSetConfigMergesAndCas) {
  transport_.Answer("GET /v1/operator/autopilot/configuration", 200, kAutopilot);
  transport_.Answer("PUT /v1/operator/autopilot/configuration?cas=4", 200, "true");
  EXPECT_EQ(Cli({"operator", "autopilot", "set-config", "-cleanup-dead-servers=false", "-max-trailing-logs=100",
                 "-server-stabilization-time=1m30s", "-last-contact-threshold", "500ms", "-min-quorum=3"}),
            0);
  EXPECT_EQ(Out(), "Configuration updated!\n");
  ASSERT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(transport_.requests[0].method, "GET");
  const HttpRequest& put = transport_.requests[1];
  EXPECT_EQ(put.target, "/v1/operator/autopilot/configuration?cas=4");
  EXPECT_EQ(put.body,
            R"({"CleanupDeadServers":false,"CreateIndex":4,"DisableUpgradeMigration":false,"LastContactThreshold":"500ms",)"
            R"("MaxTrailingLogs":100,"MinQuorum":3,"ModifyIndex":4,"RedundancyZoneTag":"",)"
            R"("ServerStabilizationTime":"1m30s","UpgradeVersionTag":""})");
  // Only what was given changes.
  EXPECT_EQ(Cli({"operator", "autopilot", "set-config", "-min-quorum=5"}), 0);
  EXPECT_NE(transport_.requests[1].body.find(R"("CleanupDeadServers":true)"), std::string::npos);
  EXPECT_NE(transport_.requests[1].body.find(R"("LastContactThreshold":"200ms")"), std::string::npos);
  EXPECT_NE(transport_.requests[1].body.find(R"("MinQuorum":5)"), std::string::npos);
  // A concurrent change in between: the CAS fails, exit 1.
  transport_.Answer("PUT /v1/operator/autopilot/configuration?cas=4", 200, "false");
  EXPECT_EQ(Cli({"operator", "autopilot", "set-config", "-min-quorum=5"}), 1);
  EXPECT_EQ(Out(), "Configuration could not be atomically updated, please try again\n");
  EXPECT_EQ(Cli({"operator", "autopilot", "set-config", "-last-contact-threshold=fast"}), 1);
  EXPECT_EQ(Err().rfind("invalid value \"fast\" for flag -last-contact-threshold: parse error\n", 0), 0u);
}

// ---- kv export / import -----------------------------------------------------------------

TEST_F(CliTest, KvExport) {
  transport_.Answer("GET /v1/kv/app?recurse=", 200,
                    R"([{"Key":"app/a","Flags":42,"Value":"MQ==","CreateIndex":5,"ModifyIndex":7},)"
                    R"({"Key":"app/<b>&\"c\"","Value":null}])");
  EXPECT_EQ(Cli({"kv", "export", "/app"}), 0);  // the leading '/' is taken off
  // Go's json.MarshalIndent(entries, "", "\t"), with its HTML escaping.
  EXPECT_EQ(Out(),
            "[\n"
            "\t{\n\t\t\"key\": \"app/a\",\n\t\t\"flags\": 42,\n\t\t\"value\": \"MQ==\"\n\t},\n"
            "\t{\n\t\t\"key\": \"app/\\u003cb\\u003e\\u0026\\\"c\\\"\",\n\t\t\"flags\": 0,\n\t\t\"value\": \"\"\n\t}\n"
            "]\n");
  EXPECT_EQ(Err(), "");
  // Control bytes, U+2028 and invalid UTF-8 as Go writes them; valid UTF-8 kept.
  transport_.Answer("GET /v1/kv/odd?recurse=", 200,
                    R"([{"Key":"odd/\n\u0001\u2028é","Value":"eA=="}])");
  EXPECT_EQ(Cli({"kv", "export", "odd"}), 0);
  EXPECT_NE(Out().find("\"key\": \"odd/\\n\\u0001\\u2028\xC3\xA9\","), std::string::npos);
  // Nothing under the prefix (404): an empty array, success.
  EXPECT_EQ(Cli({"kv", "export", "none"}), 0);
  EXPECT_EQ(Out(), "[]\n");
  EXPECT_EQ(OnlyRequest().target, "/v1/kv/none?recurse=");
  EXPECT_EQ(Cli({"kv", "export", "-stale"}), 0);
  EXPECT_EQ(OnlyRequest().target, "/v1/kv/?recurse=&stale=");
  EXPECT_EQ(Cli({"kv", "export", "a", "b"}), 1);
  EXPECT_EQ(Err(), "Too many arguments (expected 1, got 2)\n");
  transport_.Answer("GET /v1/kv/app?recurse=", 500, "No cluster leader");
  EXPECT_EQ(Cli({"kv", "export", "app"}), 1);
  EXPECT_EQ(Err(), "Error querying muster agent: Unexpected response code: 500 (No cluster leader)\n");
  EXPECT_EQ(Out(), "");
}

TEST_F(CliTest, KvImportWritesEachEntryWithItsFlags) {
  transport_.Answer("PUT /v1/kv/app/a?flags=42", 200, "true");
  transport_.Answer("PUT /v1/kv/app/b", 200, "true");
  const std::string exported =
      "[\n\t{\n\t\t\"key\": \"app/a\",\n\t\t\"flags\": 42,\n\t\t\"value\": \"MQ==\"\n\t},\n"
      "\t{\"Key\": \"app/b\", \"VALUE\": \"\", \"extra\": 1}\n]\n";  // Go matches names in any case
  EXPECT_EQ(Cli({"kv", "import", exported}), 0);
  EXPECT_EQ(Out(), "Imported: app/a\nImported: app/b\n");
  EXPECT_EQ(Err(), "");
  ASSERT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(transport_.requests[0].method, "PUT");
  EXPECT_EQ(transport_.requests[0].body, "1");
  EXPECT_EQ(transport_.requests[1].target, "/v1/kv/app/b");
  EXPECT_EQ(transport_.requests[1].body, "");
  // From stdin and from a file.
  stdin_ = R"([{"key":"app/b","flags":0,"value":"Mg=="}])";
  EXPECT_EQ(Cli({"kv", "import", "-"}), 0);
  EXPECT_EQ(Out(), "Imported: app/b\n");
  EXPECT_EQ(OnlyRequest().body, "2");
  EXPECT_EQ(Cli({"kv", "import", "@license.lic"}), 1);  // a file that is not JSON
  EXPECT_EQ(Err().rfind("Cannot unmarshal data: ", 0), 0u);
  EXPECT_EQ(Cli({"kv", "import", "@missing.json"}), 1);
  EXPECT_EQ(Err(), "Error! Failed to read file: open missing.json: no such file or directory\n");
  EXPECT_TRUE(transport_.requests.empty());
  EXPECT_EQ(Cli({"kv", "import", "[]"}), 0);
  EXPECT_EQ(Out(), "");
}

TEST_F(CliTest, KvImportPrefixJoinsAsGoPathJoinKeepingTrailingSlash) {
  for (const char* target : {"PUT /v1/kv/backup/app/a", "PUT /v1/kv/backup/dir/", "PUT /v1/kv/b"}) {
    transport_.Answer(target, 200, "true");
  }
  EXPECT_EQ(Cli({"kv", "import", "-prefix=backup/", R"([{"key":"app//a"},{"key":"./dir/"}])"}), 0);
  EXPECT_EQ(Out(), "Imported: backup/app/a\nImported: backup/dir/\n");
  EXPECT_EQ(Cli({"kv", "import", "-prefix=backup", R"([{"key":"../b"}])"}), 0);
  EXPECT_EQ(Out(), "Imported: b\n");
  // No prefix: the key exactly as exported.
  transport_.Answer("PUT /v1/kv/x//y/", 200, "true");
  EXPECT_EQ(Cli({"kv", "import", R"([{"key":"x//y/"}])"}), 0);
  EXPECT_EQ(OnlyRequest().target, "/v1/kv/x//y/");
}

TEST_F(CliTest, KvImportErrors) {
  EXPECT_EQ(Cli({"kv", "import"}), 1);
  EXPECT_EQ(Err(), "Error! Missing DATA argument\n");
  EXPECT_EQ(Cli({"kv", "import", ""}), 1);
  EXPECT_EQ(Err(), "Error! Empty DATA argument\n");
  EXPECT_EQ(Cli({"kv", "import", "[]", "[]"}), 1);
  EXPECT_EQ(Err(), "Error! Too many arguments (expected 1, got 2)\n");
  EXPECT_EQ(Cli({"kv", "import", R"({"key":"a"})"}), 1);
  EXPECT_EQ(Err(), "Cannot unmarshal data: json: cannot unmarshal object into Go value of type []*kv.kvExportEntry\n");
  EXPECT_EQ(Cli({"kv", "import", R"([{"key":"a","flags":"7"}])"}), 1);
  EXPECT_EQ(Err(),
            "Cannot unmarshal data: json: cannot unmarshal string into Go struct field kvExportEntry.flags of type "
            "uint64\n");
  EXPECT_EQ(Cli({"kv", "import", R"([{"key":"a","value":"!!"}])"}), 1);
  EXPECT_EQ(Err(), "Error base 64 decoding value for key a: illegal base64 data\n");
  EXPECT_EQ(Cli({"kv", "import", R"([{"key":"/a","value":""}])"}), 1);
  EXPECT_EQ(Err(), "Error! Failed writing data for key /a: Invalid key. Key must not begin with a '/': /a\n");
  EXPECT_TRUE(transport_.requests.empty());
  // The first failed write stops the import; the entries before it stay written.
  transport_.Answer("PUT /v1/kv/a", 200, "true");
  transport_.Answer("PUT /v1/kv/b", 413, "Value exceeds 524288 byte limit");
  EXPECT_EQ(Cli({"kv", "import", R"([{"key":"a"},{"key":"b"},{"key":"c"}])"}), 1);
  EXPECT_EQ(Out(), "Imported: a\n");
  EXPECT_EQ(Err(),
            "Error! Failed writing data for key b: Unexpected response code: 413 (Value exceeds 524288 byte limit)\n");
  EXPECT_EQ(transport_.requests.size(), 2u);
}

// ---- info -------------------------------------------------------------------------------

TEST_F(CliTest, InfoPrintsStatsSectionsSorted) {
  transport_.Answer("GET /v1/agent/self", 200,
                    R"({"Config":{"NodeName":"s1"},"Stats":{"storage":{"syncs":"4","sync_writes":"9"},)"
                    R"("raft":{"term":"2","state":"Leader","applied_index":"17"},"agent":{"server":"true"}}})");
  EXPECT_EQ(Cli({"info"}), 0);
  EXPECT_EQ(Out(),
            "agent:\n\tserver = true\n"
            "raft:\n\tapplied_index = 17\n\tstate = Leader\n\tterm = 2\n"
            "storage:\n\tsync_writes = 9\n\tsyncs = 4\n");
  EXPECT_EQ(Err(), "");
  transport_.Answer("GET /v1/agent/self", 200, R"({"Config":{}})");
  EXPECT_EQ(Cli({"info"}), 1);
  EXPECT_EQ(Err(), "Agent response did not contain 'Stats' key: {\"Config\":{}}\n");
  transport_.Refuse();
  EXPECT_EQ(Cli({"info"}), 1);
  EXPECT_EQ(Err().rfind("Error querying agent: Get \"http://127.0.0.1:8500/v1/agent/self\": dial tcp", 0), 0u);
}

// Every command, group included, answers -h and --help with its usage, exit 0, and sends
// nothing.
TEST_F(CliTest, HelpOnEveryCommand) {
  const std::vector<std::vector<std::string>> commands = {
      {"agent"}, {"info"}, {"join"}, {"kv"}, {"kv", "delete"}, {"kv", "export"}, {"kv", "get"},
      {"kv", "import"}, {"kv", "put"}, {"leave"}, {"members"}, {"operator"}, {"operator", "autopilot"},
      {"operator", "autopilot", "get-config"}, {"operator", "autopilot", "set-config"}, {"operator", "raft"},
      {"operator", "raft", "list-peers"}, {"operator", "raft", "remove-peer"}, {"version"}, {"force-leave"},
      {"reload"}, {"event"}, {"maint"}, {"catalog"}, {"catalog", "datacenters"}, {"catalog", "nodes"},
      {"catalog", "services"}, {"services"}, {"services", "register"}, {"services", "deregister"}, {"watch"}, {"lock"}};
  for (const std::vector<std::string>& words : commands) {
    const std::string name = absl::StrJoin(words, " ");
    for (const char* flag : {"-h", "--help", "-help"}) {
      std::vector<std::string> args = words;
      args.push_back(flag);
      EXPECT_EQ(Cli(args), 0) << name << " " << flag;
      const std::string usage = absl::StrCat("Usage: muster ", name);
      EXPECT_EQ(Out().rfind(usage, 0), 0u) << name << " " << flag << ": " << Out();
      EXPECT_TRUE(Out().size() > usage.size() && (Out()[usage.size()] == ' ' || Out()[usage.size()] == '\n'))
          << name << " " << flag << ": " << Out();
      EXPECT_EQ(Err(), "") << name << " " << flag;
      EXPECT_TRUE(transport_.requests.empty()) << name << " " << flag;
    }
  }
}

// ---- dispatch ---------------------------------------------------------------------------

TEST_F(CliTest, VersionAndDispatch) {
  EXPECT_EQ(Cli({"version"}), 0);
  EXPECT_EQ(Out().rfind("muster v1.0.0\nProtocol 1 spoken by default, understands 1 to 1", 0), 0u);
  EXPECT_EQ(Cli({"--version"}), 0);
  EXPECT_EQ(Out().rfind("muster v1.0.0\n", 0), 0u);
  EXPECT_EQ(Cli({"-v"}), 0);
  EXPECT_EQ(Out().rfind("muster v1.0.0\n", 0), 0u);

  // Unknown command or none: the command list on stderr, 127 (mitchellh/cli's code).
  EXPECT_EQ(Cli({"bogus"}), 127);
  EXPECT_EQ(Err().rfind("Usage: muster [--version] [--help] <command> [<args>]\n\nAvailable commands are:\n", 0), 0u);
  EXPECT_NE(Err().find("    members        Lists the members of a muster cluster\n"), std::string::npos);
  EXPECT_NE(Err().find("    operator       Provides cluster-level tools for muster operators\n"), std::string::npos);
  EXPECT_EQ(Cli({}), 127);
  // -h: the help asked for, exit 0.
  EXPECT_EQ(Cli({"-h"}), 0);
  EXPECT_NE(Out().find("Available commands are:"), std::string::npos);
  EXPECT_EQ(Cli({"kv", "put", "k", "--help"}), 0);
  EXPECT_EQ(Out().rfind("Usage: muster kv put [options] KEY [DATA]", 0), 0u);
  EXPECT_NE(Out().find("-modify-index=<uint>"), std::string::npos);
  EXPECT_TRUE(transport_.requests.empty());
  // A group alone, or with a subcommand it lacks: its help and subcommands, exit 1.
  EXPECT_EQ(Cli({"kv"}), 1);
  EXPECT_NE(Err().find("Subcommands:\n    delete    Removes data from the KV store\n    export    Exports part of the KV tree in JSON "
                       "format\n    get       "), std::string::npos);
  EXPECT_EQ(Cli({"operator", "raft", "bogus"}), 1);
  EXPECT_NE(Err().find("    list-peers     Display the current Raft peer configuration\n"), std::string::npos);
  // Flags before the command are refused, as mitchellh/cli does.
  EXPECT_EQ(Cli({"-wan", "members"}), 1);
  EXPECT_EQ(Err().rfind("Invalid flags before the subcommand.", 0), 0u);
  // A flag the command does not have: Go's message and the command's help, exit 1.
  EXPECT_EQ(Cli({"members", "-bogus"}), 1);
  EXPECT_EQ(Err().rfind("flag provided but not defined: -bogus\n\nUsage: muster members", 0), 0u);
}

}  // namespace
}  // namespace muster::cli
