// JSON written as Go's encoding/json writes it, so what `kv export` and `watch` print is the
// bytes Consul's CLI prints for the same data: strings with Go's escaping (HTML-safe < > &,
// U+2028/U+2029, invalid UTF-8 as \ufffd), json.MarshalIndent's layout ("key": value, one
// element a line, "[]" and "{}" for empty ones) and json.Encoder's compact form. Objects keep
// the order the agent sent their fields in (ordered_json), which is its Go struct's order.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

namespace muster::cli {

using OrderedJson = nlohmann::ordered_json;

// The document with its objects' fields in the order written, or nullopt when not JSON.
std::optional<OrderedJson> ParseOrderedJson(std::string_view text);

// `text` as a Go JSON string literal, quotes included.
std::string GoJsonString(std::string_view text);

// json.MarshalIndent(value, "", indent): no newline after the last line.
std::string GoMarshalIndent(const OrderedJson& value, std::string_view indent);

// json.NewEncoder(w).Encode(value): compact, then a newline.
std::string GoEncode(const OrderedJson& value);

}  // namespace muster::cli
