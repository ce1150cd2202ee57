// `muster operator autopilot get-config`: the autopilot configuration (GET
// /v1/operator/autopilot/configuration) in Consul's "Name = value" lines, durations in Go's
// form and tags quoted.
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/columns.h"
#include "cmd/cli/command.h"
#include "core/base/go_duration.h"
#include "cmd/cli/json_fields.h"

namespace muster::cli {

namespace {

constexpr std::string_view kAutopilotGetHelp = R"(Usage: muster operator autopilot get-config [options]

  Displays the current Autopilot configuration.
)";

class AutopilotGetCommand : public Command {
 public:
  AutopilotGetCommand() {
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Display the current Autopilot configuration"; }
  std::string Help() const override { return HelpWithFlags(kAutopilotGetHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error initializing client: " << client.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<HttpResponse> response = client->DoOk("GET", "/v1/operator/autopilot/configuration", {});
    if (!response.ok()) {
      *env.err << "Error querying Autopilot configuration: " << response.status().message() << "\n";
      return 1;
    }
    std::optional<Json> json = ParseJson(response->body);
    absl::StatusOr<absl::Duration> last_contact = absl::InvalidArgumentError("the answer is not a JSON object");
    absl::StatusOr<absl::Duration> stabilization = last_contact;
    if (json && json->is_object()) {
      last_contact = JsonDurationField(*json, "LastContactThreshold");
      stabilization = JsonDurationField(*json, "ServerStabilizationTime");
    }
    for (const absl::StatusOr<absl::Duration>* d : {&last_contact, &stabilization}) {
      if (!d->ok()) {
        *env.err << "Error querying Autopilot configuration: " << d->status().message() << "\n";
        return 1;
      }
    }
    *env.out << "CleanupDeadServers = " << (BoolField(*json, "CleanupDeadServers") ? "true" : "false") << "\n"
             << "LastContactThreshold = " << FormatGoDuration(*last_contact) << "\n"
             << "MaxTrailingLogs = " << UintField(*json, "MaxTrailingLogs") << "\n"
             << "MinQuorum = " << UintField(*json, "MinQuorum") << "\n"
             << "ServerStabilizationTime = " << FormatGoDuration(*stabilization) << "\n"
             << "RedundancyZoneTag = " << GoQuote(StringField(*json, "RedundancyZoneTag")) << "\n"
             << "DisableUpgradeMigration = " << (BoolField(*json, "DisableUpgradeMigration") ? "true" : "false") << "\n"
             << "UpgradeVersionTag = " << GoQuote(StringField(*json, "UpgradeVersionTag")) << "\n";
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewAutopilotGetCommand() { return std::make_unique<AutopilotGetCommand>(); }

}  // namespace muster::cli
