// Decoding Consul's KVPair list (see kv_pair.h).
#include "cmd/cli/kv_pair.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cmd/cli/json_fields.h"

namespace muster::cli {

absl::StatusOr<std::vector<KvPair>> ParseKvPairs(const std::string& body) {
  std::optional<Json> json = ParseJson(body);
  if (!json || !json->is_array()) return absl::DataLossError("the agent's answer is not a JSON list of entries");
  std::vector<KvPair> pairs;
  for (const Json& item : *json) {
    KvPair pair;
    pair.key = StringField(item, "Key");
    pair.create_index = UintField(item, "CreateIndex");
    pair.modify_index = UintField(item, "ModifyIndex");
    pair.lock_index = UintField(item, "LockIndex");
    pair.flags = UintField(item, "Flags");
    pair.session = StringField(item, "Session");
    const std::string encoded = StringField(item, "Value");  // null (an empty value) reads as ""
    if (!absl::Base64Unescape(encoded, &pair.value)) {
      return absl::DataLossError(absl::StrCat("the value of ", pair.key, " is not base64"));
    }
    pairs.push_back(std::move(pair));
  }
  return pairs;
}

absl::StatusOr<std::string> ReadDataArgument(const std::string& arg, Environment& env) {
  if (!arg.empty() && arg[0] == '@') {
    absl::StatusOr<std::string> contents = env.read_file(arg.substr(1));
    if (!contents.ok()) return absl::InvalidArgumentError(absl::StrCat("Failed to read file: ", contents.status().message()));
    return contents;
  }
  if (arg == "-") {
    absl::StatusOr<std::string> contents = env.read_stdin();
    if (!contents.ok()) return absl::InvalidArgumentError(absl::StrCat("Failed to read stdin: ", contents.status().message()));
    return contents;
  }
  return arg;
}

}  // namespace muster::cli
