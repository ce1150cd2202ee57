// `muster kv get [-recurse] [-keys [-separator=/]] [-detailed] [-base64] [key]`, as Consul's:
// the raw value of one key (exit 1 with "Error! No key exists at: k" when absent), every
// "key:value" under a prefix with -recurse, the key names with -keys, and the metadata with
// -detailed.
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/columns.h"
#include "cmd/cli/command.h"
#include "cmd/cli/json_fields.h"
#include "cmd/cli/kv_pair.h"

namespace muster::cli {
namespace {

constexpr std::string_view kKvGetHelp = R"(Usage: muster kv get [options] [KEY_OR_PREFIX]

  Retrieves the value from the key-value store at the given key name. If no
  key exists with that name, an error is returned. If a key exists with that
  name but has no data, nothing is returned. If the name or prefix is omitted,
  it defaults to "" which is the root of the key-value store.

      $ muster kv get foo
      $ muster kv get -detailed foo
      $ muster kv get -recurse foo
      $ muster kv get -keys foo
)";

class KvGetCommand : public Command {
 public:
  KvGetCommand() {
    flags_.AddBool("base64", &base64_, "Base64 encode the value. The default value is false.");
    flags_.AddBool("detailed", &detailed_,
                   "Provide additional metadata about the key in addition to the value such as the ModifyIndex "
                   "and any flags that may have been set on the key. The default value is false.");
    flags_.AddBool("keys", &keys_,
                   "List keys which start with the given prefix, but not their values. This option is commonly "
                   "combined with the -separator option. The default value is false.");
    flags_.AddBool("recurse", &recurse_,
                   "Recursively look at all keys prefixed with the given path. The default value is false.");
    flags_.AddString("separator", &separator_,
                     "String to use as a separator between keys. The default value is \"/\", but this option is "
                     "only taken into account when paired with the -keys flag.");
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Retrieves or lists data from the KV store"; }
  std::string Help() const override { return HelpWithFlags(kKvGetHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    if (flags_.args().size() > 1) {
      *env.err << "Too many arguments (expected 1, got " << flags_.args().size() << ")\n";
      return 1;
    }
    std::string key = flags_.args().empty() ? "" : flags_.args()[0];
    // Keys never start with '/', but users write "/foo": take it off for them, as Consul does.
    if (!key.empty() && key[0] == '/') key.erase(0, 1);
    if (key.empty() && !(recurse_ || keys_)) {
      *env.err << "Error! Missing KEY argument\n";
      return 1;
    }
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    const std::string path = absl::StrCat("/v1/kv/", key);
    if (keys_) return ListKeys(*client, path, env);
    QueryParams params;
    if (recurse_) params.emplace_back("recurse", "");
    absl::StatusOr<HttpResponse> response = client->DoOk("GET", path, params, "", /*also_ok=*/404);
    if (!response.ok()) {
      *env.err << "Error querying muster agent: " << response.status().message() << "\n";
      return 1;
    }
    std::vector<KvPair> pairs;
    if (response->status == 200) {
      absl::StatusOr<std::vector<KvPair>> parsed = ParseKvPairs(response->body);
      if (!parsed.ok()) {
        *env.err << "Error querying muster agent: " << parsed.status().message() << "\n";
        return 1;
      }
      pairs = std::move(*parsed);
    }
    if (recurse_) {
      for (size_t i = 0; i < pairs.size(); ++i) {
        if (detailed_) {
          *env.out << Detailed(pairs[i]) << "\n";
          if (i + 1 < pairs.size()) *env.out << "\n";
        } else {
          *env.out << pairs[i].key << ":" << Value(pairs[i]) << "\n";
        }
      }
      return 0;
    }
    if (pairs.empty()) {
      *env.err << "Error! No key exists at: " << key << "\n";
      return 1;
    }
    *env.out << (detailed_ ? Detailed(pairs[0]) : Value(pairs[0])) << "\n";
    return 0;
  }

 private:
  int ListKeys(ApiClient& client, const std::string& path, Environment& env) {
    QueryParams params = {{"keys", ""}};
    if (!separator_.empty()) params.emplace_back("separator", separator_);
    absl::StatusOr<HttpResponse> response = client.DoOk("GET", path, params, "", /*also_ok=*/404);
    if (!response.ok()) {
      *env.err << "Error querying muster agent: " << response.status().message() << "\n";
      return 1;
    }
    if (response->status == 404) return 0;
    std::optional<Json> json = ParseJson(response->body);
    if (!json || !json->is_array()) {
      *env.err << "Error querying muster agent: the agent's answer is not a JSON list of keys\n";
      return 1;
    }
    for (const Json& k : *json) {
      if (k.is_string()) *env.out << k.get<std::string>() << "\n";
    }
    return 0;
  }

  std::string Value(const KvPair& pair) const { return base64_ ? absl::Base64Escape(pair.value) : pair.value; }

  std::string Detailed(const KvPair& pair) const {
    return TabAlign({{"CreateIndex", absl::StrCat(pair.create_index)},
                     {"Flags", absl::StrCat(pair.flags)},
                     {"Key", pair.key},
                     {"LockIndex", absl::StrCat(pair.lock_index)},
                     {"ModifyIndex", absl::StrCat(pair.modify_index)},
                     {"Session", pair.session.empty() ? "-" : pair.session},
                     {"Value", Value(pair)}});
  }

  FlagSet flags_;
  HttpFlags http_;
  bool base64_ = false;
  bool detailed_ = false;
  bool keys_ = false;
  bool recurse_ = false;
  std::string separator_ = "/";
};

}  // namespace

std::unique_ptr<Command> NewKvGetCommand() { return std::make_unique<KvGetCommand>(); }

}  // namespace muster::cli
