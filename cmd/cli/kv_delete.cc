// `muster kv delete [-recurse] [-cas -modify-index=N] key`, as Consul's: DELETE /v1/kv/<key>
// (with ?recurse for a prefix, ?cas=N for a check-and-set, which fails with exit 1 when the
// agent answers false). Deleting a key that does not exist succeeds.
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"
#include "cmd/cli/json_fields.h"

namespace muster::cli {
namespace {

constexpr std::string_view kKvDeleteHelp = R"(Usage: muster kv delete [options] KEY_OR_PREFIX

  Removes the value from the key-value store at the given path. If no key
  exists at the path, no action is taken.

      $ muster kv delete foo
      $ muster kv delete -recurse foo
)";

class KvDeleteCommand : public Command {
 public:
  KvDeleteCommand() {
    flags_.AddBool("cas", &cas_,
                   "Perform a Check-And-Set operation. Specifying this value also requires the -modify-index flag "
                   "to be set. The default value is false.");
    flags_.AddUint64("modify-index", &modify_index_,
                     "Unsigned integer representing the ModifyIndex of the key. This is used in combination with "
                     "the -cas flag.");
    flags_.AddBool("recurse", &recurse_, "Recursively delete all keys with the path. The default value is false.");
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Removes data from the KV store"; }
  std::string Help() const override { return HelpWithFlags(kKvDeleteHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    if (flags_.args().size() > 1) {
      *env.err << "Too many arguments (expected 1, got " << flags_.args().size() << ")\n";
      return 1;
    }
    std::string key = flags_.args().empty() ? "" : flags_.args()[0];
    if (!key.empty() && key[0] == '/') key.erase(0, 1);
    if (key.empty() && !recurse_) {
      *env.err << "Error! Missing KEY argument\n";
      return 1;
    }
    if (cas_ && modify_index_ == 0) {
      *env.err << "Cannot delete a key that does not exist. Provide a -modify-index greater than than 0.\n";
      return 1;
    }
    if (modify_index_ != 0 && !cas_) {
      *env.err << "Cannot specify -modify-index without -cas!\n";
      return 1;
    }
    if (recurse_ && cas_) {
      *env.err << "Cannot specify both -cas and -recurse!\n";
      return 1;
    }
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    const std::string path = absl::StrCat("/v1/kv/", key);
    if (recurse_) {
      absl::StatusOr<HttpResponse> response = client->DoOk("DELETE", path, {{"recurse", ""}});
      if (!response.ok()) {
        *env.err << "Error! Did not delete prefix " << key << ": " << response.status().message() << "\n";
        return 1;
      }
      *env.out << "Success! Deleted keys with prefix: " << key << "\n";
      return 0;
    }
    if (cas_) {
      absl::StatusOr<HttpResponse> response = client->DoOk("DELETE", path, {{"cas", absl::StrCat(modify_index_)}});
      if (!response.ok()) {
        *env.err << "Error! Did not delete key " << key << ": " << response.status().message() << "\n";
        return 1;
      }
      if (!IsJsonTrue(response->body)) {
        *env.err << "Error! Did not delete key " << key << ": CAS failed\n";
        return 1;
      }
      *env.out << "Success! Deleted key: " << key << "\n";
      return 0;
    }
    absl::StatusOr<HttpResponse> response = client->DoOk("DELETE", path, {});
    if (!response.ok()) {
      *env.err << "Error deleting key " << key << ": " << response.status().message() << "\n";
      return 1;
    }
    *env.out << "Success! Deleted key: " << key << "\n";
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
  bool cas_ = false;
  uint64_t modify_index_ = 0;
  bool recurse_ = false;
};

}  // namespace

std::unique_ptr<Command> NewKvDeleteCommand() { return std::make_unique<KvDeleteCommand>(); }

}  // namespace muster::cli
