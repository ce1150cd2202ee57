// Lenient field reads over nlohmann::json (see json_fields.h).
#include "cmd/cli/json_fields.h"

#include "absl/strings/str_cat.h"
#include "core/base/go_duration.h"

namespace muster::cli {

std::optional<Json> ParseJson(std::string_view text) {
  Json parsed = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

std::string StringField(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

uint64_t UintField(const Json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  if (it == object.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer() && it->get<int64_t>() >= 0) return static_cast<uint64_t>(it->get<int64_t>());
  return 0;
}

bool BoolField(const Json& object, const char* key) {
  if (!object.is_object()) return false;
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

absl::StatusOr<absl::Duration> JsonDurationField(const Json& object, const char* key) {
  if (!object.is_object() || !object.contains(key)) return absl::ZeroDuration();
  const Json& value = object[key];
  if (value.is_string()) return ParseGoDuration(value.get<std::string>());
  if (value.is_number()) return absl::Nanoseconds(value.get<double>());
  return absl::InvalidArgumentError(absl::StrCat(key, " is not a duration"));
}

bool IsJsonTrue(std::string_view body) {
  std::optional<Json> json = ParseJson(body);
  return json && json->is_boolean() && json->get<bool>();
}

}  // namespace muster::cli
