// Go's encoding/json output: MarshalIndent's layout (nesting, empty containers, field order
// kept), Encoder's compact line, and Go's string escaping (HTML-safe, U+2028, invalid UTF-8).
#include "cmd/cli/go_json.h"

#include "gtest/gtest.h"

namespace muster::cli {
namespace {

TEST(GoJsonTest, MarshalIndentLayout) {
  std::optional<OrderedJson> value =
      ParseOrderedJson(R"({"Z":1,"A":[true,null,{"k":"v","e":{}}],"Empty":[],"N":-2.5})");
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(GoMarshalIndent(*value, "    "),
            "{\n"
            "    \"Z\": 1,\n"
            "    \"A\": [\n"
            "        true,\n"
            "        null,\n"
            "        {\n"
            "            \"k\": \"v\",\n"
            "            \"e\": {}\n"
            "        }\n"
            "    ],\n"
            "    \"Empty\": [],\n"
            "    \"N\": -2.5\n"
            "}");
  EXPECT_EQ(GoMarshalIndent(OrderedJson(nullptr), "    "), "null");
  EXPECT_EQ(GoMarshalIndent(OrderedJson::array(), "\t"), "[]");
}

TEST(GoJsonTest, EncodeIsCompactWithANewline) {
  std::optional<OrderedJson> value = ParseOrderedJson(R"({ "b" : [1, 2], "a" : {"x": "y"} })");
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(GoEncode(*value), "{\"b\":[1,2],\"a\":{\"x\":\"y\"}}\n");
  EXPECT_EQ(GoEncode(OrderedJson(18446744073709551615ull)), "18446744073709551615\n");  // uint64 flags kept
}

TEST(GoJsonTest, StringsEscapedAsGo) {
  EXPECT_EQ(GoJsonString("a<b>&\"\\\n\t\x01"), "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\t\\u0001\"");
  EXPECT_EQ(GoJsonString("\xE2\x80\xA8 \xC3\xA9 \xFF"), "\"\\u2028 \xC3\xA9 \\ufffd\"");
  EXPECT_FALSE(ParseOrderedJson("{nope").has_value());
}

}  // namespace
}  // namespace muster::cli
