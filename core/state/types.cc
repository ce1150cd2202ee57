#include "core/state/types.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/base/strings.h"

namespace muster::state {

std::string_view HealthStatusName(HealthStatus s) {
  switch (s) {
    case HealthStatus::kPassing: return "passing";
    case HealthStatus::kWarning: return "warning";
    case HealthStatus::kCritical: return "critical";
  }
  return "critical";
}

absl::StatusOr<HealthStatus> ParseHealthStatus(std::string_view name) {
  if (name == "passing") return HealthStatus::kPassing;
  if (name == "warning") return HealthStatus::kWarning;
  if (name == "critical") return HealthStatus::kCritical;
  return absl::InvalidArgumentError(absl::StrCat("Invalid check status: \"", Absl(name), "\""));
}

std::string_view SessionBehaviorName(SessionBehavior b) {
  return b == SessionBehavior::kDelete ? "delete" : "release";
}

absl::StatusOr<SessionBehavior> ParseSessionBehavior(std::string_view name) {
  if (name.empty() || name == "release") return SessionBehavior::kRelease;
  if (name == "delete") return SessionBehavior::kDelete;
  return absl::InvalidArgumentError(absl::StrCat("Invalid Behavior setting '", Absl(name), "'"));
}

bool Node::SameContent(const Node& o) const {
  return id == o.id && name == o.name && address == o.address && datacenter == o.datacenter &&
         tagged_addresses == o.tagged_addresses && meta == o.meta;
}

bool Service::SameContent(const Service& o) const {
  return id == o.id && name == o.name && tags == o.tags && address == o.address &&
         port == o.port && meta == o.meta && weights == o.weights &&
         enable_tag_override == o.enable_tag_override && tagged_addresses == o.tagged_addresses;
}

bool Check::SameContent(const Check& o) const {
  return node == o.node && check_id == o.check_id && name == o.name && status == o.status &&
         notes == o.notes && output == o.output && service_id == o.service_id &&
         service_name == o.service_name && service_tags == o.service_tags && type == o.type;
}

HealthStatus AggregateStatus(const std::vector<Check>& checks) {
  HealthStatus worst = HealthStatus::kPassing;
  for (const Check& c : checks) worst = std::max(worst, c.status);
  return worst;
}

}  // namespace muster::state
