// The two table layouts Consul's commands print with, so our tables line up column for column:
//   - Columnize (ryanuber/columnize, as `members` and `operator raft list-peers` use it): rows of
//     fields, each field trimmed, every column but a row's last padded to the column's widest
//     field and joined by two spaces; no newline after the last row;
//   - TabAlign (Go's text/tabwriter as `kv get -detailed` sets it up: padding 6, spaces): a
//     key column padded to its widest key plus six, then the value.
// Widths count UTF-8 code points, not bytes, as both Go packages do for plain text.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace muster::cli {

std::string Columnize(const std::vector<std::vector<std::string>>& rows);

// Rows of (key, value); every row ends in a newline but the last.
std::string TabAlign(const std::vector<std::pair<std::string, std::string>>& rows);

// Go's %q of a string: double quotes, with \" \\ and control bytes escaped.
std::string GoQuote(const std::string& text);

}  // namespace muster::cli
