// `muster members`: the agent's gossip members (GET /v1/agent/members), as Consul's `members`
// prints them: servers first, then by name, in columns Node Address Status Type Build Protocol
// DC Partition Segment (or Node Address Status Tags with -detailed). -status filters on the
// status name with a regular expression, as Consul's; RE2's, which runs in linear time (Go's
// regexp is RE2 too, so the same patterns mean the same). Exit 2 when no member matches.
#include <arpa/inet.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/columns.h"
#include "cmd/cli/command.h"
#include "cmd/cli/json_fields.h"
#include "re2/re2.h"

namespace muster::cli {
namespace {

constexpr std::string_view kMembersHelp = R"(Usage: muster members [options]

  Outputs the members of a running muster agent.
)";

struct Member {
  std::string name;
  std::string addr;
  uint64_t port = 0;
  std::map<std::string, std::string> tags;  // sorted, as -detailed prints them
  uint64_t status = 0;
};

// serf's MemberStatus names.
std::string StatusName(uint64_t status) {
  switch (status) {
    case 0: return "none";
    case 1: return "alive";
    case 2: return "leaving";
    case 3: return "left";
    case 4: return "failed";
    default: return absl::StrCat("unknown MemberStatus: ", status);
  }
}

// Go's net.TCPAddr{IP: net.ParseIP(addr), Port}.String(): an address that is not an IP prints
// as ":port", an IPv4-mapped IPv6 address as IPv4.
std::string TcpAddress(const std::string& addr, uint64_t port) {
  in_addr v4;
  in6_addr v6;
  char text[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, addr.c_str(), &v4) == 1) {
    inet_ntop(AF_INET, &v4, text, sizeof(text));
    return absl::StrCat(text, ":", port);
  }
  if (inet_pton(AF_INET6, addr.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      inet_ntop(AF_INET, &v6.s6_addr[12], text, sizeof(text));
      return absl::StrCat(text, ":", port);
    }
    inet_ntop(AF_INET6, &v6, text, sizeof(text));
    return absl::StrCat("[", text, "]:", port);
  }
  return absl::StrCat(":", port);
}

std::string Tag(const Member& m, const std::string& key) {
  auto it = m.tags.find(key);
  return it == m.tags.end() ? "" : it->second;
}

bool IsDefaultPartition(const std::string& p) { return p.empty() || p == "default"; }

// Consul's ByMemberNamePartitionAndSegment: servers, the default partition, segment,
// partition, then name.
bool MemberLess(const Member& a, const Member& b) {
  const bool a_server = Tag(a, "role") == "consul", b_server = Tag(b, "role") == "consul";
  if (a_server != b_server) return a_server;
  const std::string ap = Tag(a, "ap"), bp = Tag(b, "ap");
  if (IsDefaultPartition(ap) != IsDefaultPartition(bp)) return IsDefaultPartition(ap);
  const std::string as = Tag(a, "segment"), bs = Tag(b, "segment");
  if (as != bs) return as < bs;
  if (ap != bp) return ap < bp;
  return a.name < b.name;
}

class MembersCommand : public Command {
 public:
  MembersCommand() {
    flags_.AddBool("detailed", &detailed_, "Provides detailed information about nodes.");
    flags_.AddBool("wan", &wan_, "If the agent is in server mode, this can be used to return the other peers in the WAN pool.");
    flags_.AddString("status", &status_filter_, "If provided, output is filtered to only nodes matching the regular expression for status.");
    http_.AddClientFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Lists the members of a muster cluster"; }
  std::string Help() const override { return HelpWithFlags(kMembersHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    RE2 status_re(status_filter_, RE2::Quiet);
    if (!status_re.ok()) {
      *env.err << "Failed to compile status regexp: " << status_re.error() << "\n";
      return 1;
    }
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    QueryParams params;
    if (wan_) params.emplace_back("wan", "1");
    absl::StatusOr<HttpResponse> response = client->DoOk("GET", "/v1/agent/members", params);
    if (!response.ok()) {
      *env.err << "Error retrieving members: " << response.status().message() << "\n";
      return 1;
    }
    std::optional<Json> json = ParseJson(response->body);
    if (!json || !json->is_array()) {
      *env.err << "Error retrieving members: the agent's answer is not a JSON list\n";
      return 1;
    }
    std::vector<Member> members;
    for (const Json& item : *json) {
      Member m{StringField(item, "Name"), StringField(item, "Addr"), UintField(item, "Port"), {},
               UintField(item, "Status")};
      if (item.is_object() && item.contains("Tags") && item["Tags"].is_object()) {
        for (const auto& [key, value] : item["Tags"].items()) {
          if (value.is_string()) m.tags[key] = value.get<std::string>();
        }
      }
      // As Consul fills in what single-partition, single-segment clusters leave out.
      if (Tag(m, "ap").empty()) m.tags["ap"] = "default";
      if (Tag(m, "role") == "consul") {
        m.tags["segment"] = "<all>";
      } else if (Tag(m, "segment").empty()) {
        m.tags["segment"] = "<default>";
      }
      if (!RE2::PartialMatch(StatusName(m.status), status_re)) continue;
      members.push_back(std::move(m));
    }
    if (members.empty()) return 2;
    std::sort(members.begin(), members.end(), MemberLess);
    *env.out << Columnize(detailed_ ? DetailedRows(members) : StandardRows(members)) << "\n";
    return 0;
  }

 private:
  static std::vector<std::vector<std::string>> StandardRows(const std::vector<Member>& members) {
    std::vector<std::vector<std::string>> rows = {
        {"Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Partition", "Segment"}};
    for (const Member& m : members) {
      std::string build = Tag(m, "build");
      if (build.empty()) {
        build = "< 0.3";
      } else if (size_t colon = build.find(':'); colon != std::string::npos) {
        build = build.substr(0, colon);
      }
      const std::string role = Tag(m, "role");
      const std::string type = role == "consul" ? "server" : role == "node" ? "client" : "unknown";
      if (type == "unknown") {
        rows.push_back({m.name, TcpAddress(m.addr, m.port), StatusName(m.status), type, "", "", "", "", ""});
      } else {
        rows.push_back({m.name, TcpAddress(m.addr, m.port), StatusName(m.status), type, build, Tag(m, "vsn"),
                        Tag(m, "dc"), Tag(m, "ap"), Tag(m, "segment")});
      }
    }
    return rows;
  }

  static std::vector<std::vector<std::string>> DetailedRows(const std::vector<Member>& members) {
    std::vector<std::vector<std::string>> rows = {{"Node", "Address", "Status", "Tags"}};
    for (const Member& m : members) {
      std::vector<std::string> pairs;
      for (const auto& [key, value] : m.tags) pairs.push_back(absl::StrCat(key, "=", value));
      rows.push_back({m.name, TcpAddress(m.addr, m.port), StatusName(m.status), absl::StrJoin(pairs, ",")});
    }
    return rows;
  }

  FlagSet flags_;
  HttpFlags http_;
  bool detailed_ = false;
  bool wan_ = false;
  std::string status_filter_ = ".*";
};

}  // namespace

std::unique_ptr<Command> NewMembersCommand() { return std::make_unique<MembersCommand>(); }

}  // namespace muster::cli
