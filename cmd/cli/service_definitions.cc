// Reading service definition files (see service_definitions.h).
#include "cmd/cli/service_definitions.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/strings.h"

namespace muster::cli {
namespace {

std::string Folded(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c != '_') out += absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  return out;
}

}  // namespace

bool SameFieldName(std::string_view a, std::string_view b) { return Folded(a) == Folded(b); }

const OrderedJson* FindField(const OrderedJson& object, std::string_view name) {
  if (!object.is_object()) return nullptr;
  const std::string wanted = Folded(name);
  for (const auto& [key, value] : object.items()) {
    if (Folded(key) == wanted) return &value;
  }
  return nullptr;
}

std::string FindString(const OrderedJson& object, std::string_view name) {
  const OrderedJson* field = FindField(object, name);
  return field != nullptr && field->is_string() ? field->get<std::string>() : "";
}

absl::StatusOr<std::vector<OrderedJson>> ReadServiceDefinitions(const std::vector<std::string>& paths,
                                                                Environment& env) {
  std::vector<OrderedJson> definitions;
  for (const std::string& path : paths) {
    if (absl::EndsWith(path, ".hcl")) {
      return absl::InvalidArgumentError(
          absl::StrCat("Failed to decode ", path, ": HCL is not read by muster; write the definition as JSON"));
    }
    absl::StatusOr<std::string> text = env.read_file(path);
    if (!text.ok()) return absl::NotFoundError(absl::StrCat("Failed to read ", path, ": ", text.status().message()));
    std::optional<OrderedJson> json = ParseOrderedJson(*text);
    if (!json || !json->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("Failed to decode ", path, ": not a JSON object"));
    }
    const size_t before = definitions.size();
    if (const OrderedJson* one = FindField(*json, "service"); one != nullptr && one->is_object()) {
      definitions.push_back(*one);
    }
    if (const OrderedJson* many = FindField(*json, "services"); many != nullptr && many->is_array()) {
      for (const OrderedJson& service : *many) {
        if (service.is_object()) definitions.push_back(service);
      }
    }
    if (definitions.size() == before) {
      return absl::InvalidArgumentError(
          absl::StrCat("Failed to decode ", path, ": no \"service\" or \"services\" in it"));
    }
  }
  return definitions;
}

}  // namespace muster::cli
