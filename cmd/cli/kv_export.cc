// `muster kv export [PREFIX]`, as Consul's: every entry under the prefix (GET
// /v1/kv/<prefix>?recurse) as the JSON array `kv import` reads back, [{"key", "flags",
// "value" (base64)}], laid out as Go's json.MarshalIndent(entries, "", "\t") lays it out
// ("[]" when there is none), so a Consul export and a muster export of the same data are the
// same bytes.
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"
#include "cmd/cli/go_json.h"
#include "cmd/cli/kv_pair.h"

namespace muster::cli {
namespace {

constexpr std::string_view kKvExportHelp = R"(Usage: muster kv export [options] [PREFIX]

  Retrieves key-value pairs for the given prefix from muster's key-value store,
  and writes a JSON representation to stdout. This can be used with the command
  "muster kv import" to move entire trees between muster clusters.

      $ muster kv export vault

  For a full list of options and examples, please see the muster documentation.
)";

class KvExportCommand : public Command {
 public:
  KvExportCommand() {
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Exports part of the KV tree in JSON format"; }
  std::string Help() const override { return HelpWithFlags(kKvExportHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    if (flags_.args().size() > 1) {
      *env.err << "Too many arguments (expected 1, got " << flags_.args().size() << ")\n";
      return 1;
    }
    std::string prefix = flags_.args().empty() ? "" : flags_.args()[0];
    if (!prefix.empty() && prefix[0] == '/') prefix.erase(0, 1);  // as Consul, "/foo" means "foo"
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<HttpResponse> response =
        client->DoOk("GET", absl::StrCat("/v1/kv/", prefix), {{"recurse", ""}}, "", /*also_ok=*/404);
    if (!response.ok()) {
      *env.err << "Error querying muster agent: " << response.status().message() << "\n";
      return 1;
    }
    std::vector<KvPair> pairs;
    if (response->status == 200) {  // 404: nothing under the prefix, an empty export
      absl::StatusOr<std::vector<KvPair>> parsed = ParseKvPairs(response->body);
      if (!parsed.ok()) {
        *env.err << "Error querying muster agent: " << parsed.status().message() << "\n";
        return 1;
      }
      pairs = std::move(*parsed);
    }
    if (pairs.empty()) {
      *env.out << "[]\n";
      return 0;
    }
    std::string json = "[\n";
    for (size_t i = 0; i < pairs.size(); ++i) {
      absl::StrAppend(&json, "\t{\n\t\t\"key\": ", GoJsonString(pairs[i].key), ",\n\t\t\"flags\": ", pairs[i].flags,
                      ",\n\t\t\"value\": \"", absl::Base64Escape(pairs[i].value), "\"\n\t}",
                      i + 1 < pairs.size() ? ",\n" : "\n");
    }
    json += "]\n";
    *env.out << json;
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewKvExportCommand() { return std::make_unique<KvExportCommand>(); }

}  // namespace muster::cli
