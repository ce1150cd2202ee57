// `muster catalog nodes [-service=S] [-near=N] [-node-meta=k=v]... [-filter=F] [-detailed]`, as
// Consul's: the catalog's nodes (GET /v1/catalog/nodes, or /v1/catalog/service/S for the nodes
// providing S) in columns Node ID Address DC, the ID cut to its first group ("6b0bc5a1"), or
// with -detailed the whole ID and the TaggedAddresses and Meta columns as sorted "k=v, k=v".
// None matching is a note on stderr, exit 0.
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/columns.h"
#include "cmd/cli/command.h"
#include "cmd/cli/json_fields.h"

namespace muster::cli {
namespace {

constexpr std::string_view kCatalogNodesHelp = R"(Usage: muster catalog nodes [options]

  Retrieves the list nodes registered in a given datacenter. By default, the
  datacenter of the local agent is queried.

  To retrieve the list of nodes:

      $ muster catalog nodes

  To print detailed information including full node IDs, tagged addresses, and
  metadata information:

      $ muster catalog nodes -detailed

  To list nodes which are running a particular service:

      $ muster catalog nodes -service=web

  To filter by node metadata:

      $ muster catalog nodes -node-meta="foo=bar"

  To sort nodes by estimated round-trip time from node-web:

      $ muster catalog nodes -near=node-web

  For a full list of options and examples, please see the muster documentation.
)";

// Consul's mapToKV: "k=v" sorted by key, joined by ", ". A value that is not a string (a
// service's tagged address object) is written as its JSON.
std::string MapToKv(const Json& object) {
  if (!object.is_object()) return "";
  std::map<std::string, std::string> sorted;
  for (const auto& [key, value] : object.items()) {
    sorted[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  std::vector<std::string> pairs;
  for (const auto& [key, value] : sorted) pairs.push_back(absl::StrCat(key, "=", value));
  return absl::StrJoin(pairs, ", ");
}

class CatalogNodesCommand : public Command {
 public:
  CatalogNodesCommand() {
    flags_.AddBool("detailed", &detailed_,
                   "Output detailed information about the nodes including their addresses and metadata.");
    flags_.AddString("filter", &filter_, "Filter to use with the request");
    flags_.AddString("near", &near_,
                     "Node name to sort the node list in ascending order based on estimated round-trip time from "
                     "that node. Passing \"_agent\" will use this agent's node for sorting.");
    flags_.AddStringList("node-meta", &node_meta_,
                         "Metadata to filter nodes with the given `key=value` pairs. This flag may be specified "
                         "multiple times to filter on multiple sources of metadata.");
    flags_.AddString("service", &service_,
                     "Service `id or name` to filter nodes. Only nodes which are providing the given service will "
                     "be returned.");
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Lists all nodes in the given datacenter"; }
  std::string Help() const override { return HelpWithFlags(kCatalogNodesHelp, flags_); }

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
    if (!near_.empty()) params.emplace_back("near", near_);
    for (const auto& [key, value] : *meta) params.emplace_back("node-meta", absl::StrCat(key, ":", value));
    if (!filter_.empty()) params.emplace_back("filter", filter_);
    const std::string path = service_.empty() ? "/v1/catalog/nodes" : absl::StrCat("/v1/catalog/service/", service_);
    const char* what = service_.empty() ? "Error listing nodes: " : "Error listing nodes for service: ";
    absl::StatusOr<HttpResponse> response = client->DoOk("GET", path, params);
    if (!response.ok()) {
      *env.err << what << response.status().message() << "\n";
      return 1;
    }
    std::optional<Json> json = ParseJson(response->body);
    if (!json || !(json->is_array() || json->is_null())) {
      *env.err << what << "the agent's answer is not a JSON list\n";
      return 1;
    }
    if (json->is_null() || json->empty()) {
      *env.err << "No nodes match the given query - try expanding your search.\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    if (detailed_) {
      rows.push_back({"Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"});
    } else {
      rows.push_back({"Node", "ID", "Address", "DC"});
    }
    // A service entry names the node's metadata NodeMeta; a node entry, Meta.
    const char* meta_field = service_.empty() ? "Meta" : "NodeMeta";
    for (const Json& node : *json) {
      std::string id = StringField(node, "ID");
      if (!detailed_) {
        size_t dash = id.find('-');
        if (dash != std::string::npos && dash > 0) id = id.substr(0, dash);
        rows.push_back({StringField(node, "Node"), id, StringField(node, "Address"), StringField(node, "Datacenter")});
      } else {
        const Json empty = Json::object();
        const Json& tagged = node.is_object() && node.contains("TaggedAddresses") ? node["TaggedAddresses"] : empty;
        const Json& node_meta = node.is_object() && node.contains(meta_field) ? node[meta_field] : empty;
        rows.push_back({StringField(node, "Node"), id, StringField(node, "Address"), StringField(node, "Datacenter"),
                        MapToKv(tagged), MapToKv(node_meta)});
      }
    }
    *env.out << Columnize(rows) << "\n";
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
  bool detailed_ = false;
  std::string filter_;
  std::string near_;
  std::vector<std::string> node_meta_;
  std::string service_;
};

}  // namespace

std::unique_ptr<Command> NewCatalogNodesCommand() { return std::make_unique<CatalogNodesCommand>(); }

}  // namespace muster::cli
