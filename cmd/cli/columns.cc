// Table layouts and quoting as Consul's Go code prints them (see columns.h).
#include "cmd/cli/columns.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace muster::cli {
namespace {

size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;  // count lead bytes, not continuation bytes
  }
  return width;
}

}  // namespace

std::string Columnize(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::vector<std::string>> trimmed;
  std::vector<size_t> widths;
  for (const std::vector<std::string>& row : rows) {
    std::vector<std::string>& fields = trimmed.emplace_back();
    for (size_t i = 0; i < row.size(); ++i) {
      fields.push_back(std::string(absl::StripAsciiWhitespace(row[i])));
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], DisplayWidth(fields.back()));
    }
  }
  std::string out;
  for (const std::vector<std::string>& fields : trimmed) {
    for (size_t i = 0; i < fields.size(); ++i) {
      out += fields[i];
      if (i + 1 == fields.size()) break;
      out.append(widths[i] - DisplayWidth(fields[i]), ' ');
      out += "  ";
    }
    out += '\n';
  }
  if (!out.empty()) out.pop_back();
  return out;
}

std::string TabAlign(const std::vector<std::pair<std::string, std::string>>& rows) {
  constexpr size_t kPadding = 6;
  size_t key_width = 0;
  for (const auto& [key, value] : rows) key_width = std::max(key_width, DisplayWidth(key));
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& [key, value] = rows[i];
    absl::StrAppend(&out, key, std::string(key_width + kPadding - DisplayWidth(key), ' '), value);
    if (i + 1 < rows.size()) out += '\n';
  }
  return out;
}

std::string GoQuote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[5];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace muster::cli
