// Go's flag semantics (which Consul's commands parse with), Go's durations, and the table
// layouts Consul prints with.
#include "cmd/cli/flag_set.h"

#include "cmd/cli/columns.h"
#include "core/base/go_duration.h"
#include "gtest/gtest.h"

namespace muster::cli {
namespace {

struct Flags {
  FlagSet set;
  bool cas = false;
  bool recurse = true;
  std::string session;
  uint64_t index = 0;
  absl::Duration wait = absl::Seconds(1);
  Flags() {
    set.AddBool("cas", &cas, "");
    set.AddBool("recurse", &recurse, "");
    set.AddString("session", &session, "");
    set.AddUint64("modify-index", &index, "");
    set.AddDuration("wait", &wait, "");
  }
};

TEST(FlagSetTest, GoForms) {
  Flags f;
  ASSERT_TRUE(f.set.Parse({"-cas", "--recurse=false", "-session", "-abc", "--modify-index=0x10", "-wait=1m30s", "key",
                           "-cas=x"}).ok());
  EXPECT_TRUE(f.cas);
  EXPECT_FALSE(f.recurse);
  EXPECT_EQ(f.session, "-abc");  // a value may start with '-'
  EXPECT_EQ(f.index, 16u);
  EXPECT_EQ(f.wait, absl::Seconds(90));
  // Parsing stops at the first non-flag: the rest are positional, flags or not.
  EXPECT_EQ(f.set.args(), (std::vector<std::string>{"key", "-cas=x"}));
  EXPECT_TRUE(f.set.WasSet("cas"));
  EXPECT_TRUE(f.set.WasSet("recurse"));
  EXPECT_FALSE(Flags().set.WasSet("cas"));
}

TEST(FlagSetTest, DashDashAndDashEndFlags) {
  Flags f;
  ASSERT_TRUE(f.set.Parse({"-cas", "--", "-recurse"}).ok());
  EXPECT_EQ(f.set.args(), (std::vector<std::string>{"-recurse"}));
  EXPECT_TRUE(f.recurse);  // untouched
  Flags g;
  ASSERT_TRUE(g.set.Parse({"key", "-"}).ok());
  EXPECT_EQ(g.set.args(), (std::vector<std::string>{"key", "-"}));
  Flags h;
  ASSERT_TRUE(h.set.Parse({"-", "-cas"}).ok());
  EXPECT_FALSE(h.cas);
}

TEST(FlagSetTest, ErrorsWordedAsGo) {
  EXPECT_EQ(Flags().set.Parse({"-nope"}).message(), "flag provided but not defined: -nope");
  EXPECT_EQ(Flags().set.Parse({"-session"}).message(), "flag needs an argument: -session");
  EXPECT_EQ(Flags().set.Parse({"-cas=maybe"}).message(), "invalid boolean value \"maybe\" for -cas: parse error");
  EXPECT_EQ(Flags().set.Parse({"-modify-index=-1"}).message(), "invalid value \"-1\" for flag -modify-index: parse error");
  EXPECT_EQ(Flags().set.Parse({"-modify-index", "12x"}).message(), "invalid value \"12x\" for flag -modify-index: parse error");
  EXPECT_EQ(Flags().set.Parse({"-wait=5"}).message(), "invalid value \"5\" for flag -wait: parse error");
  EXPECT_EQ(Flags().set.Parse({"---cas"}).message(), "bad flag syntax: ---cas");
  EXPECT_EQ(Flags().set.Parse({"-h"}).message(), "help requested");
}

TEST(FlagSetTest, UsageListsFlagsInOrder) {
  const std::string usage = Flags().set.Usage();
  EXPECT_LT(usage.find("-cas"), usage.find("-modify-index=<uint>"));
  EXPECT_LT(usage.find("-modify-index"), usage.find("-session=<string>"));
  EXPECT_NE(usage.find("-wait=<duration>"), std::string::npos);
}

TEST(GoDurationTest, FormatsAsGo) {
  EXPECT_EQ(FormatGoDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatGoDuration(absl::Milliseconds(200)), "200ms");
  EXPECT_EQ(FormatGoDuration(absl::Seconds(10)), "10s");
  EXPECT_EQ(FormatGoDuration(absl::Seconds(90)), "1m30s");
  EXPECT_EQ(FormatGoDuration(absl::Hours(1)), "1h0m0s");
  EXPECT_EQ(FormatGoDuration(absl::Milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatGoDuration(absl::Nanoseconds(1500)), "1.5\xC2\xB5s");
  EXPECT_EQ(FormatGoDuration(absl::Nanoseconds(7)), "7ns");
  EXPECT_EQ(FormatGoDuration(absl::Hours(26) + absl::Minutes(3) + absl::Milliseconds(500)), "26h3m0.5s");
  EXPECT_EQ(FormatGoDuration(-absl::Milliseconds(250)), "-250ms");
}

TEST(GoDurationTest, ParsesGoSyntaxOnly) {
  EXPECT_EQ(*ParseGoDuration("200ms"), absl::Milliseconds(200));
  EXPECT_EQ(*ParseGoDuration("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseGoDuration("0.5s"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseGoDuration("3\xC2\xB5s"), absl::Microseconds(3));
  EXPECT_EQ(*ParseGoDuration("0"), absl::ZeroDuration());
  EXPECT_FALSE(ParseGoDuration("inf").ok());
  EXPECT_FALSE(ParseGoDuration("10").ok());
  EXPECT_FALSE(ParseGoDuration("").ok());
  EXPECT_FALSE(ParseGoDuration("5 s").ok());
}

TEST(ColumnsTest, ColumnizeAsConsul) {
  // Fields trimmed, two spaces between columns, the last column unpadded, no final newline.
  EXPECT_EQ(Columnize({{"Node", "Address", "Status"}, {" n1 ", "127.0.0.1:8301", "alive"}, {"node-two", "[::1]:8301", "failed"}}),
            "Node      Address         Status\n"
            "n1        127.0.0.1:8301  alive\n"
            "node-two  [::1]:8301      failed");
  // A row whose last fields are empty keeps the padding before them, as columnize does.
  EXPECT_EQ(Columnize({{"ab", "c"}, {"a", ""}}), "ab  c\na   ");
  // Width in code points: "µ" is one column wide.
  EXPECT_EQ(Columnize({{"\xC2\xB5", "x"}, {"ab", "y"}}), "\xC2\xB5   x\nab  y");
}

TEST(ColumnsTest, TabAlignAsKvDetailed) {
  EXPECT_EQ(TabAlign({{"Key", "a"}, {"ModifyIndex", "12"}}), "Key              a\nModifyIndex      12");
}

TEST(ColumnsTest, GoQuote) {
  EXPECT_EQ(GoQuote("10.0.0.5:8300"), "\"10.0.0.5:8300\"");
  EXPECT_EQ(GoQuote(""), "\"\"");
  EXPECT_EQ(GoQuote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\x01\"");
}

}  // namespace
}  // namespace muster::cli
