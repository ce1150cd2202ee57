// `muster leave`: the local agent leaves the cluster gracefully and shuts down (PUT
// /v1/agent/leave, answered once the goodbye has spread).
#include "absl/strings/str_join.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"

namespace muster::cli {
namespace {

constexpr std::string_view kLeaveHelp = R"(Usage: muster leave [options]

  Causes the agent to gracefully leave the muster cluster and shutdown.
)";

class LeaveCommand : public Command {
 public:
  LeaveCommand() { http_.AddClientFlags(flags_); }
  std::string_view Synopsis() const override { return "Gracefully leaves the muster cluster and shuts down"; }
  std::string Help() const override { return HelpWithFlags(kLeaveHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    if (!flags_.args().empty()) {
      // Go's %v of a []string: [a b].
      *env.err << "Error found unexpected args: [" << absl::StrJoin(flags_.args(), " ") << "]\n";
      *env.out << Help() << "\n";
      return 1;
    }
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<HttpResponse> response = client->DoOk("PUT", "/v1/agent/leave", {});
    if (!response.ok()) {
      *env.err << "Error leaving: " << response.status().message() << "\n";
      return 1;
    }
    *env.out << "Graceful leave complete\n";
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewLeaveCommand() { return std::make_unique<LeaveCommand>(); }

}  // namespace muster::cli
