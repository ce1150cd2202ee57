// `muster operator autopilot set-config -cleanup-dead-servers=... -last-contact-threshold=...
// -max-trailing-logs=... -min-quorum=... -server-stabilization-time=...`, as Consul's: reads
// the current configuration, changes only the fields whose flags were given, and writes it
// back as a check-and-set on the ModifyIndex it read (PUT
// /v1/operator/autopilot/configuration?cas=N), so a concurrent change is not overwritten:
// then "Configuration could not be atomically updated, please try again", exit 1.
//
// The object written is the one read, with the given fields replaced: fields the agent sent
// and we do not know go back unchanged, and nothing it did not send is added.
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"
#include "core/base/go_duration.h"
#include "cmd/cli/json_fields.h"

namespace muster::cli {

namespace {

constexpr std::string_view kAutopilotSetHelp = R"(Usage: muster operator autopilot set-config [options]

  Modifies the current Autopilot configuration.
)";

class AutopilotSetCommand : public Command {
 public:
  AutopilotSetCommand() {
    flags_.AddBool("cleanup-dead-servers", &cleanup_dead_servers_,
                   "Controls whether muster will automatically remove dead servers when new ones are successfully "
                   "added. Must be one of `true|false`.");
    flags_.AddUint64("max-trailing-logs", &max_trailing_logs_,
                     "Controls the maximum number of log entries that a server can trail the leader by before being "
                     "considered unhealthy.");
    flags_.AddUint64("min-quorum", &min_quorum_,
                     "Sets the minimum number of servers required in a cluster before autopilot is allowed to prune "
                     "dead servers.");
    flags_.AddDuration("last-contact-threshold", &last_contact_threshold_,
                       "Controls the maximum amount of time a server can go without contact from the leader before "
                       "being considered unhealthy. Must be a duration value such as `200ms`.");
    flags_.AddDuration("server-stabilization-time", &server_stabilization_time_,
                       "Controls the minimum amount of time a server must be stable in the 'healthy' state before "
                       "being added to the cluster. Must be a duration value such as `10s`.");
    flags_.AddString("redundancy-zone-tag", &redundancy_zone_tag_,
                     "Controls the node_meta tag name used for separating servers into different redundancy zones.");
    flags_.AddBool("disable-upgrade-migration", &disable_upgrade_migration_,
                   "Controls whether muster will avoid promoting new servers until it can perform a migration.");
    flags_.AddString("upgrade-version-tag", &upgrade_version_tag_,
                     "The node_meta tag to use for version info when performing upgrade migrations.");
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Modify the current Autopilot configuration"; }
  std::string Help() const override { return HelpWithFlags(kAutopilotSetHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error initializing client: " << client.status().message() << "\n";
      return 1;
    }
    const std::string path = "/v1/operator/autopilot/configuration";
    absl::StatusOr<HttpResponse> current = client->DoOk("GET", path, {});
    if (!current.ok()) {
      *env.err << "Error querying Autopilot configuration: " << current.status().message() << "\n";
      return 1;
    }
    std::optional<Json> config = ParseJson(current->body);
    if (!config || !config->is_object()) {
      *env.err << "Error querying Autopilot configuration: the agent's answer is not a JSON object\n";
      return 1;
    }
    // Go's client re-encodes the durations it read in its own form ("0.2s" -> "200ms").
    for (const char* key : {"LastContactThreshold", "ServerStabilizationTime"}) {
      if (!config->contains(key)) continue;
      absl::StatusOr<absl::Duration> d = JsonDurationField(*config, key);
      if (!d.ok()) {
        *env.err << "Error querying Autopilot configuration: " << d.status().message() << "\n";
        return 1;
      }
      (*config)[key] = FormatGoDuration(*d);
    }
    if (flags_.WasSet("cleanup-dead-servers")) (*config)["CleanupDeadServers"] = cleanup_dead_servers_;
    if (flags_.WasSet("max-trailing-logs")) (*config)["MaxTrailingLogs"] = max_trailing_logs_;
    if (flags_.WasSet("min-quorum")) (*config)["MinQuorum"] = min_quorum_;
    if (flags_.WasSet("last-contact-threshold")) {
      (*config)["LastContactThreshold"] = FormatGoDuration(last_contact_threshold_);
    }
    if (flags_.WasSet("server-stabilization-time")) {
      (*config)["ServerStabilizationTime"] = FormatGoDuration(server_stabilization_time_);
    }
    if (flags_.WasSet("redundancy-zone-tag")) (*config)["RedundancyZoneTag"] = redundancy_zone_tag_;
    if (flags_.WasSet("disable-upgrade-migration")) (*config)["DisableUpgradeMigration"] = disable_upgrade_migration_;
    if (flags_.WasSet("upgrade-version-tag")) (*config)["UpgradeVersionTag"] = upgrade_version_tag_;

    QueryParams params;
    if (config->contains("ModifyIndex")) params.emplace_back("cas", absl::StrCat(UintField(*config, "ModifyIndex")));
    absl::StatusOr<HttpResponse> written = client->DoOk("PUT", path, params, config->dump());
    if (!written.ok()) {
      *env.err << "Error setting Autopilot configuration: " << written.status().message() << "\n";
      return 1;
    }
    if (IsJsonTrue(written->body)) {
      *env.out << "Configuration updated!\n";
      return 0;
    }
    *env.out << "Configuration could not be atomically updated, please try again\n";
    return 1;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
  bool cleanup_dead_servers_ = false;
  uint64_t max_trailing_logs_ = 0;
  uint64_t min_quorum_ = 0;
  absl::Duration last_contact_threshold_;
  absl::Duration server_stabilization_time_;
  std::string redundancy_zone_tag_;
  bool disable_upgrade_migration_ = false;
  std::string upgrade_version_tag_;
};

}  // namespace

std::unique_ptr<Command> NewAutopilotSetCommand() { return std::make_unique<AutopilotSetCommand>(); }

}  // namespace muster::cli
