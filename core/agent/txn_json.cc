#include "core/agent/txn_json.h"

#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/agent/consul_json.h"

namespace muster::agent {
namespace {

// The deepest a txn body nests: the list, an op, its KV object.
constexpr int kTxnDepthMax = 4;

// The value of `name` in `object`, matched case-insensitively as Go's encoding/json does;
// nullptr when absent or null.
const Json* Field(const Json& object, std::string_view name) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (absl::EqualsIgnoreCase(it.key(), absl::string_view(name.data(), name.size())) && !it.value().is_null()) return &it.value();
  }
  return nullptr;
}

absl::Status OpError(size_t op, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("Failed to parse transaction operation ", op, ": ",
                                                 std::string(what)));
}

std::optional<uint64_t> Unsigned(const Json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::vector<state::TxnOp>> ParseTxnOps(std::string_view json, size_t ops_max) {
  // The depth is measured while parsing (nlohmann's parser is iterative), never by recursing
  // over the result: a body of 100,000 nested arrays fits the body limit and would overflow
  // the stack (found by tests/integration:bad_input_test). Values past the bound are not kept.
  int depth_max = 0;
  Json::parser_callback_t deepest = [&depth_max](int depth, Json::parse_event_t, Json&) {
    depth_max = std::max(depth_max, depth);
    return depth <= kTxnDepthMax;
  };
  Json body = Json::parse(json.begin(), json.end(), deepest, /*allow_exceptions=*/false);
  if (body.is_discarded()) return absl::InvalidArgumentError("Failed to parse body: not JSON");
  if (depth_max > kTxnDepthMax) return absl::InvalidArgumentError("Failed to parse body: nested too deeply");
  if (!body.is_array()) return absl::InvalidArgumentError("Failed to parse body: want a list of operations");
  if (body.size() > ops_max) {
    return absl::ResourceExhaustedError(
        absl::StrCat("Transaction contains too many operations (", body.size(), " > ", ops_max, ")"));
  }
  std::vector<state::TxnOp> ops;
  ops.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    const Json& op = body[i];
    if (!op.is_object()) return OpError(i, "want an object");
    for (std::string_view other : {"Node", "Service", "Check", "Intention", "Session"}) {
      if (Field(op, other) != nullptr) {
        return OpError(i, absl::StrCat(std::string(other), " operations are not supported (KV only)"));
      }
    }
    const Json* kv = Field(op, "KV");
    if (kv == nullptr || !kv->is_object()) return OpError(i, "want a KV operation");
    state::TxnOp t;
    const Json* verb = Field(*kv, "Verb");
    if (verb == nullptr || !verb->is_string()) return OpError(i, "Verb is required");
    absl::StatusOr<state::TxnVerb> parsed = state::ParseTxnVerb(verb->get<std::string>());
    if (!parsed.ok()) return OpError(i, std::string(parsed.status().message()));
    t.verb = *parsed;
    if (const Json* key = Field(*kv, "Key"); key != nullptr) {
      if (!key->is_string()) return OpError(i, "Key: want a string");
      t.entry.key = key->get<std::string>();
    }
    if (const Json* value = Field(*kv, "Value"); value != nullptr) {
      if (!value->is_string()) return OpError(i, "Value: want base64 in a string");
      if (!absl::Base64Unescape(value->get<std::string>(), &t.entry.value)) {
        return OpError(i, "Value: not base64");
      }
    }
    if (const Json* flags = Field(*kv, "Flags"); flags != nullptr) {
      std::optional<uint64_t> f = Unsigned(*flags);
      if (!f.has_value()) return OpError(i, "Flags: want an unsigned integer");
      t.entry.flags = *f;
    }
    if (const Json* index = Field(*kv, "Index"); index != nullptr) {
      std::optional<uint64_t> n = Unsigned(*index);
      if (!n.has_value()) return OpError(i, "Index: want an unsigned integer");
      t.index = *n;
    }
    if (const Json* session = Field(*kv, "Session"); session != nullptr) {
      if (!session->is_string()) return OpError(i, "Session: want a string");
      t.entry.session = session->get<std::string>();
    }
    ops.push_back(std::move(t));
  }
  return ops;
}

bool TxnReadOnly(const std::vector<state::TxnOp>& ops) {
  for (const state::TxnOp& op : ops) {
    switch (op.verb) {
      case state::TxnVerb::kGet:
      case state::TxnVerb::kGetTree:
      case state::TxnVerb::kCheckIndex:
      case state::TxnVerb::kCheckSession:
      case state::TxnVerb::kCheckNotExists:
        break;
      default:
        return false;
    }
  }
  return true;
}

std::string TxnResponseJson(const state::TxnResponse& response) {
  Json j;
  if (response.ok()) {
    Json results = Json::array();
    for (const state::KVEntry& e : response.results) {
      Json r;
      r["KV"] = KVJson(e);
      results.push_back(std::move(r));
    }
    j["Results"] = std::move(results);
    j["Errors"] = nullptr;
  } else {
    Json errors = Json::array();
    for (const state::TxnError& e : response.errors) {
      Json r;
      r["OpIndex"] = e.op_index;
      r["What"] = e.what;
      errors.push_back(std::move(r));
    }
    j["Results"] = nullptr;
    j["Errors"] = std::move(errors);
  }
  return j.dump();
}

}  // namespace muster::agent
