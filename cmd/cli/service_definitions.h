// Service definitions from files, for `services register` and `services deregister`: a JSON
// file holding {"service": {...}} or {"services": [{...}, ...]}, the shape of Consul's service
// configuration files. HCL files are refused (no HCL parser among the build's packages). The
// definitions are kept as written, field names and all: the agent's register endpoint reads
// names case-insensitively and in snake_case, as Consul's does.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cmd/cli/environment.h"
#include "cmd/cli/go_json.h"

namespace muster::cli {

absl::StatusOr<std::vector<OrderedJson>> ReadServiceDefinitions(const std::vector<std::string>& paths,
                                                                Environment& env);

// Whether two field names are the same ignoring case and underscores ("ID" and "id",
// "EnableTagOverride" and "enable_tag_override").
bool SameFieldName(std::string_view a, std::string_view b);

// The field of `object` named as `name` (SameFieldName), or nullptr.
const OrderedJson* FindField(const OrderedJson& object, std::string_view name);
// The same field's string value, or "".
std::string FindString(const OrderedJson& object, std::string_view name);

}  // namespace muster::cli
