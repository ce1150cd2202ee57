// `muster services deregister [-id=ID] [FILE.json...]`, as Consul's: each service (the -id, or
// each definition's ID, else its Name) goes to PUT /v1/agent/service/deregister/ID;
// "Deregistered service: ID" each. The first failure stops it, exit 1.
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/columns.h"
#include "cmd/cli/command.h"
#include "cmd/cli/service_definitions.h"

namespace muster::cli {
namespace {

constexpr std::string_view kServicesDeregisterHelp = R"(Usage: muster services deregister [options] [FILE...]

  Deregister one or more services that were previously registered with
  the local agent.

      $ muster services deregister web.json db.json

  The -id flag may be used to deregister a single service by ID:

      $ muster services deregister -id=web

  Services are deregistered from the local agent catalog. This command must
  be run against the same agent where the service was registered.
)";

class ServicesDeregisterCommand : public Command {
 public:
  ServicesDeregisterCommand() {
    flags_.AddString("id", &id_, "ID to delete. This must not be set if arguments are given.");
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Deregister services with the local agent"; }
  std::string Help() const override { return HelpWithFlags(kServicesDeregisterHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    const std::vector<std::string>& files = flags_.args();
    if (files.empty() && id_.empty()) {
      *env.err << "Service deregistration requires at least one argument or -id.\n";
      return 1;
    }
    if (!files.empty() && !id_.empty()) {
      *env.err << "Service deregistration requires arguments or -id, not both.\n";
      return 1;
    }
    std::vector<std::string> ids;
    if (files.empty()) {
      ids.push_back(id_);
    } else {
      absl::StatusOr<std::vector<OrderedJson>> services = ReadServiceDefinitions(files, env);
      if (!services.ok()) {
        *env.err << "Error: " << services.status().message() << "\n";
        return 1;
      }
      for (const OrderedJson& service : *services) {
        std::string id = FindString(service, "ID");
        if (id.empty()) id = FindString(service, "Name");
        if (!id.empty()) ids.push_back(id);  // neither: nothing to name, skipped as Consul does
      }
    }
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    for (const std::string& id : ids) {
      absl::StatusOr<HttpResponse> response =
          client->DoOk("PUT", absl::StrCat("/v1/agent/service/deregister/", id), {});
      if (!response.ok()) {
        *env.err << "Error deregistering service " << GoQuote(id) << ": " << response.status().message() << "\n";
        return 1;
      }
      *env.out << "Deregistered service: " << id << "\n";
    }
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
  std::string id_;
};

}  // namespace

std::unique_ptr<Command> NewServicesDeregisterCommand() { return std::make_unique<ServicesDeregisterCommand>(); }

}  // namespace muster::cli
