// `muster force-leave [-prune] [-wan] NODE`, as Consul's: the member is moved to "left" (PUT
// /v1/agent/force-leave/NODE; ?prune also drops it from the member list at once). Prints
// nothing on success.
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"

namespace muster::cli {
namespace {

constexpr std::string_view kForceLeaveHelp = R"(Usage: muster force-leave [options] name

  Forces a member of a muster cluster to enter the "left" state. Note
  that if the member is still actually alive, it will eventually rejoin
  the cluster. This command is most useful for cleaning out "failed" nodes
  that are never coming back. If you do not force leave a failed node,
  muster will attempt to reconnect to those failed nodes for some period of
  time before eventually reaping them.
)";

class ForceLeaveCommand : public Command {
 public:
  ForceLeaveCommand() {
    flags_.AddBool("prune", &prune_, "Remove agent forcibly from list of members");
    flags_.AddBool("wan", &wan_, "Exclusively leave the agent from the WAN serf pool.");
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Forces a member of the cluster to enter the \"left\" state"; }
  std::string Help() const override { return HelpWithFlags(kForceLeaveHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    if (flags_.args().size() != 1) {
      *env.err << "A single node name must be specified to force leave.\n\n" << Help() << "\n";
      return 1;
    }
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    QueryParams params;
    if (prune_) params.emplace_back("prune", "1");
    if (wan_) params.emplace_back("wan", "1");
    absl::StatusOr<HttpResponse> response =
        client->DoOk("PUT", absl::StrCat("/v1/agent/force-leave/", flags_.args()[0]), params);
    if (!response.ok()) {
      *env.err << "Error force leaving: " << response.status().message() << "\n";
      return 1;
    }
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
  bool prune_ = false;
  bool wan_ = false;
};

}  // namespace

std::unique_ptr<Command> NewForceLeaveCommand() { return std::make_unique<ForceLeaveCommand>(); }

}  // namespace muster::cli
