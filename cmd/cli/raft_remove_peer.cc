// `muster operator raft remove-peer -id=ID | -address=ADDR`: removes a server from the raft
// configuration (DELETE /v1/operator/raft/peer?id= or ?address=), as Consul's: exactly one of
// the two is required.
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/columns.h"
#include "cmd/cli/command.h"

namespace muster::cli {
namespace {

constexpr std::string_view kRemovePeerHelp = R"(Usage: muster operator raft remove-peer [options]

  Remove the muster server with given -address (or -id) from the Raft
  configuration.

  There are rare cases where a peer may be left behind in the Raft quorum even
  though the server is no longer present and known to the cluster. This command
  can be used to remove the failed server so that it no longer affects the Raft
  quorum.
)";

class RaftRemovePeerCommand : public Command {
 public:
  RaftRemovePeerCommand() {
    flags_.AddString("address", &address_, "The address to remove from the Raft configuration.");
    flags_.AddString("id", &id_, "The ID to remove from the Raft configuration.");
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Remove a muster server from the Raft configuration"; }
  std::string Help() const override { return HelpWithFlags(kRemovePeerHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error initializing client: " << client.status().message() << "\n";
      return 1;
    }
    if (address_.empty() && id_.empty()) {
      *env.err << "Error removing peer: an address or id is required for the peer to remove\n";
      return 1;
    }
    if (!address_.empty() && !id_.empty()) {
      *env.err << "Error removing peer: cannot give both an address and id\n";
      return 1;
    }
    QueryParams params;
    if (!address_.empty()) {
      params.emplace_back("address", address_);
    } else {
      params.emplace_back("id", id_);
    }
    absl::StatusOr<HttpResponse> response = client->DoOk("DELETE", "/v1/operator/raft/peer", params);
    if (!response.ok()) {
      *env.err << "Error removing peer: " << response.status().message() << "\n";
      return 1;
    }
    if (!address_.empty()) {
      *env.out << "Removed peer with address " << GoQuote(address_) << "\n";
    } else {
      *env.out << "Removed peer with id " << GoQuote(id_) << "\n";
    }
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
  std::string address_;
  std::string id_;
};

}  // namespace

std::unique_ptr<Command> NewRaftRemovePeerCommand() { return std::make_unique<RaftRemovePeerCommand>(); }

}  // namespace muster::cli
