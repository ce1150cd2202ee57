#include "core/agent/server_tags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/agent/identity.h"

namespace muster::agent {
namespace {

constexpr char kRoleServer[] = "consul";
// -bootstrap-expect beyond this is a typo, not a cluster (Consul's servers are 3 to 7).
constexpr uint32_t kExpectMax = 128;

std::string Tag(const gossip::TagMap& tags, const char* key) {
  auto it = tags.find(key);
  return it == tags.end() ? "" : it->second;
}

// The host part of "host:port", "[v6]:port" or a bare host.
std::string HostOf(const std::string& address) {
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find(']');
    return close == std::string::npos ? address : address.substr(0, close + 1);
  }
  const size_t colon = address.rfind(':');
  return colon == std::string::npos || address.find(':') != colon ? address : address.substr(0, colon);
}

}  // namespace

gossip::TagMap EncodeServerTags(const ServerTags& t) {
  gossip::TagMap tags;
  tags["role"] = kRoleServer;
  tags["dc"] = t.datacenter;
  tags["id"] = t.node_id;
  tags["port"] = absl::StrCat(t.rpc_port);
  tags["vsn"] = absl::StrCat(t.protocol);
  if (t.expect > 0) tags["expect"] = absl::StrCat(t.expect);
  if (t.bootstrap) tags["bootstrap"] = "1";
  return tags;
}

absl::StatusOr<std::optional<ServerCandidate>> ServerOf(const gossip::Member& m) {
  if (Tag(m.tags, "role") != kRoleServer) return std::optional<ServerCandidate>();
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("member ", m.name, " claims to be a server but ", why));
  };
  ServerCandidate s;
  s.name = m.name;
  s.datacenter = Tag(m.tags, "dc");
  if (s.datacenter.empty()) return bad("has no datacenter tag");
  absl::StatusOr<std::string> id = ParseNodeId(Tag(m.tags, "id"));
  if (!id.ok()) return bad(absl::StrCat("its id tag is not a node ID: ", id.status().message()));
  s.node_id = *id;
  absl::StatusOr<NodeId> raft_id = RaftIdOf(s.node_id);
  if (!raft_id.ok()) return bad(std::string(raft_id.status().message()));
  s.raft_id = *raft_id;
  uint32_t port = 0;
  if (!absl::SimpleAtoi(Tag(m.tags, "port"), &port) || port == 0 || port > 65535) {
    return bad("its port tag is not a port");
  }
  s.rpc_address = absl::StrCat(HostOf(m.addr), ":", port);
  if (const std::string expect = Tag(m.tags, "expect"); !expect.empty()) {
    if (!absl::SimpleAtoi(expect, &s.expect) || s.expect == 0 || s.expect > kExpectMax) {
      return bad(absl::StrCat("its expect tag is not 1 to ", kExpectMax));
    }
  }
  s.bootstrap = Tag(m.tags, "bootstrap") == "1";
  return std::optional<ServerCandidate>(std::move(s));
}

}  // namespace muster::agent
