#include "core/testing/script.h"

#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/check.h"
#include "gtest/gtest.h"

namespace muster::script {
namespace {

constexpr char kSeparator[] = "----";

std::string Where(const ScriptCase& c) { return absl::StrCat(c.file, ":", c.line, ": "); }

bool IsCommentOrBlank(const std::string& line) {
  return line.find_first_not_of(" \t") == std::string::npos || line[0] == '#';
}

std::vector<std::string> SplitWords(const std::string& line) {
  return absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
}

// Splits text into lines; a final newline does not start another line.
std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// Where files are read and written: the source tree under `bazel run`, else the current
// directory (the runfiles tree under `bazel test`, or the workspace root when the binary is
// run from there).
std::string Resolve(const std::string& path) {
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY"); ws != nullptr && *ws != '\0') {
    return absl::StrCat(ws, "/", path);
  }
  return path;
}

bool RewriteRequested() {
  const char* rewrite = std::getenv("SCRIPT_REWRITE");
  return rewrite != nullptr && std::string(rewrite) == "1";
}

}  // namespace

// ---- parsing --------------------------------------------------------------------------------

ParseResult ParseScript(const std::string& file_name, const std::string& text) {
  ParseResult result;
  const std::vector<std::string> lines = SplitLines(text);
  std::string comments;
  size_t i = 0;
  while (i < lines.size()) {
    if (IsCommentOrBlank(lines[i])) {
      comments += lines[i++] + "\n";
      continue;
    }
    ScriptCase c;
    c.file = file_name;
    c.line = static_cast<int>(i) + 1;
    c.comments = std::move(comments);
    comments.clear();
    c.command_line = lines[i++];
    std::vector<std::string> words = SplitWords(c.command_line);
    c.name = words[0];
    c.words.assign(words.begin() + 1, words.end());
    while (i < lines.size() && lines[i] != kSeparator && !lines[i].empty()) c.input.push_back(lines[i++]);
    if (i >= lines.size() || lines[i] != kSeparator) {
      result.errors.push_back(absl::StrCat(Where(c), c.name, ": no \"", kSeparator, "\" line after the command"));
      // Resynchronize at the next blank line.
      while (i < lines.size() && !lines[i].empty()) ++i;
      continue;
    }
    ++i;  // the separator
    while (i < lines.size() && !lines[i].empty()) c.expected += lines[i++] + "\n";
    result.file.cases.push_back(std::move(c));
  }
  result.file.trailer = std::move(comments);
  return result;
}

// ---- invocations ----------------------------------------------------------------------------

void Invocation::Fail(const std::string& message) {
  errors_.push_back(absl::StrCat(Where(case_), case_.name, ": ", message));
}

const std::string& Invocation::Arg(size_t i) {
  static const std::string* const kEmpty = new std::string();
  if (i >= args_.size()) {
    Fail(absl::StrCat("argument ", i + 1, " is missing"));
    return *kEmpty;
  }
  return args_[i];
}

// Parses `text` as a T; on failure records "`what`: not a number" and gives 0.
template <typename T>
T Invocation::Number(const std::string& what, const std::string& text) {
  T v = 0;
  if (!absl::SimpleAtoi(text, &v)) {
    Fail(absl::StrCat(what, ": not a number"));
    return 0;
  }
  return v;
}

uint64_t Invocation::ArgUint(size_t i) {
  return has_arg(i) ? Number<uint64_t>(absl::StrCat("argument '", args_[i], "'"), args_[i]) : (Arg(i), 0);
}

int64_t Invocation::ArgInt(size_t i) {
  return has_arg(i) ? Number<int64_t>(absl::StrCat("argument '", args_[i], "'"), args_[i]) : (Arg(i), 0);
}

const std::string& Invocation::ArgOneOf(size_t i, const std::vector<std::string>& choices) {
  const std::string& arg = Arg(i);
  if (has_arg(i) && std::find(choices.begin(), choices.end(), arg) == choices.end()) {
    Fail(absl::StrCat("'", arg, "' is not one of ", absl::StrJoin(choices, ", ")));
  }
  return arg;
}

std::string Invocation::ArgOr(size_t i, const std::string& fallback) const {
  return i < args_.size() ? args_[i] : fallback;
}

uint64_t Invocation::ArgUintOr(size_t i, uint64_t fallback) { return i < args_.size() ? ArgUint(i) : fallback; }

std::string Invocation::Option(const std::string& key, const std::string& fallback) const {
  auto it = options_.find(key);
  return it == options_.end() ? fallback : it->second;
}

bool Invocation::OptionBool(const std::string& key, bool fallback) {
  auto it = options_.find(key);
  if (it == options_.end()) return fallback;
  if (it->second == "true") return true;
  if (it->second == "false") return false;
  Fail(absl::StrCat("option ", key, "=", it->second, ": want true or false"));
  return fallback;
}

