// A KV entry as the agent's GET /v1/kv answers it (Consul's KVPair: Value in base64 or null),
// shared by the kv commands.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cmd/cli/environment.h"

namespace muster::cli {

struct KvPair {
  std::string key;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  uint64_t lock_index = 0;
  uint64_t flags = 0;
  std::string session;
  std::string value;  // decoded
};

// The entries of a GET /v1/kv answer; an error when it is not a list of entries or a value is
// not base64.
absl::StatusOr<std::vector<KvPair>> ParseKvPairs(const std::string& body);

// A DATA argument as Consul's kv put and kv import read it: the literal text, "-" for standard
// input, "@path" for a file's contents.
absl::StatusOr<std::string> ReadDataArgument(const std::string& arg, Environment& env);

}  // namespace muster::cli
