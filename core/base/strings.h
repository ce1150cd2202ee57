// Debian's Abseil 20220623 is built with ABSL_OPTION_USE_STD_STRING_VIEW=0, so
// absl::string_view is its own type and absl::StrCat / StrSplit do not take a
// std::string_view. Our interfaces use std::string_view; Absl() bridges at the call.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace muster {

inline absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view Std(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace muster
