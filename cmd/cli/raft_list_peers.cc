// `muster operator raft list-peers`: the raft configuration (GET
// /v1/operator/raft/configuration) in Consul's columns Node ID Address State Voter
// RaftProtocol: the node name, the server's node ID (its raft ID), its RPC address, leader or
// follower, whether it votes, and the raft protocol the server reports ("<=1" when it reports
// none, as Consul prints it).
#include "cmd/cli/api_client.h"
#include "cmd/cli/columns.h"
#include "cmd/cli/command.h"
#include "cmd/cli/json_fields.h"

namespace muster::cli {
namespace {

constexpr std::string_view kListPeersHelp = R"(Usage: muster operator raft list-peers [options]

  Displays the current Raft peer configuration.
)";

class RaftListPeersCommand : public Command {
 public:
  RaftListPeersCommand() {
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Display the current Raft peer configuration"; }
  std::string Help() const override { return HelpWithFlags(kListPeersHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error initializing client: " << client.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<HttpResponse> response = client->DoOk("GET", "/v1/operator/raft/configuration", {});
    if (!response.ok()) {
      *env.err << "Error getting peers: Failed to retrieve raft configuration: " << response.status().message() << "\n";
      return 1;
    }
    std::optional<Json> json = ParseJson(response->body);
    if (!json || !json->is_object() || !json->contains("Servers") || !(*json)["Servers"].is_array()) {
      *env.err << "Error getting peers: Failed to retrieve raft configuration: the agent's answer has no Servers list\n";
      return 1;
    }
    std::vector<std::vector<std::string>> rows = {{"Node", "ID", "Address", "State", "Voter", "RaftProtocol"}};
    for (const Json& server : (*json)["Servers"]) {
      std::string protocol = StringField(server, "ProtocolVersion");
      if (protocol.empty()) protocol = "<=1";
      rows.push_back({StringField(server, "Node"), StringField(server, "ID"), StringField(server, "Address"),
                      BoolField(server, "Leader") ? "leader" : "follower",
                      BoolField(server, "Voter") ? "true" : "false", protocol});
    }
    *env.out << Columnize(rows) << "\n";
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewRaftListPeersCommand() { return std::make_unique<RaftListPeersCommand>(); }

}  // namespace muster::cli
