// Consul's PUT /v1/txn body read into state store transaction operations, and the store's
// answer written back in Consul's shape. KV, Node, Service and Check operations (Consul 1.4+);
// Intention and Session operations are refused by name, a clear 400. Untrusted input: the op
// count, every field's type and size, the verbs and base64 are checked, and an error names
// the op it is in.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/state/store.h"

namespace muster::agent {

// [{"KV": {"Verb", "Key", "Value" (base64), "Flags", "Index", "Session"}},
//  {"Node": {"Verb", "Node": {ID, Node, Address, Datacenter, TaggedAddresses, Meta, ModifyIndex}}},
//  {"Service": {"Verb", "Node", "Service": {ID, Service, Tags, Address, Port, Meta, Weights,
//               EnableTagOverride, TaggedAddresses, ModifyIndex}}},
//  {"Check": {"Verb", "Check": {Node, CheckID, Name, Status, Notes, Output, ServiceID, Type,
//             ModifyIndex}}}, ...];
// field names matched case-insensitively (W4). At most `ops_max` operations (Consul: 64).
// The catalog kinds take set, cas, get, delete and delete-cas; a set or cas service's ID
// defaults to its name, a check's ID to its name and its status to critical (as a
// registration's). A Node's empty Datacenter is left empty (Consul fills in the agent's).
absl::StatusOr<std::vector<state::TxnOp>> ParseTxnOps(std::string_view json, size_t ops_max);

// Every operation reads (get, get-tree, check-*): served as a read, in its consistency mode,
// without the log (Consul's read-only transactions).
bool TxnReadOnly(const std::vector<state::TxnOp>& ops);

// {"Results": [{"KV": {...}}, {"Node": {...}}, {"Service": {...}}, {"Check": {...}}, ...],
// "Errors": null} (the catalog objects as the catalog endpoints answer them) when it applied; {"Results": null,
// "Errors": [{"OpIndex", "What"}, ...]} when it rolled back (answered 409).
std::string TxnResponseJson(const state::TxnResponse& response);

}  // namespace muster::agent
