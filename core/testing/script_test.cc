// Tests of the script driver itself: parsing, checking command lines against usages, the
// rewrite text, help, and finding files.
#include "core/testing/script.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace muster::script {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A calculator: the smallest interpreter with state, options, input and raw words.
class Calculator {
 public:
  Calculator() {
    commands_.Add({.name = "set",
                   .usage = "set VALUE [scale=N]",
                   .doc = "sets the total to VALUE times scale (default 1)",
                   .example = "set 4 scale=2",
                   .run = [this](Invocation& in) {
                     total_ = in.ArgInt(0) * in.OptionInt("scale", 1);
                     return std::string();
                   }});
    commands_.Add({.name = "add",
                   .usage = "add N...",
                   .doc = "adds each N to the total and prints it",
                   .example = "add 1 2",
                   .run = [this](Invocation& in) {
                     for (size_t i = 0; i < in.arg_count(); ++i) total_ += in.ArgInt(i);
                     return absl::StrCat("total=", total_);
                   }});
    commands_.Add({.name = "sum-lines",
                   .usage = "sum-lines",
                   .doc = "prints the sum of the input lines",
                   .example = "sum-lines",
                   .takes_input = true,
                   .run = [](Invocation& in) {
                     int64_t sum = 0;
                     for (const std::string& line : in.input()) sum += std::stoll(line);
                     return absl::StrCat("sum=", sum);
                   }});
    commands_.Add({.name = "round",
                   .usage = "round MODE",
                   .doc = "rounds the total to tens, up or down",
                   .example = "round up",
                   .run = [this](Invocation& in) {
                     const bool up = in.ArgOneOf(0, {"up", "down"}) == "up";
                     total_ = (total_ + (up ? 9 : 0)) / 10 * 10;
                     return absl::StrCat("total=", total_);
                   }});
    commands_.Add({.name = "echo",
                   .usage = "echo WORD...",
                   .doc = "prints its words, '=' included",
                   .example = "echo k=v",
                   .raw_words = true,
                   .run = [](Invocation& in) { return absl::StrJoin(in.args(), " "); }});
  }
  const CommandSet& commands() const { return commands_; }

 private:
  CommandSet commands_;
  int64_t total_ = 0;
};

RunResult RunCalculator(const std::string& text) {
  Calculator calc;
  return RunScriptText("t.txt", text, calc.commands());
}

TEST(ParseScript, CasesKeepTheirCommentsLinesAndInput) {
  ParseResult p = ParseScript("t.txt", "# first\n\nset 1\n----\nok\n\nsum-lines\n2\n3\n----\nsum=5\n# end\n");
  EXPECT_THAT(p.errors, IsEmpty());
  ASSERT_EQ(p.file.cases.size(), 2u);
  EXPECT_EQ(p.file.cases[0].comments, "# first\n\n");
  EXPECT_EQ(p.file.cases[0].line, 3);
  EXPECT_EQ(p.file.cases[0].name, "set");
  EXPECT_THAT(p.file.cases[0].words, ElementsAre("1"));
  EXPECT_EQ(p.file.cases[1].line, 7);
  EXPECT_THAT(p.file.cases[1].input, ElementsAre("2", "3"));
  EXPECT_EQ(p.file.cases[1].expected, "sum=5\n# end\n");  // output runs to the blank line
  EXPECT_EQ(p.file.trailer, "");
}

TEST(ParseScript, ACommandWithoutSeparatorIsAnErrorNamingItsLine) {
  ParseResult p = ParseScript("t.txt", "set 1\n----\nok\n\nadd 2\n\nadd 3\n----\ntotal=4\n");
  ASSERT_THAT(p.errors, ElementsAre("t.txt:5: add: no \"----\" line after the command"));
  ASSERT_EQ(p.file.cases.size(), 2u);
  EXPECT_EQ(p.file.cases[1].line, 7);
}

TEST(RunScript, APassingFileRewritesToItself) {
  const std::string text =
      "# The total carries over from case to case.\nset 4 scale=2\n----\nok\n\nadd 1 2\n----\ntotal=11\n\n"
      "sum-lines\n1\n2\n----\nsum=3\n\necho a=b c\n----\na=b c\n\n# trailer\n";
  RunResult r = RunCalculator(text);
  EXPECT_TRUE(r.ok()) << absl::StrJoin(r.errors, "\n") << absl::StrJoin(r.mismatches, "\n");
  EXPECT_EQ(r.rewritten, text);
}

TEST(RunScript, AMismatchIsReportedAndRewritten) {
  RunResult r = RunCalculator("set 1\n----\nok\n\nadd 1\n----\ntotal=7\n");
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.mismatches.size(), 1u);
  EXPECT_THAT(r.mismatches[0], HasSubstr("t.txt:5: add 1\n--- expected\ntotal=7\n--- got\ntotal=2\n"));
  EXPECT_EQ(r.rewritten, "set 1\n----\nok\n\nadd 1\n----\ntotal=2\n");
}

