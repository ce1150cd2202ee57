// Go's encoding/json output (see go_json.h).
#include "cmd/cli/go_json.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace muster::cli {
namespace {

size_t Utf8SequenceLength(std::string_view text, size_t i, uint32_t* rune) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length = 0;
  uint32_t value = 0;
  uint32_t min = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, value = lead & 0x1F, min = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, value = lead & 0x0F, min = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, value = lead & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (byte(i + k) & 0x3F);
  }
  if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
  *rune = value;
  return length;
}

// A number as nlohmann writes it: integers exactly, doubles in their shortest round-trip form
// (Go's strconv 'g'-like formatting agrees on every value the agent's answers hold: indexes,
// ports, flags and weights are integers).
std::string NumberText(const OrderedJson& value) { return value.dump(); }

void AppendValue(const OrderedJson& value, std::string_view indent, size_t depth, std::string& out) {
  const bool pretty = !indent.empty();
  const auto newline = [&](size_t level) {
    if (!pretty) return;
    out += '\n';
    for (size_t i = 0; i < level; ++i) out.append(indent);
  };
  switch (value.type()) {
    case OrderedJson::value_t::null: out += "null"; return;
    case OrderedJson::value_t::boolean: out += value.get<bool>() ? "true" : "false"; return;
    case OrderedJson::value_t::string: out += GoJsonString(value.get_ref<const std::string&>()); return;
    case OrderedJson::value_t::array: {
      if (value.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      bool first = true;
      for (const OrderedJson& element : value) {
        if (!first) out += ',';
        first = false;
        newline(depth + 1);
        AppendValue(element, indent, depth + 1, out);
      }
      newline(depth);
      out += ']';
      return;
    }
    case OrderedJson::value_t::object: {
      if (value.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      bool first = true;
      for (const auto& [key, element] : value.items()) {
        if (!first) out += ',';
        first = false;
        newline(depth + 1);
        absl::StrAppend(&out, GoJsonString(key), pretty ? ": " : ":");
        AppendValue(element, indent, depth + 1, out);
      }
      newline(depth);
      out += '}';
      return;
    }
    default: out += NumberText(value); return;
  }
}

}  // namespace

std::optional<OrderedJson> ParseOrderedJson(std::string_view text) {
  OrderedJson parsed = OrderedJson::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

// A string as Go's encoding/json writes one with its default HTML escaping: '"' and '\\'
// escaped, \n \r \t \b \f short, other control bytes and < > & as \u00xx, U+2028 and U+2029
// escaped, and each byte of invalid UTF-8 as \ufffd.
std::string GoJsonString(std::string_view text) {
  constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            absl::StrAppend(&out, "\\u00", std::string(1, kHex[c >> 4]), std::string(1, kHex[c & 0xF]));
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    uint32_t rune = 0;
    const size_t length = Utf8SequenceLength(text, i, &rune);
    if (length == 0) {
      out += "\\ufffd";
      ++i;
    } else if (rune == 0x2028 || rune == 0x2029) {
      out += rune == 0x2028 ? "\\u2028" : "\\u2029";
      i += length;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  out += "\"";
  return out;
}

std::string GoMarshalIndent(const OrderedJson& value, std::string_view indent) {
  std::string out;
  AppendValue(value, indent, 0, out);
  return out;
}

std::string GoEncode(const OrderedJson& value) {
  std::string out;
  AppendValue(value, "", 0, out);
  out += '\n';
  return out;
}

}  // namespace muster::cli
