// `muster catalog services [-node=N] [-node-meta=k=v]... [-tags]`, as Consul's: the service
// names, sorted, one a line (GET /v1/catalog/services, or /v1/catalog/node/N for one node's);
// with -tags each name beside its sorted tags, laid out as Go's tabwriter (padding 6). None
// matching is a note on stderr, exit 0.
#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/columns.h"
#include "cmd/cli/command.h"
#include "cmd/cli/json_fields.h"

namespace muster::cli {
namespace {

constexpr std::string_view kCatalogServicesHelp = R"(Usage: muster catalog services [options]

  Retrieves the list services registered in a given datacenter. By default, the
  datacenter of the local agent is queried.

  To retrieve the list of services:

      $ muster catalog services

  To include the services' tags in the output:

      $ muster catalog services -tags

  To list services which run on a particular node:

      $ muster catalog services -node=web

  To filter services on node metadata:

      $ muster catalog services -node-meta="foo=bar"

  For a full list of options and examples, please see the muster documentation.
)";

void AppendTags(const Json& tags, std::vector<std::string>& into) {
  if (!tags.is_array()) return;
  for (const Json& tag : tags) {
    if (tag.is_string()) into.push_back(tag.get<std::string>());
  }
}

class CatalogServicesCommand : public Command {
 public:
  CatalogServicesCommand() {
    flags_.AddString("node", &node_, "Node `id or name` for which to list services.");
    flags_.AddStringList("node-meta", &node_meta_,
                         "Metadata to filter nodes with the given `key=value` pairs. If specified, only services "
                         "running on nodes matching the given metadata will be returned. This flag may be specified "
                         "multiple times to filter on multiple sources of metadata.");
    flags_.AddBool("tags", &tags_, "Display each service's tags as a comma-separated list beside each service entry.");
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Lists all registered services in a datacenter"; }
  std::string Help() const override { return HelpWithFlags(kCatalogServicesHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    absl::StatusOr<std::map<std::string, std::string>> meta = KeyValueFlag("node-meta", node_meta_);
    if (!meta.ok()) return ReportFlagError(meta.status(), *this, env);
    if (!flags_.args().empty()) {
      *env.err << "Too many arguments (expected 0, got " << flags_.args().size() << ")\n";
      return 1;
    }
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    QueryParams params;
    for (const auto& [key, value] : *meta) params.emplace_back("node-meta", absl::StrCat(key, ":", value));
    const std::string path = node_.empty() ? "/v1/catalog/services" : absl::StrCat("/v1/catalog/node/", node_);
    const char* what = node_.empty() ? "Error listing services: " : "Error listing services for node: ";
    absl::StatusOr<HttpResponse> response = client->DoOk("GET", path, params);
    if (!response.ok()) {
      *env.err << what << response.status().message() << "\n";
      return 1;
    }
    std::optional<Json> json = ParseJson(response->body);
    if (!json || !(json->is_object() || json->is_null())) {
      *env.err << what << "the agent's answer is not a JSON object\n";
      return 1;
    }
    std::map<std::string, std::vector<std::string>> services;  // sorted by name
    if (node_.empty()) {
      for (const auto& [name, tags] : json->items()) AppendTags(tags, services[name]);
    } else if (json->is_object() && json->contains("Services") && (*json)["Services"].is_object()) {
      // One node's instances, by ID: their tags gather under the service's name.
      for (const auto& [id, instance] : (*json)["Services"].items()) {
        const std::string name = StringField(instance, "Service");
        std::vector<std::string>& tags = services[name];
        if (instance.is_object() && instance.contains("Tags")) AppendTags(instance["Tags"], tags);
      }
    }
    if (services.empty()) {
      *env.err << "No services match the given query - try expanding your search.\n";
      return 0;
    }
    if (!tags_) {
      for (const auto& [name, tags] : services) *env.out << name << "\n";
      return 0;
    }
    std::vector<std::pair<std::string, std::string>> rows;
    for (auto& [name, tags] : services) {
      std::sort(tags.begin(), tags.end());
      rows.emplace_back(name, absl::StrJoin(tags, ","));
    }
    // Consul trims the tabwriter's output as a whole: inner rows keep their padding.
    *env.out << absl::StripTrailingAsciiWhitespace(TabAlign(rows)) << "\n";
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
  std::string node_;
  std::vector<std::string> node_meta_;
  bool tags_ = false;
};

}  // namespace

std::unique_ptr<Command> NewCatalogServicesCommand() { return std::make_unique<CatalogServicesCommand>(); }

}  // namespace muster::cli
