// Go's flag parsing (see flag_set.h); error texts are Go's so a script written against Consul's
// messages reads ours.
#include "cmd/cli/flag_set.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/go_duration.h"
#include "core/base/check.h"

namespace muster::cli {

bool ParseGoBool(std::string_view text, bool* value) {
  if (text == "1" || text == "t" || text == "T" || text == "TRUE" || text == "true" || text == "True") {
    *value = true;
    return true;
  }
  if (text == "0" || text == "f" || text == "F" || text == "FALSE" || text == "false" || text == "False") {
    *value = false;
    return true;
  }
  return false;
}

absl::StatusOr<std::map<std::string, std::string>> KeyValueFlag(std::string_view name,
                                                                const std::vector<std::string>& values) {
  std::map<std::string, std::string> pairs;
  for (const std::string& value : values) {
    size_t eq = value.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("invalid value \"", value, "\" for flag -", std::string(name),
                                                     ": Missing \"=\" value in argument: ", value));
    }
    pairs[value.substr(0, eq)] = value.substr(eq + 1);
  }
  return pairs;
}

namespace {

// Go's strconv.ParseUint(s, 0, 64): decimal, or 0x / 0o / 0b / leading-0 octal prefixes.
bool ParseGoUint64(std::string_view text, uint64_t* value) {
  std::string digits(text);
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits = digits.substr(2);
  } else if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O')) {
    base = 8;
    digits = digits.substr(2);
  } else if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'b' || digits[1] == 'B')) {
    base = 2;
    digits = digits.substr(2);
  } else if (digits.size() > 1 && digits[0] == '0') {
    base = 8;
    digits = digits.substr(1);
  }
  if (digits.empty() || digits[0] == '+' || digits[0] == '-') return false;
  return absl::numbers_internal::safe_strtou64_base(digits, value, base);
}

}  // namespace

void FlagSet::AddBool(std::string name, bool* value, std::string usage) {
  MUSTER_CHECK(flags_.emplace(std::move(name), Flag{value, std::move(usage)}).second, "flag defined twice");
}
void FlagSet::AddString(std::string name, std::string* value, std::string usage) {
  MUSTER_CHECK(flags_.emplace(std::move(name), Flag{value, std::move(usage)}).second, "flag defined twice");
}
void FlagSet::AddUint64(std::string name, uint64_t* value, std::string usage) {
  MUSTER_CHECK(flags_.emplace(std::move(name), Flag{value, std::move(usage)}).second, "flag defined twice");
}
void FlagSet::AddDuration(std::string name, absl::Duration* value, std::string usage) {
  MUSTER_CHECK(flags_.emplace(std::move(name), Flag{value, std::move(usage)}).second, "flag defined twice");
}

void FlagSet::AddStringList(std::string name, std::vector<std::string>* values, std::string usage) {
  MUSTER_CHECK(flags_.emplace(std::move(name), Flag{values, std::move(usage)}).second, "flag defined twice");
}

bool FlagSet::WasSet(std::string_view name) const {
  auto it = flags_.find(name);
  return it != flags_.end() && it->second.set;
}

absl::Status FlagSet::SetValue(const std::string& name, Flag& flag, const std::string& value) {
  bool ok = true;
  if (bool** b = std::get_if<bool*>(&flag.target)) {
    ok = ParseGoBool(value, *b);
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("invalid boolean value \"", value, "\" for -", name, ": parse error"));
  } else if (std::string** s = std::get_if<std::string*>(&flag.target)) {
    **s = value;
  } else if (uint64_t** u = std::get_if<uint64_t*>(&flag.target)) {
    ok = ParseGoUint64(value, *u);
  } else if (std::vector<std::string>** list = std::get_if<std::vector<std::string>*>(&flag.target)) {
    (*list)->push_back(value);
  } else if (absl::Duration** d = std::get_if<absl::Duration*>(&flag.target)) {
    absl::StatusOr<absl::Duration> parsed = ParseGoDuration(value);
    ok = parsed.ok();
    if (ok) **d = *parsed;
  }
  if (!ok) return absl::InvalidArgumentError(absl::StrCat("invalid value \"", value, "\" for flag -", name, ": parse error"));
  flag.set = true;
  return absl::OkStatus();
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args) {
  positional_.clear();
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') break;  // "" , "-" and "value" end the flags
    size_t dashes = 1;
    if (arg[1] == '-') {
      dashes = 2;
      if (arg.size() == 2) {  // "--": the flags end here, and it is consumed
        ++i;
        break;
      }
    }
    std::string name = arg.substr(dashes);
    if (name.empty() || name[0] == '-' || name[0] == '=') {
      return absl::InvalidArgumentError(absl::StrCat("bad flag syntax: ", arg));
    }
    bool has_value = false;
    std::string value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      if (name == "help" || name == "h") return absl::InvalidArgumentError("help requested");
      return absl::InvalidArgumentError(absl::StrCat("flag provided but not defined: -", name));
    }
    Flag& flag = it->second;
    if (std::holds_alternative<bool*>(flag.target)) {
      if (!has_value) value = "true";
    } else if (!has_value) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat("flag needs an argument: -", name));
      value = args[++i];
    }
    if (absl::Status s = SetValue(name, flag, value); !s.ok()) return s;
  }
  positional_.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return absl::OkStatus();
}

std::string FlagSet::Usage() const {
  std::string out;
  for (const auto& [name, flag] : flags_) {
    const char* value_hint = "";
    if (std::holds_alternative<std::string*>(flag.target)) value_hint = "=<string>";
    if (std::holds_alternative<uint64_t*>(flag.target)) value_hint = "=<uint>";
    if (std::holds_alternative<absl::Duration*>(flag.target)) value_hint = "=<duration>";
    if (std::holds_alternative<std::vector<std::string>*>(flag.target)) value_hint = "=<value>";
    absl::StrAppend(&out, "\n  -", name, value_hint, "\n     ", flag.usage, "\n");
  }
  return out;
}

}  // namespace muster::cli
