// `muster maint [-enable [-reason=R] | -disable] [-service=ID]`, as Consul's: node maintenance
// (PUT /v1/agent/maintenance?enable=..&reason=..) or one service's (PUT
// /v1/agent/service/maintenance/ID?...); with neither flag, the agent's maintenance checks
// from GET /v1/agent/checks as "Node:" and "Service:" blocks (in check ID order: Consul walks
// a Go map, so its order is random), nothing when none.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/columns.h"
#include "cmd/cli/command.h"
#include "cmd/cli/json_fields.h"
#include "core/base/strings.h"

namespace muster::cli {
namespace {

constexpr std::string_view kMaintHelp = R"(Usage: muster maint [options]

  Places a node or service into maintenance mode. During maintenance mode,
  the node or service will be excluded from all queries through the DNS
  or API interfaces, effectively taking it out of the pool of available
  nodes. This is done by registering an additional critical health check.

  When enabling maintenance mode for a node or service, you may optionally
  specify a reason string. This string will appear in the "Notes" field
  of the critical health check which is registered against the node or
  service. If no reason is provided, a default value will be used.

  Maintenance mode is persistent, and will be restored in the event of an
  agent restart. It is therefore required to disable maintenance mode on
  a given node or service before it will be placed back into the pool.

  By default, we operate on the node as a whole. By specifying the
  "-service" argument, this behavior can be changed to enable or disable
  only a specific service.

  If no arguments are given, the agent's maintenance status will be shown.
  This will return blank if nothing is currently under maintenance.
)";

class MaintCommand : public Command {
 public:
  MaintCommand() {
    http_.AddClientFlags(flags_);
    flags_.AddBool("enable", &enable_, "Enable maintenance mode.");
    flags_.AddBool("disable", &disable_, "Disable maintenance mode.");
    flags_.AddString("reason", &reason_, "Text describing the maintenance reason.");
    flags_.AddString("service", &service_id_, "Control maintenance mode for a specific service ID.");
  }
  std::string_view Synopsis() const override { return "Controls node or service maintenance mode"; }
  std::string Help() const override { return HelpWithFlags(kMaintHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    if (enable_ && disable_) return Fail(env, "Only one of -enable or -disable may be provided");
    if (!enable_ && !reason_.empty()) return Fail(env, "Reason may only be provided with -enable");
    if (!enable_ && !disable_ && !service_id_.empty()) return Fail(env, "Service requires either -enable or -disable");
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) return Fail(env, absl::StrCat("Error connecting to muster agent: ", client.status().message()));
    absl::StatusOr<std::string> node_name = AgentNodeName(*client);
    if (!node_name.ok()) return Fail(env, absl::StrCat("Error querying muster agent: ", node_name.status().message()));
    if (!enable_ && !disable_) return List(*client, *node_name, env);

    const std::string path =
        service_id_.empty() ? "/v1/agent/maintenance" : absl::StrCat("/v1/agent/service/maintenance/", service_id_);
    QueryParams params = {{"enable", enable_ ? "true" : "false"}};
    if (enable_) params.emplace_back("reason", reason_);  // the Go client sends it even when empty
    absl::StatusOr<HttpResponse> response = client->DoOk("PUT", path, params);
    const std::string verb = enable_ ? "enabling" : "disabling";
    const std::string state = enable_ ? "enabled" : "disabled";
    if (service_id_.empty()) {
      if (!response.ok())
        return Fail(env, absl::StrCat("Error ", verb, " node maintenance: ", response.status().message()));
      *env.out << "Node maintenance is now " << state << "\n";
    } else {
      if (!response.ok()) {
        return Fail(env, absl::StrCat("Error ", verb, " service maintenance: ", response.status().message()));
      }
      *env.out << "Service maintenance is now " << state << " for " << GoQuote(service_id_) << "\n";
    }
    return 0;
  }

 private:
  static int Fail(Environment& env, std::string_view line) {
    *env.err << line << "\n";
    return 1;
  }

  int List(ApiClient& client, const std::string& node_name, Environment& env) {
    absl::StatusOr<HttpResponse> response = client.DoOk("GET", "/v1/agent/checks", {});
    std::optional<Json> json;
    if (response.ok()) json = ParseJson(response->body);
    if (!response.ok() || !json || !(json->is_object() || json->is_null())) {
      return Fail(env, absl::StrCat("Error getting checks: ", response.ok() ? "the agent's answer is not a JSON object"
                                                                            : response.status().message()));
    }
    if (json->is_null()) return 0;
    for (const auto& [id, check] : json->items()) {
      const std::string check_id = StringField(check, "CheckID");
      if (check_id == "_node_maintenance") {
        *env.out << "Node:\n  Name:   " << node_name << "\n  Reason: " << StringField(check, "Notes") << "\n\n";
      } else if (absl::StartsWith(check_id, "_service_maintenance:")) {
        *env.out << "Service:\n  ID:     " << StringField(check, "ServiceID")
                 << "\n  Reason: " << StringField(check, "Notes") << "\n\n";
      }
    }
    return 0;
  }

  FlagSet flags_;
  HttpFlags http_;
  bool enable_ = false;
  bool disable_ = false;
  std::string reason_;
  std::string service_id_;
};

}  // namespace

std::unique_ptr<Command> NewMaintCommand() { return std::make_unique<MaintCommand>(); }

}  // namespace muster::cli
