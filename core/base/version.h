// The version of this muster build: what the agent announces (its "build" tag, /v1/agent/self,
// the start banner) and what `muster version` prints. One place, so they cannot drift apart.
#pragma once

#include <string_view>

namespace muster {

inline constexpr std::string_view kMusterVersion = "1.0.0";

}  // namespace muster
