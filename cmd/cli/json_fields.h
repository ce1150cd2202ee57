// Reading fields of the agent's JSON answers leniently, as Go's encoding/json fills a struct: a
// missing field, or one of another type, keeps the zero value. Parsing never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace muster::cli {

using Json = nlohmann::json;

// The parsed document, or nullopt when `text` is not JSON.
std::optional<Json> ParseJson(std::string_view text);

std::string StringField(const Json& object, const char* key);
uint64_t UintField(const Json& object, const char* key);
bool BoolField(const Json& object, const char* key);
// A duration field as Consul's api.ReadableDuration reads one: a Go duration string, or a bare
// number of nanoseconds; missing is zero, anything else an error naming the field.
absl::StatusOr<absl::Duration> JsonDurationField(const Json& object, const char* key);
// A write's answer: the JSON `true` (and not `false`, nor anything else).
bool IsJsonTrue(std::string_view body);

}  // namespace muster::cli
