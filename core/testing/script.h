// One driver for the data-driven script tests of raft, gossip and the state store, in the
// style of etcd's datadriven package: each file in a testdata/ folder tells one story as
// commands with their expected output, and a reviewer reads the protocol in the diff.
//
// File format:
//
//   # Comment lines and blank lines are kept as they are when the file is rewritten.
//   campaign 1                      <- a command: its name, positional args, key=value options
//   optional input lines            <- (only for commands that take input)
//   ----
//   expected output, one or more    <- ends at the first blank line (or the end of the file);
//   lines                              a command with no output prints "ok"
//
// Each test binary registers its commands in a CommandSet. A command's `usage` string declares
// its arguments, so the driver checks every line before running it: `NAME` is a required
// positional argument, `[NAME]` an optional one, `NAME...` any number (at least one), and
// `[key=VALUE]` an option. An unknown command, an unknown option, a missing or extra argument,
// or input given to a command that takes none fails the file with "file:line: why", and the
// case does not run. Each command also carries a one-line doc and an example (checked against
// its own usage when registered), and every set answers the built-in `help` command with the
// whole listing, so each testdata folder's help.txt is the up-to-date manual of its commands.
//
// A test binary's whole gtest part is one line at namespace scope (the macro is at the end
// of this file):
//
//   MUSTER_SCRIPT_TESTS(RaftScript, Interpreter, "tests/raft/testdata", 14);
//
// Finding files: ScriptFiles(dir) reads the directory at run time (the runfiles tree under
// `bazel test`, which holds every file the BUILD rule's glob(["testdata/*.txt"]) matched), so a
// new story runs without being listed anywhere; the macro's Folder test fails if fewer than
// the stated number of files were found.
//
// Whole batches: raft's and gossip's scripts offer `batch on|off`, printing every Effects batch
// its nodes hand out with FormatNodeBatch (batch_printer.h), so a change in durability gating
// (a write's sync, a message's after_write_id) shows in a story's diff.
//
// Rewriting expected outputs after an intended change (one switch for every script test):
//
//   SCRIPT_REWRITE=1 bazel run //tests/raft:script_test
//
// Under `bazel run`, BUILD_WORKSPACE_DIRECTORY names the source tree, and both reading and
// writing go there (not to the runfiles); run directly from the workspace root
// (bazel-bin/tests/raft/script_test) paths are relative to the current directory. Under
// `bazel test` the runfiles are read-only links: rewriting there is refused with a message.
//
// Test-only: it reads and writes files, which core/'s production libraries never do. It lives
// in core/ so core's own tests can use it (core/ may not depend on sim/ or io/), and is listed
// in tools/layers.bzl so the layering and no-libm checks read it too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace muster::script {

// One command of a script file, as parsed.
struct ScriptCase {
  std::string file;
  int line = 0;               // of the command line, 1-based
  std::string comments;       // the blank and '#' lines before the command, verbatim
  std::string command_line;   // as written
  std::string name;
  std::vector<std::string> words;  // everything after the name, split at spaces
  std::vector<std::string> input;  // lines between the command line and "----"
  std::string expected;            // each line ending in '\n'
};

struct ScriptFile {
  std::vector<ScriptCase> cases;
  std::string trailer;  // blank and comment lines after the last case
};

// Parses a file's text; errors name file:line. A command without "----" is an error.
struct ParseResult {
  ScriptFile file;
  std::vector<std::string> errors;
};
ParseResult ParseScript(const std::string& file_name, const std::string& text);

class Invocation;
// Runs one command and returns its output (without a trailing newline; empty means "ok").
// A handler reports a bad argument with Invocation::Fail.
using Handler = std::function<std::string(Invocation&)>;

struct Command {
  std::string name;
  std::string usage;    // "add-nodes N [prevote=BOOL]": see the header comment
  std::string doc;      // one line: what it does and what it prints
  std::string example;  // a full command line, e.g. "add-nodes 3 prevote=false"
  bool takes_input = false;  // input lines between the command line and "----"
  // Every word is positional, '=' included (for data such as "k=v"); no options.
  bool raw_words = false;
  Handler run;
};

// The arguments of one command line, checked against the command's usage.
class Invocation {
 public:
  Invocation(const ScriptCase& c, std::vector<std::string> args,
             std::map<std::string, std::string> options)
      : case_(c), args_(std::move(args)), options_(std::move(options)) {}

  const ScriptCase& script_case() const { return case_; }
  const std::vector<std::string>& input() const { return case_.input; }

