// `muster info`: the local agent's debugging figures (GET /v1/agent/self's Stats), as Consul's:
// each section ("agent:", "raft:", "storage:") in name order, then its "\tkey = value" lines
// in name order.
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"
#include "cmd/cli/json_fields.h"

namespace muster::cli {
namespace {

constexpr std::string_view kInfoHelp = R"(Usage: muster info [options]

  Provides debugging information for operators
)";

class InfoCommand : public Command {
 public:
  InfoCommand() { http_.AddClientFlags(flags_); }
  std::string_view Synopsis() const override { return "Provides debugging information for operators."; }
  std::string Help() const override { return HelpWithFlags(kInfoHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<HttpResponse> response = client->DoOk("GET", "/v1/agent/self", {});
    if (!response.ok()) {
      *env.err << "Error querying agent: " << response.status().message() << "\n";
      return 1;
    }
    std::optional<Json> self = ParseJson(response->body);
    if (!self || !self->is_object()) {
      *env.err << "Error querying agent: the agent's answer is not a JSON object\n";
      return 1;
    }
    auto stats = self->find("Stats");
    if (stats == self->end() || !stats->is_object()) {
      *env.err << "Agent response did not contain 'Stats' key: " << response->body << "\n";
      return 1;
    }
    // nlohmann's objects iterate in key order, as Consul sorts its keys.
    for (const auto& [section, values] : stats->items()) {
      *env.out << section << ":\n";
      if (!values.is_object()) {
        *env.err << "Got invalid subkey in stats: " << values.dump() << "\n";
        return 1;
      }
      for (const auto& [key, value] : values.items()) {
        // The agent's figures are strings; anything else prints as its JSON text.
        *env.out << "\t" << key << " = " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
      }
    }
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewInfoCommand() { return std::make_unique<InfoCommand>(); }

}  // namespace muster::cli