uint64_t Invocation::OptionUint(const std::string& key, uint64_t fallback) {
  auto it = options_.find(key);
  return it == options_.end() ? fallback : Number<uint64_t>(absl::StrCat("option ", key, "=", it->second), it->second);
}

int64_t Invocation::OptionInt(const std::string& key, int64_t fallback) {
  auto it = options_.find(key);
  return it == options_.end() ? fallback : Number<int64_t>(absl::StrCat("option ", key, "=", it->second), it->second);
}

// ---- the command set ------------------------------------------------------------------------

std::optional<CommandSet::Signature> CommandSet::ParseUsage(const std::string& usage, std::string* error) {
  std::vector<std::string> words = SplitWords(usage);
  Signature sig;
  for (size_t i = 1; i < words.size(); ++i) {
    std::string w = words[i];
    const bool bracketed = w.size() > 2 && w.front() == '[' && w.back() == ']';
    if (bracketed) w = w.substr(1, w.size() - 2);
    const bool variadic = w.size() > 3 && w.substr(w.size() - 3) == "...";
    if (variadic) w = w.substr(0, w.size() - 3);
    if (const size_t eq = w.find('='); eq != std::string::npos) {
      if (!bracketed || variadic || eq == 0) {
        *error = absl::StrCat("option '", words[i], "' must be written [key=VALUE]");
        return std::nullopt;
      }
      sig.options.push_back(w.substr(0, eq));
      continue;
    }
    if (sig.variadic) {
      *error = absl::StrCat("'", words[i], "' after a variadic argument");
      return std::nullopt;
    }
    if (bracketed) {
      sig.optional.push_back(w);
    } else {
      if (!sig.optional.empty()) {
        *error = absl::StrCat("required '", words[i], "' after an optional argument");
        return std::nullopt;
      }
      sig.required.push_back(w);
    }
    sig.variadic = variadic;
  }
  return sig;
}

void CommandSet::Add(Command command) {
  MUSTER_CHECK(!command.name.empty());
  MUSTER_CHECK(command.name != "help", "help is built in");
  MUSTER_CHECK(commands_.count(command.name) == 0, "command registered twice: ", command.name);
  MUSTER_CHECK(!command.doc.empty(), command.name, " has no doc");
  MUSTER_CHECK(command.run != nullptr, command.name, " has no handler");
  std::vector<std::string> usage_words = SplitWords(command.usage);
  MUSTER_CHECK(!usage_words.empty() && usage_words[0] == command.name, "usage of ", command.name,
               " must start with its name: ", command.usage);
  std::string error;
  std::optional<Signature> sig = ParseUsage(command.usage, &error);
  MUSTER_CHECK(sig.has_value(), command.name, ": bad usage: ", error);
  MUSTER_CHECK(!command.raw_words || sig->options.empty(), command.name, ": raw words take no options");
  const std::string name = command.name;
  commands_.emplace(name, std::make_pair(std::move(command), *std::move(sig)));

  // The example must be a valid call of the command itself.
  const Command& added = commands_.at(name).first;
  ParseResult parsed = ParseScript("example", absl::StrCat(added.example, "\n----\nok\n"));
  MUSTER_CHECK(parsed.errors.empty() && parsed.file.cases.size() == 1, name, ": bad example: ", added.example);
  MUSTER_CHECK(parsed.file.cases[0].name == name, name, ": its example calls ", parsed.file.cases[0].name);
  std::vector<std::string> errors;
  MUSTER_CHECK(Bind(parsed.file.cases[0], &errors).has_value(), name, ": its usage rejects its example: ",
               absl::StrJoin(errors, "; "));
}

const Command* CommandSet::Find(const std::string& name) const {
  auto it = commands_.find(name);
  return it == commands_.end() ? nullptr : &it->second.first;
}

std::optional<Invocation> CommandSet::Bind(const ScriptCase& c, std::vector<std::string>* errors) const {
  auto it = commands_.find(c.name);
  if (it == commands_.end()) {
    std::vector<std::string> names;
    for (const auto& [name, unused] : commands_) names.push_back(name);
    errors->push_back(absl::StrCat(Where(c), "unknown command '", c.name, "' (known: ", absl::StrJoin(names, ", "),
                                   ", help)"));
    return std::nullopt;
  }
  const Command& command = it->second.first;
  const Signature& sig = it->second.second;
  const size_t errors_before = errors->size();
  auto fail = [&](const std::string& why) {
    errors->push_back(absl::StrCat(Where(c), c.name, ": ", why, " (usage: ", command.usage, ")"));
  };
  std::vector<std::string> args;
  std::map<std::string, std::string> options;
  for (const std::string& w : c.words) {
    const size_t eq = w.find('=');
    if (command.raw_words || eq == std::string::npos || eq == 0) {
      args.push_back(w);
      continue;
    }
    const std::string key = w.substr(0, eq);
    if (std::find(sig.options.begin(), sig.options.end(), key) == sig.options.end()) {
      fail(absl::StrCat("unknown option '", key, "'"));
    } else if (!options.emplace(key, w.substr(eq + 1)).second) {
      fail(absl::StrCat("option '", key, "' given twice"));
    }
  }
  if (args.size() < sig.required.size()) {
    fail(absl::StrCat("missing argument ", sig.required[args.size()]));
  } else if (!sig.variadic && args.size() > sig.required.size() + sig.optional.size()) {
    fail(absl::StrCat("extra argument '", args[sig.required.size() + sig.optional.size()], "'"));
  }
  if (!c.input.empty() && !command.takes_input) fail("takes no input lines");
  if (errors->size() != errors_before) return std::nullopt;
  return Invocation(c, std::move(args), std::move(options));
}

