// `muster catalog datacenters`, as Consul's: every known datacenter, one a line (GET
// /v1/catalog/datacenters, ours first and the WAN pool's by distance).
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"
#include "cmd/cli/json_fields.h"

namespace muster::cli {
namespace {

constexpr std::string_view kCatalogDatacentersHelp = R"(Usage: muster catalog datacenters [options]

  Retrieves the list of all known datacenters. This datacenters are sorted in
  ascending order based on the estimated median round trip time from the servers
  in this datacenter to the servers in the other datacenters.

  To retrieve the list of datacenters:

      $ muster catalog datacenters

  For a full list of options and examples, please see the muster documentation.
)";

class CatalogDatacentersCommand : public Command {
 public:
  CatalogDatacentersCommand() {
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Lists all known datacenters"; }
  std::string Help() const override { return HelpWithFlags(kCatalogDatacentersHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    if (!flags_.args().empty()) {
      *env.err << "Too many arguments (expected 0, got " << flags_.args().size() << ")\n";
      return 1;
    }
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<HttpResponse> response = client->DoOk("GET", "/v1/catalog/datacenters", {});
    std::optional<Json> json;
    if (response.ok()) json = ParseJson(response->body);
    if (!response.ok() || !json || !json->is_array()) {
      // Consul prints this and still exits 0 (a slip in its command); a failed listing is a
      // failure here, exit 1.
      *env.err << "Error listing datacenters: "
               << (response.ok() ? "the agent's answer is not a JSON list" : response.status().message()) << "\n";
      return 1;
    }
    for (const Json& dc : *json) {
      if (dc.is_string()) *env.out << dc.get<std::string>() << "\n";
    }
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewCatalogDatacentersCommand() { return std::make_unique<CatalogDatacentersCommand>(); }

}  // namespace muster::cli
