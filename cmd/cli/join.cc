// `muster join [-wan] address...`: asks the local agent to join each address (PUT
// /v1/agent/join/<address>); as Consul's, it counts the joins that worked and fails only when
// none did, with one error line per address that failed.
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"

namespace muster::cli {
namespace {

constexpr std::string_view kJoinHelp = R"(Usage: muster join [options] address ...

  Tells a running muster agent (with "muster agent") to join the cluster
  by specifying at least one existing member.
)";

class JoinCommand : public Command {
 public:
  JoinCommand() {
    flags_.AddBool("wan", &wan_, "Joins a server to another server in the WAN pool.");
    http_.AddClientFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Tell muster agent to join cluster"; }
  std::string Help() const override { return HelpWithFlags(kJoinHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    if (flags_.args().empty()) {
      *env.err << "At least one address to join must be specified.\n\n" << Help() << "\n";
      return 1;
    }
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    int joins = 0;
    for (const std::string& address : flags_.args()) {
      QueryParams params;
      if (wan_) params.emplace_back("wan", "1");
      absl::StatusOr<HttpResponse> response = client->DoOk("PUT", absl::StrCat("/v1/agent/join/", address), params);
      if (!response.ok()) {
        *env.err << "Error joining address '" << address << "': " << response.status().message() << "\n";
      } else {
        ++joins;
      }
    }
    if (joins == 0) {
      *env.err << "Failed to join any nodes.\n";
      return 1;
    }
    *env.out << "Successfully joined cluster by contacting " << joins << " nodes.\n";
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
  bool wan_ = false;
};

}  // namespace

std::unique_ptr<Command> NewJoinCommand() { return std::make_unique<JoinCommand>(); }

}  // namespace muster::cli
