// `muster kv put [-cas -modify-index=N] [-flags=N] [-acquire|-release -session=ID] [-base64]
// key [value|-|@file]`, as Consul's: PUT /v1/kv/<key> with the value as the body; "-" reads
// stdin and "@path" a file. A plain put reports success once the agent took the write (as
// Consul's, which does not read the answer's true/false); -cas, -acquire and -release fail
// (exit 1) when the agent answers false.
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"
#include "cmd/cli/json_fields.h"
#include "cmd/cli/kv_pair.h"

namespace muster::cli {
namespace {

constexpr std::string_view kKvPutHelp = R"(Usage: muster kv put [options] KEY [DATA]

  Writes the data to the given path in the key-value store. The data can be of
  any type.

      $ muster kv put config/redis/maxconns 5

  The data can also be consumed from a file on disk by prefixing with the "@"
  symbol, or read from stdin using the "-" symbol:

      $ muster kv put config/program/license @license.lic
      $ echo "abcd1234" | muster kv put config/program/license -

  The DATA argument itself is optional. If omitted, this will create an empty
  key-value pair at the specified path. To perform a Check-And-Set operation,
  specify the -cas flag with the -modify-index of the key:

      $ muster kv put -cas -modify-index=844 config/redis/maxconns 5
)";

class KvPutCommand : public Command {
 public:
  KvPutCommand() {
    flags_.AddBool("cas", &cas_,
                   "Perform a Check-And-Set operation. Specifying this value also requires the -modify-index flag "
                   "to be set. The default value is false.");
    flags_.AddUint64("flags", &kv_flags_,
                     "Unsigned integer value to assign to this key-value pair. The default value is 0 (no flags).");
    flags_.AddBool("base64", &base64_, "Treat the data as base 64 encoded. The default value is false.");
    flags_.AddUint64("modify-index", &modify_index_,
                     "Unsigned integer representing the ModifyIndex of the key. This is used in combination with "
                     "the -cas flag.");
    flags_.AddString("session", &session_,
                     "Identifier of the session, used with the -acquire and -release operations.");
    flags_.AddBool("acquire", &acquire_,
                   "Obtain a lock on the key. If the key does not exist, this operation will create the key and "
                   "obtain the lock. The session must already exist and be specified via the -session flag.");
    flags_.AddBool("release", &release_,
                   "Forfeit the lock on the key at the given path. This requires the -session flag to be set.");
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Sets or updates data in the KV store"; }
  std::string Help() const override { return HelpWithFlags(kKvPutHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    const std::vector<std::string>& positional = flags_.args();
    if (positional.empty()) {
      *env.err << "Error! Missing KEY argument\n";
      return 1;
    }
    if (positional.size() > 2) {
      *env.err << "Error! Too many arguments (expected 1 or 2, got " << positional.size() << ")\n";
      return 1;
    }
    const std::string& key = positional[0];
    absl::StatusOr<std::string> data = Data(positional.size() == 2 ? positional[1] : "", env);
    if (!data.ok()) {
      *env.err << "Error! " << data.status().message() << "\n";
      return 1;
    }
    if (base64_) {
      std::string decoded;
      if (!absl::Base64Unescape(*data, &decoded)) {
        *env.err << "Error! Cannot base 64 decode data: illegal base64 data\n";
        return 1;
      }
      *data = std::move(decoded);
    }
    if ((release_ || acquire_) && session_.empty()) {
      *env.err << "Error! Missing -session (required with -acquire and -release)\n";
      return 1;
    }
    if (cas_ && modify_index_ == 0) {
      *env.err << "Must specify -modify-index with -cas!\n";
      return 1;
    }
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    QueryParams params;
    if (kv_flags_ != 0) params.emplace_back("flags", absl::StrCat(kv_flags_));
    if (cas_) {
      params.emplace_back("cas", absl::StrCat(modify_index_));
    } else if (acquire_) {
      params.emplace_back("acquire", session_);
    } else if (release_) {
      params.emplace_back("release", session_);
    }
    absl::StatusOr<HttpResponse> response =
        client->DoOk("PUT", absl::StrCat("/v1/kv/", StripLeadingSlash(key)), params, std::move(*data));
    const bool written = response.ok() && IsJsonTrue(response->body);
    if (cas_) {
      if (!response.ok()) return Fail(env, absl::StrCat("Error! Did not write to ", key, ": ", response.status().message()));
      if (!written) return Fail(env, absl::StrCat("Error! Did not write to ", key, ": CAS failed"));
      *env.out << "Success! Data written to: " << key << "\n";
    } else if (acquire_) {
      if (!response.ok()) return Fail(env, absl::StrCat("Error! Failed writing data: ", response.status().message()));
      if (!written) return Fail(env, "Error! Did not acquire lock");
      *env.out << "Success! Lock acquired on: " << key << "\n";
    } else if (release_) {
      if (!response.ok()) return Fail(env, absl::StrCat("Error! Failed writing data: ", response.status().message()));
      if (!written) return Fail(env, "Error! Did not release lock");
      *env.out << "Success! Lock released on: " << key << "\n";
    } else {
      if (!response.ok()) return Fail(env, absl::StrCat("Error! Failed writing data: ", response.status().message()));
      *env.out << "Success! Data written to: " << key << "\n";
    }
    return 0;
  }

 private:
  static int Fail(Environment& env, const std::string& line) {
    *env.err << line << "\n";
    return 1;
  }

  static std::string StripLeadingSlash(const std::string& key) {
    return !key.empty() && key[0] == '/' ? key.substr(1) : key;
  }

  // The DATA argument: literal, "-" for stdin, "@path" for a file's contents.
  static absl::StatusOr<std::string> Data(const std::string& arg, Environment& env) {
    return ReadDataArgument(arg, env);
  }

  FlagSet flags_;
  HttpFlags http_;
  bool cas_ = false;
  uint64_t kv_flags_ = 0;
  bool base64_ = false;
  uint64_t modify_index_ = 0;
  std::string session_;
  bool acquire_ = false;
  bool release_ = false;
};

}  // namespace

std::unique_ptr<Command> NewKvPutCommand() { return std::make_unique<KvPutCommand>(); }

}  // namespace muster::cli
