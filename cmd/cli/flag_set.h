// Command-line flags with the semantics of Go's `flag` package, which every Consul command
// parses with, so `muster kv put -cas -modify-index=5 k v` reads exactly as `consul ...` does:
//   - "-name" and "--name" are the same; a value is "-name=value" or, for a non-boolean flag,
//     the next argument ("-name value", even when that argument starts with '-');
//   - a boolean flag takes no separate argument: "-name" is true, "-name=false" sets it false;
//   - parsing stops at the first argument that is not a flag ("-" alone is not one) and after
//     "--" (which is consumed); the rest are the positional arguments;
//   - an undefined flag, a bad value or a missing value is an error, worded as Go words it.
// Whether a flag was given at all is kept, so "set only what was given" (autopilot set-config)
// needs no sentinel values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace muster::cli {

class FlagSet {
 public:
  // Each Add* binds a flag to a variable that keeps its default until the flag is given.
  void AddBool(std::string name, bool* value, std::string usage);
  void AddString(std::string name, std::string* value, std::string usage);
  void AddUint64(std::string name, uint64_t* value, std::string usage);
  // Go's time.ParseDuration syntax ("200ms", "1m30s", "1.5h").
  void AddDuration(std::string name, absl::Duration* value, std::string usage);
  // A flag that may be given many times, each value appended (Consul's AppendSliceValue, and
  // its FlagMapValue before the command splits "key=value").
  void AddStringList(std::string name, std::vector<std::string>* values, std::string usage);

  // Parses `args` (the arguments after the command's name). On success the positional
  // arguments are in args(). A help flag (-h, -help) that is not defined is an error whose
  // message is "help requested", as Go's flag.ErrHelp.
  absl::Status Parse(const std::vector<std::string>& args);

  const std::vector<std::string>& args() const { return positional_; }
  bool WasSet(std::string_view name) const;
  // The flags and their usage lines, in name order, as Consul's help prints them.
  std::string Usage() const;

 private:
  using Target = std::variant<bool*, std::string*, uint64_t*, absl::Duration*, std::vector<std::string>*>;
  struct Flag {
    Target target;
    std::string usage;
    bool set = false;
  };
  absl::Status SetValue(const std::string& name, Flag& flag, const std::string& value);

  std::map<std::string, Flag, std::less<>> flags_;
  std::vector<std::string> positional_;
};

// The values of a repeated "key=value" flag as Consul's FlagMapValue keeps them: a map (a later
// key wins), here sorted by key; a value without '=' is the error Go's flag package reports,
// `invalid value "x" for flag -name: Missing "=" value in argument: x`.
absl::StatusOr<std::map<std::string, std::string>> KeyValueFlag(std::string_view name,
                                                                const std::vector<std::string>& values);

// Go's strconv.ParseBool: 1 t T TRUE true True, 0 f F FALSE false False.
bool ParseGoBool(std::string_view text, bool* value);

}  // namespace muster::cli
