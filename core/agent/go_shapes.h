// Records as Consul's Go code shapes them, for those who hand them on byte for byte: the agent's
// watch handlers and the `muster watch` CLI (the same JSON `consul watch` and Consul's agent give).
#pragma once

#include <cstdint>
#include <string_view>

#include "nlohmann/json.hpp"

namespace muster::agent {

// A KV entry as the Go client's api.KVPair encodes it: its fields in the struct's order (Key,
// CreateIndex, ModifyIndex, LockIndex, Flags, Value, Session), Session always there.
nlohmann::ordered_json AsGoKvPair(const nlohmann::ordered_json& entry);

// Consul's event.IDToIndex: a user event ID's UUID halves XORed, the index of an event list
// (X-Consul-Index) and what a watcher compares; 0 when `id` is not 8-4-4-4-12 hex digits.
uint64_t IndexOfEventId(std::string_view id);

}  // namespace muster::agent