std::string CommandSet::Help() const {
  std::vector<std::string> lines;
  for (const auto& [name, entry] : commands_) {
    const Command& c = entry.first;
    lines.push_back(c.usage);
    lines.push_back(absl::StrCat("  ", c.doc));
    lines.push_back(absl::StrCat("  e.g. ", c.example));
  }
  lines.push_back("help");
  lines.push_back("  this listing");
  return absl::StrJoin(lines, "\n");
}

// ---- running --------------------------------------------------------------------------------

RunResult RunScriptText(const std::string& file_name, const std::string& text, const CommandSet& commands) {
  RunResult result;
  ParseResult parsed = ParseScript(file_name, text);
  result.errors = std::move(parsed.errors);
  if (parsed.file.cases.empty()) result.errors.push_back(absl::StrCat(file_name, ": no commands"));
  for (const ScriptCase& c : parsed.file.cases) {
    std::string got;
    if (c.name == "help" && commands.Find("help") == nullptr) {
      if (!c.words.empty() || !c.input.empty()) result.errors.push_back(absl::StrCat(Where(c), "help takes nothing"));
      got = commands.Help();
    } else if (std::optional<Invocation> inv = commands.Bind(c, &result.errors); inv.has_value()) {
      got = commands.Find(c.name)->run(*inv);
      for (const std::string& e : inv->errors()) result.errors.push_back(e);
    } else {
      got = "(not run)";
    }
    if (got.empty()) got = "ok";
    if (got.back() != '\n') got += "\n";
    if (got.find("\n\n") != std::string::npos || got[0] == '\n') {
      result.errors.push_back(absl::StrCat(Where(c), c.name, ": output has a blank line, which ends a case"));
    }
    result.rewritten += c.comments + c.command_line + "\n";
    for (const std::string& line : c.input) result.rewritten += line + "\n";
    result.rewritten += absl::StrCat(kSeparator, "\n", got);
    if (got != c.expected) {
      result.mismatches.push_back(absl::StrCat(Where(c), c.command_line, "\n--- expected\n", c.expected,
                                               "--- got\n", got));
    }
  }
  result.rewritten += parsed.file.trailer;
  return result;
}

void RunScriptFile(const std::string& path, const CommandSet& commands) {
  const std::string resolved = Resolve(path);
  std::ifstream in(resolved);
  ASSERT_TRUE(in.good()) << "cannot read " << resolved;
  std::stringstream text;
  text << in.rdbuf();
  RunResult result = RunScriptText(path, text.str(), commands);
  for (const std::string& e : result.errors) ADD_FAILURE() << e;
  if (!RewriteRequested()) {
    for (const std::string& m : result.mismatches) ADD_FAILURE() << m;
    return;
  }
  const bool under_bazel_test = std::getenv("BUILD_WORKSPACE_DIRECTORY") == nullptr &&
                                std::getenv("TEST_TMPDIR") != nullptr;
  ASSERT_FALSE(under_bazel_test) << "SCRIPT_REWRITE=1 under bazel test would write into the runfiles; use "
                                 << "SCRIPT_REWRITE=1 bazel run <target>";
  if (result.rewritten == text.str()) return;
  std::ofstream out(resolved, std::ios::trunc);
  out << result.rewritten;
  ASSERT_TRUE(out.good()) << "cannot write " << resolved;
}

std::vector<std::string> ScriptFiles(const std::string& dir) {
  const std::string resolved = Resolve(dir);
  DIR* d = opendir(resolved.c_str());
  MUSTER_CHECK(d != nullptr, "cannot read the script directory ", resolved);
  std::vector<std::string> out;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 4 && name.substr(name.size() - 4) == ".txt") out.push_back(absl::StrCat(dir, "/", name));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string ScriptParamName(const ::testing::TestParamInfo<std::string>& info) { return ScriptTestName(info.param); }

std::string ScriptTestName(const std::string& path) {
  std::string name = path.substr(path.rfind('/') + 1);
  if (name.size() > 4 && name.substr(name.size() - 4) == ".txt") name.resize(name.size() - 4);
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

}  // namespace muster::script
