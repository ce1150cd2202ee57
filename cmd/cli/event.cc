// `muster event -name=NAME [-node=RE] [-service=RE [-tag=RE]] [payload]`, as Consul's: fires a
// user event (PUT /v1/event/fire/NAME with the payload as the body) and prints "Event ID: <id>".
// The filters are regular expressions the receiving agents match; they are checked here first
// with RE2, the syntax Go's regexp shares.
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"
#include "cmd/cli/json_fields.h"
#include "re2/re2.h"

namespace muster::cli {
namespace {

constexpr std::string_view kEventHelp = R"(Usage: muster event [options] [payload]

  Dispatches a custom user event across a datacenter. An event must provide
  a name, but a payload is optional. Events support filtering using
  regular expressions on node name, service, and tag definitions.
)";

class EventCommand : public Command {
 public:
  EventCommand() {
    flags_.AddString("name", &name_, "Name of the event.");
    flags_.AddString("node", &node_, "Regular expression to filter on node names.");
    flags_.AddString("service", &service_, "Regular expression to filter on service instances.");
    flags_.AddString("tag", &tag_, "Regular expression to filter on service tags. Must be used with -service.");
    http_.AddClientFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Fire a new event"; }
  std::string Help() const override { return HelpWithFlags(kEventHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    if (name_.empty()) {
      *env.err << "Event name must be specified\n\n" << Help() << "\n";
      return 1;
    }
    for (const auto& [pattern, what] : {std::pair{&node_, "node"}, {&service_, "service"}, {&tag_, "tag"}}) {
      if (pattern->empty()) continue;
      RE2 re(*pattern, RE2::Quiet);
      if (!re.ok()) {
        *env.err << "Failed to compile " << what << " filter regexp: error parsing regexp: " << re.error() << "\n";
        return 1;
      }
    }
    if (!tag_.empty() && service_.empty()) {
      *env.err << "Cannot provide tag filter without service filter.\n";
      return 1;
    }
    if (flags_.args().size() > 1) {
      *env.err << "Too many command line arguments.\n\n" << Help() << "\n";
      return 1;
    }
    const std::string payload = flags_.args().empty() ? "" : flags_.args()[0];
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    if (absl::StatusOr<std::string> node = AgentNodeName(*client); !node.ok()) {
      *env.err << "Error querying muster agent: " << node.status().message() << "\n";
      return 1;
    }
    QueryParams params;
    if (!node_.empty()) params.emplace_back("node", node_);
    if (!service_.empty()) params.emplace_back("service", service_);
    if (!tag_.empty()) params.emplace_back("tag", tag_);
    absl::StatusOr<HttpResponse> response =
        client->DoOk("PUT", absl::StrCat("/v1/event/fire/", name_), params, payload);
    std::optional<Json> json;
    if (response.ok()) json = ParseJson(response->body);
    if (!response.ok() || !json || !json->is_object()) {
      *env.err << "Error firing event: "
               << (response.ok() ? "the agent's answer is not a JSON object" : response.status().message()) << "\n";
      return 1;
    }
    *env.out << "Event ID: " << StringField(*json, "ID") << "\n";
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
  std::string name_;
  std::string node_;
  std::string service_;
  std::string tag_;
};

}  // namespace

std::unique_ptr<Command> NewEventCommand() { return std::make_unique<EventCommand>(); }

}  // namespace muster::cli
