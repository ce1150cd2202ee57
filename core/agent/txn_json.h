// Consul's PUT /v1/txn body read into state store transaction operations, and the store's
// answer written back in Consul's shape. KV operations only: Node, Service and Check
// operations (Consul 1.4+) are refused by name, a clear 400, until the catalog takes them.
// Untrusted input: the op count, every field's type, the verbs and base64 are checked, and an
// error names the op it is in.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/state/store.h"

namespace muster::agent {

// [{"KV": {"Verb", "Key", "Value" (base64), "Flags", "Index", "Session"}}, ...]; field names
// matched case-insensitively (W4). At most `ops_max` operations (Consul: 64).
absl::StatusOr<std::vector<state::TxnOp>> ParseTxnOps(std::string_view json, size_t ops_max);

// Every operation reads (get, get-tree, check-*): served as a read, in its consistency mode,
// without the log (Consul's read-only transactions).
bool TxnReadOnly(const std::vector<state::TxnOp>& ops);

// {"Results": [{"KV": {...}}, ...], "Errors": null} when it applied; {"Results": null,
// "Errors": [{"OpIndex", "What"}, ...]} when it rolled back (answered 409).
std::string TxnResponseJson(const state::TxnResponse& response);

}  // namespace muster::agent