  size_t arg_count() const { return args_.size(); }
  bool has_arg(size_t i) const { return i < args_.size(); }
  // The i-th positional argument; a Fail (and "") when absent.
  const std::string& Arg(size_t i);
  // As a number; a Fail (and 0) when absent or not a number.
  uint64_t ArgUint(size_t i);
  int64_t ArgInt(size_t i);
  // The i-th argument, or `fallback` when absent.
  std::string ArgOr(size_t i, const std::string& fallback) const;
  // The i-th argument, which must be one of `choices` (else a Fail naming them).
  const std::string& ArgOneOf(size_t i, const std::vector<std::string>& choices);
  uint64_t ArgUintOr(size_t i, uint64_t fallback);
  const std::vector<std::string>& args() const { return args_; }

  bool has_option(const std::string& key) const { return options_.count(key) > 0; }
  std::string Option(const std::string& key, const std::string& fallback) const;
  // "true"/"false"; a Fail on anything else.
  bool OptionBool(const std::string& key, bool fallback);
  uint64_t OptionUint(const std::string& key, uint64_t fallback);
  int64_t OptionInt(const std::string& key, int64_t fallback);

  // Records an error: the case fails with "file:line: name: message".
  void Fail(const std::string& message);
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  template <typename T>
  T Number(const std::string& what, const std::string& text);

  const ScriptCase& case_;
  std::vector<std::string> args_;
  std::map<std::string, std::string> options_;
  std::vector<std::string> errors_;
};

// The commands of one script test. Register them before running any file.
class CommandSet {
 public:
  // CHECK-fails on a duplicate name, a usage that does not start with the name or does not
  // parse, a missing doc or handler, or an example that its own usage rejects.
  void Add(Command command);
  const Command* Find(const std::string& name) const;
  // Checks `c` against its command's usage: the invocation, or the errors ("file:line: ...").
  std::optional<Invocation> Bind(const ScriptCase& c, std::vector<std::string>* errors) const;
  // Every command's usage, doc and example, in name order (what `help` prints).
  std::string Help() const;

 private:
  struct Signature {
    std::vector<std::string> required;
    std::vector<std::string> optional;
    bool variadic = false;
    std::vector<std::string> options;  // keys
  };
  static std::optional<Signature> ParseUsage(const std::string& usage, std::string* error);

  std::map<std::string, std::pair<Command, Signature>> commands_;
};

// What running a file gave: its rewritten text, and every error and mismatch.
struct RunResult {
  std::string rewritten;  // the file with each expected output replaced by the actual one
  std::vector<std::string> errors;      // "file:line: ..." (parse, binding, handler errors)
  std::vector<std::string> mismatches;  // "file:line: command\n--- expected\n...\n--- got\n..."
  bool ok() const { return errors.empty() && mismatches.empty(); }
};
RunResult RunScriptText(const std::string& file_name, const std::string& text,
                        const CommandSet& commands);

// Reads `path` (relative to the workspace root), runs it, reports every error and mismatch as
// a gtest failure, and with SCRIPT_REWRITE=1 writes the rewritten file back to the source tree.
void RunScriptFile(const std::string& path, const CommandSet& commands);

// Every *.txt file in `dir` (relative to the workspace root), as "dir/name", sorted.
// CHECK-fails when the directory cannot be read.
std::vector<std::string> ScriptFiles(const std::string& dir);

// A gtest parameter name for a script path: its base name without ".txt", non-alphanumerics
// as '_'.
std::string ScriptTestName(const std::string& path);
std::string ScriptParamName(const ::testing::TestParamInfo<std::string>& info);

}  // namespace muster::script

// Defines the script tests of one folder: test Suite.Run/<file> for each *.txt file of `dir`,
// each run through a fresh `Interpreter` (a class with `const muster::script::CommandSet&
// commands() const`), and Suite.FolderIsRead, which fails when fewer than `files_min` files
// were found (a folder that could not be read would otherwise run no test at all).
#define MUSTER_SCRIPT_TESTS(Suite, Interpreter, dir, files_min)                                   \
  class Suite : public ::testing::TestWithParam<std::string> {};                                  \
  TEST_P(Suite, Run) {                                                                            \
    Interpreter interpreter;                                                                      \
    ::muster::script::RunScriptFile(GetParam(), interpreter.commands());                          \
  }                                                                                               \
  INSTANTIATE_TEST_SUITE_P(Testdata, Suite, ::testing::ValuesIn(::muster::script::ScriptFiles(dir)), \
                           ::muster::script::ScriptParamName);                                    \
  TEST(Suite##Folder, FolderIsRead) {                                                             \
    EXPECT_GE(::muster::script::ScriptFiles(dir).size(), size_t{files_min});                      \
  }
