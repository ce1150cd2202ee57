// `muster kv export [PREFIX]`, as Consul's: every entry under the prefix (GET
// /v1/kv/<prefix>?recurse) as the JSON array `kv import` reads back, [{"key", "flags",
// "value" (base64)}], laid out as Go's json.MarshalIndent(entries, "", "\t") lays it out
// ("[]" when there is none), so a Consul export and a muster export of the same data are the
// same bytes.
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/command.h"
#include "cmd/cli/kv_pair.h"

namespace muster::cli {
namespace {

constexpr std::string_view kKvExportHelp = R"(Usage: muster kv export [options] [PREFIX]

  Retrieves key-value pairs for the given prefix from muster's key-value store,
  and writes a JSON representation to stdout. This can be used with the command
  "muster kv import" to move entire trees between muster clusters.

      $ muster kv export vault

  For a full list of options and examples, please see the muster documentation.
)";

// The length of the valid UTF-8 sequence at text[i] (as Go's utf8.DecodeRuneInString takes
// one: no overlong forms, no surrogates, nothing past U+10FFFF), or 0 when it is not one.
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

class KvExportCommand : public Command {
 public:
  KvExportCommand() {
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Exports part of the KV tree in JSON format"; }
  std::string Help() const override { return HelpWithFlags(kKvExportHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    if (flags_.args().size() > 1) {
      *env.err << "Too many arguments (expected 1, got " << flags_.args().size() << ")\n";
      return 1;
    }
    std::string prefix = flags_.args().empty() ? "" : flags_.args()[0];
    if (!prefix.empty() && prefix[0] == '/') prefix.erase(0, 1);  // as Consul, "/foo" means "foo"
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<HttpResponse> response =
        client->DoOk("GET", absl::StrCat("/v1/kv/", prefix), {{"recurse", ""}}, "", /*also_ok=*/404);
    if (!response.ok()) {
      *env.err << "Error querying muster agent: " << response.status().message() << "\n";
      return 1;
    }
    std::vector<KvPair> pairs;
    if (response->status == 200) {  // 404: nothing under the prefix, an empty export
      absl::StatusOr<std::vector<KvPair>> parsed = ParseKvPairs(response->body);
      if (!parsed.ok()) {
        *env.err << "Error querying muster agent: " << parsed.status().message() << "\n";
        return 1;
      }
      pairs = std::move(*parsed);
    }
    if (pairs.empty()) {
      *env.out << "[]\n";
      return 0;
    }
    std::string json = "[\n";
    for (size_t i = 0; i < pairs.size(); ++i) {
      absl::StrAppend(&json, "\t{\n\t\t\"key\": ", GoJsonString(pairs[i].key), ",\n\t\t\"flags\": ", pairs[i].flags,
                      ",\n\t\t\"value\": \"", absl::Base64Escape(pairs[i].value), "\"\n\t}",
                      i + 1 < pairs.size() ? ",\n" : "\n");
    }
    json += "]\n";
    *env.out << json;
    return 0;
  }

 private:
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewKvExportCommand() { return std::make_unique<KvExportCommand>(); }

}  // namespace muster::cli
