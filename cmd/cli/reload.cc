// `muster reload`, as Consul's: asks the agent to reload its configuration files (PUT
// /v1/agent/reload), as SIGHUP does.
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"

namespace muster::cli {
namespace {

constexpr std::string_view kReloadHelp = R"(Usage: muster reload

  Causes the agent to reload configurations. This can be used instead
  of sending the SIGHUP signal to the agent.
)";

class ReloadCommand : public Command {
 public:
  ReloadCommand() { http_.AddClientFlags(flags_); }
  std::string_view Synopsis() const override { return "Triggers the agent to reload configuration files"; }
  std::string Help() const override { return HelpWithFlags(kReloadHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<HttpResponse> response = client->DoOk("PUT", "/v1/agent/reload", {});
    if (!response.ok()) {
      *env.err << "Error reloading: " << response.status().message() << "\n";
      return 1;
    }
    *env.out << "Configuration reload triggered\n";
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewReloadCommand() { return std::make_unique<ReloadCommand>(); }

}  // namespace muster::cli