TEST(RunScript, AnUnknownCommandFailsNamingFileAndLine) {
  RunResult r = RunCalculator("set 1\n----\nok\n\nmultiply 3\n----\nok\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0], HasSubstr("t.txt:5: unknown command 'multiply' (known: add, echo, round, set, sum-lines, help)"));
}

TEST(RunScript, AnUnknownOptionFailsAndTheCaseDoesNotRun) {
  RunResult r = RunCalculator("set 1 scael=3\n----\nok\n\nadd 0\n----\ntotal=0\n");
  EXPECT_THAT(r.errors, ElementsAre("t.txt:1: set: unknown option 'scael' (usage: set VALUE [scale=N])"));
  EXPECT_THAT(r.rewritten, HasSubstr("set 1 scael=3\n----\n(not run)\n"));
}

TEST(RunScript, ArgumentsAreCheckedAgainstTheUsage) {
  EXPECT_THAT(RunCalculator("set\n----\nok\n").errors,
              ElementsAre("t.txt:1: set: missing argument VALUE (usage: set VALUE [scale=N])"));
  EXPECT_THAT(RunCalculator("set 1 2\n----\nok\n").errors,
              ElementsAre("t.txt:1: set: extra argument '2' (usage: set VALUE [scale=N])"));
  EXPECT_THAT(RunCalculator("add\n----\nok\n").errors, ElementsAre("t.txt:1: add: missing argument N (usage: add N...)"));
  EXPECT_THAT(RunCalculator("set 1 scale=2 scale=3\n----\nok\n").errors,
              ElementsAre("t.txt:1: set: option 'scale' given twice (usage: set VALUE [scale=N])"));
  EXPECT_THAT(RunCalculator("set 1\n7\n----\nok\n").errors,
              ElementsAre("t.txt:1: set: takes no input lines (usage: set VALUE [scale=N])"));
}

TEST(RunScript, AHandlerRejectsABadValue) {
  EXPECT_THAT(RunCalculator("set x\n----\nok\n").errors, ElementsAre("t.txt:1: set: argument 'x': not a number"));
  EXPECT_THAT(RunCalculator("set 1 scale=big\n----\nok\n").errors, ElementsAre("t.txt:1: set: option scale=big: not a number"));
}

TEST(RunScript, AChoiceOutsideItsListIsRejected) {
  EXPECT_THAT(RunCalculator("round sideways\n----\nok\n").errors,
              ElementsAre("t.txt:1: round: 'sideways' is not one of up, down"));
  RunResult r = RunCalculator("set 11\n----\nok\n\nround up\n----\ntotal=20\n");
  EXPECT_TRUE(r.ok()) << absl::StrJoin(r.mismatches, "\n");
}

TEST(RunScript, HelpListsEveryCommandWithItsExample) {
  RunResult r = RunCalculator("help\n----\nok\n");
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.mismatches.size(), 1u);
  EXPECT_THAT(r.rewritten, HasSubstr("set VALUE [scale=N]\n  sets the total to VALUE times scale (default 1)\n"
                                     "  e.g. set 4 scale=2\n"));
  EXPECT_THAT(r.rewritten, HasSubstr("add N...\n  adds each N to the total and prints it\n  e.g. add 1 2\n"));
}

TEST(RunScript, AnEmptyFileIsAnError) {
  EXPECT_THAT(RunCalculator("# nothing\n").errors, ElementsAre("t.txt: no commands"));
}

TEST(CommandSetDeathTest, AnExampleItsOwnUsageRejectsIsCaught) {
  CommandSet set;
  Command bad{.name = "go", .usage = "go N", .doc = "goes", .example = "go 1 fast=true",
              .run = [](Invocation&) { return std::string(); }};
  EXPECT_DEATH(set.Add(bad), "its usage rejects its example");
  Command wrong_name{.name = "go", .usage = "walk N", .doc = "goes", .example = "go 1",
                     .run = [](Invocation&) { return std::string(); }};
  EXPECT_DEATH(set.Add(wrong_name), "must start with its name");
}

// The files of testdata/ are found at run time, without a list: one story of the calculator
// and its help page.
MUSTER_SCRIPT_TESTS(CalculatorScript, Calculator, "core/testing/testdata", 2);

TEST(ScriptFiles, FindsEveryTxtFileSorted) {
  EXPECT_THAT(ScriptFiles("core/testing/testdata"),
              ElementsAre("core/testing/testdata/calculator.txt", "core/testing/testdata/help.txt"));
  EXPECT_EQ(ScriptTestName("core/raft/testdata/prevote-checkquorum.txt"), "prevote_checkquorum");
}

}  // namespace
}  // namespace muster::script
