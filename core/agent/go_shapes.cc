#include "core/agent/go_shapes.h"

#include <string>

#include "absl/strings/numbers.h"

namespace muster::agent {

nlohmann::ordered_json AsGoKvPair(const nlohmann::ordered_json& entry) {
  const auto field = [&](const char* name, nlohmann::ordered_json missing) {
    return entry.is_object() && entry.contains(name) && !entry[name].is_null() ? entry[name] : missing;
  };
  nlohmann::ordered_json pair = nlohmann::ordered_json::object();
  pair["Key"] = field("Key", "");
  pair["CreateIndex"] = field("CreateIndex", 0);
  pair["ModifyIndex"] = field("ModifyIndex", 0);
  pair["LockIndex"] = field("LockIndex", 0);
  pair["Flags"] = field("Flags", 0);
  pair["Value"] = field("Value", nullptr);
  pair["Session"] = field("Session", "");
  return pair;
}

uint64_t IndexOfEventId(std::string_view id) {
  // 8-4-4-4-12 hex digits.
  if (id.size() != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-') return 0;
  const std::string text(id);
  const std::string high = text.substr(0, 8) + text.substr(9, 4) + text.substr(14, 4);
  const std::string low = text.substr(19, 4) + text.substr(24, 12);
  uint64_t h = 0, l = 0;
  if (!absl::SimpleHexAtoi(high, &h) || !absl::SimpleHexAtoi(low, &l)) return 0;
  return h ^ l;
}

}  // namespace muster::agent
