// ?filter= expressions on catalog and health rows: each operator on each kind of field, the
// logic around them, lists matched by any element, and the refusals (syntax, unknown
// selectors, operators a type does not take, bounds) that come back as Consul's 400s.
#include "core/agent/catalog_filter.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "core/base/rng.h"
#include "gtest/gtest.h"

namespace muster::agent {
namespace {

using Json = nlohmann::ordered_json;

Json ServiceRow() {
  return Json::parse(R"({
    "ID": "11111111-2222-3333-4444-555555555555", "Node": "web-1", "Address": "10.0.0.1",
    "Datacenter": "dc1", "TaggedAddresses": {"lan": "10.0.0.1", "wan": "192.0.2.1"},
    "NodeMeta": {"rack": "r1", "env": ""}, "ServiceKind": "", "ServiceID": "web-8080",
    "ServiceName": "web", "ServiceTags": ["v1", "primary"], "ServiceAddress": "",
    "ServiceTaggedAddresses": {"lan": {"address": "10.0.0.9", "port": 8081}},
    "ServiceWeights": {"Passing": 3, "Warning": 1}, "ServiceMeta": {"version": "1.2.3"},
    "ServicePort": 8080, "ServiceEnableTagOverride": false, "CreateIndex": 5, "ModifyIndex": 7})");
}

Json HealthRow(std::string serf_status, std::string service_status) {
  Json row = Json::parse(R"({"Node": {"Node": "web-1", "Address": "10.0.0.1", "Meta": {"rack": "r1"}},
    "Service": {"ID": "web-8080", "Service": "web", "Tags": ["v1"], "Port": 8080, "Meta": {}},
    "Checks": [{"CheckID": "serfHealth", "Status": ""}, {"CheckID": "service:web", "Status": ""}]})");
  row["Checks"][0]["Status"] = serf_status;
  row["Checks"][1]["Status"] = service_status;
  return row;
}

bool Match(std::string_view filter, const Json& row, FilterSubject subject = FilterSubject::kServiceNode) {
  absl::StatusOr<CatalogFilter> f = CatalogFilter::Parse(filter, subject);
  EXPECT_TRUE(f.ok()) << filter << ": " << f.status();
  return f.ok() && f->Matches(row);
}

std::string Refusal(std::string_view filter, FilterSubject subject = FilterSubject::kServiceNode) {
  absl::StatusOr<CatalogFilter> f = CatalogFilter::Parse(filter, subject);
  EXPECT_FALSE(f.ok()) << filter << " was accepted";
  if (f.ok()) return "";
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(f.status().message());
}

TEST(CatalogFilterTest, EmptyMatchesEverything) {
  for (std::string_view text : {"", "   ", "\t\n"}) {
    absl::StatusOr<CatalogFilter> f = CatalogFilter::Parse(text, FilterSubject::kNode);
    ASSERT_TRUE(f.ok());
    EXPECT_TRUE(f->empty());
    EXPECT_TRUE(f->Matches(Json::object()));
  }
}

TEST(CatalogFilterTest, EqualityOnStringsNumbersAndBooleans) {
  const Json row = ServiceRow();
  EXPECT_TRUE(Match("ServiceName == web", row));
  EXPECT_TRUE(Match("ServiceName == \"web\"", row));
  EXPECT_TRUE(Match("ServiceName == `web`", row));
  EXPECT_FALSE(Match("ServiceName == db", row));
  EXPECT_TRUE(Match("ServiceName != db", row));
  EXPECT_TRUE(Match("ServicePort == 8080", row));
  EXPECT_TRUE(Match("ServicePort == \"8080\"", row));
  EXPECT_FALSE(Match("ServicePort != 8080", row));
  EXPECT_TRUE(Match("ServiceEnableTagOverride == false", row));
  EXPECT_TRUE(Match("ServiceEnableTagOverride != true", row));
  EXPECT_TRUE(Match("ServiceWeights.Passing == 3", row));
  EXPECT_TRUE(Match("Address == 10.0.0.1", row));
  EXPECT_TRUE(Match("ServiceMeta.version == 1.2.3", row));
}

TEST(CatalogFilterTest, MapsByKeyEitherSpelling) {
  const Json row = ServiceRow();
  EXPECT_TRUE(Match("NodeMeta.rack == r1", row));
  EXPECT_TRUE(Match("NodeMeta[\"rack\"] == r1", row));
  EXPECT_TRUE(Match("TaggedAddresses.wan == \"192.0.2.1\"", row));
  EXPECT_TRUE(Match("ServiceTaggedAddresses.lan.Port == 8081", row));  // JSON keeps "port"
  EXPECT_TRUE(Match("ServiceTaggedAddresses.lan.Address == \"10.0.0.9\"", row));
  // A key that is not there: never equal, always "not equal" and empty.
  EXPECT_FALSE(Match("NodeMeta.zone == r1", row));
  EXPECT_TRUE(Match("NodeMeta.zone != r1", row));
  EXPECT_TRUE(Match("NodeMeta.zone is empty", row));
  EXPECT_FALSE(Match("NodeMeta.zone is not empty", row));
  EXPECT_TRUE(Match("NodeMeta.env is empty", row));  // present, but ""
  EXPECT_TRUE(Match("rack in NodeMeta", row));
  EXPECT_TRUE(Match("NodeMeta contains env", row));
  EXPECT_TRUE(Match("zone not in NodeMeta", row));
  EXPECT_FALSE(Match("ServiceTaggedAddresses.wan.Port == 8081", row));
}

TEST(CatalogFilterTest, ListsStringsAndEmptiness) {
  const Json row = ServiceRow();
  EXPECT_TRUE(Match("v1 in ServiceTags", row));
  EXPECT_TRUE(Match("\"primary\" in ServiceTags", row));
  EXPECT_FALSE(Match("v2 in ServiceTags", row));
  EXPECT_TRUE(Match("v2 not in ServiceTags", row));
  EXPECT_TRUE(Match("ServiceTags contains v1", row));
  EXPECT_TRUE(Match("ServiceTags not contains v3", row));
  EXPECT_FALSE(Match("ServiceTags contains v", row));  // elements, not substrings
  EXPECT_TRUE(Match("ServiceName contains we", row));  // substrings of a string
  EXPECT_TRUE(Match("eb in ServiceName", row));
  EXPECT_TRUE(Match("ServiceTags is not empty", row));
  EXPECT_TRUE(Match("ServiceAddress is empty", row));
  EXPECT_TRUE(Match("ServiceMeta is not empty", row));
  EXPECT_TRUE(Match("ServiceKind is empty", row));
}

TEST(CatalogFilterTest, MatchesUsesRe2) {
  const Json row = ServiceRow();
  EXPECT_TRUE(Match("ServiceName matches \"^w.b$\"", row));
  EXPECT_TRUE(Match("ServiceID matches \"[0-9]+\"", row));  // unanchored, as Go's MatchString
  EXPECT_FALSE(Match("ServiceName matches \"^db\"", row));
  EXPECT_TRUE(Match("ServiceName not matches \"^db\"", row));
  // A pattern that backtracks exponentially elsewhere is linear here.
  Json slow = row;
  slow["ServiceName"] = std::string(5000, 'a') + "!";
  EXPECT_FALSE(Match("ServiceName matches \"^(a+)+$\"", slow));
  EXPECT_NE(Refusal("ServiceName matches \"(\""), "");
}

TEST(CatalogFilterTest, LogicAndPrecedence) {
  const Json row = ServiceRow();
  EXPECT_TRUE(Match("ServiceName == web and ServicePort == 8080", row));
  EXPECT_FALSE(Match("ServiceName == web and ServicePort == 80", row));
  EXPECT_TRUE(Match("ServiceName == db or ServicePort == 8080", row));
  EXPECT_TRUE(Match("not ServiceName == db", row));
  EXPECT_FALSE(Match("not (ServiceName == web)", row));
  // and binds tighter than or; not tighter than and.
  EXPECT_TRUE(Match("ServiceName == db and ServicePort == 1 or v1 in ServiceTags", row));
  EXPECT_FALSE(Match("ServiceName == db and (ServicePort == 1 or v1 in ServiceTags)", row));
  EXPECT_TRUE(Match("not ServiceName == db and not ServicePort == 1", row));
  EXPECT_TRUE(Match("((((ServiceName == web))))", row));
}

TEST(CatalogFilterTest, HealthRowsMatchListsByAnyElement) {
  const Json healthy = HealthRow("passing", "passing");
  const Json sick = HealthRow("passing", "critical");
  auto subject = FilterSubject::kCheckServiceNode;
  EXPECT_TRUE(Match("Checks.Status == passing", healthy, subject));
  EXPECT_TRUE(Match("Checks.Status == passing", sick, subject));  // any check passing
  EXPECT_FALSE(Match("Checks.Status == critical", healthy, subject));
  EXPECT_TRUE(Match("Checks.Status == critical", sick, subject));
  EXPECT_TRUE(Match("not Checks.Status == critical", healthy, subject));
  EXPECT_TRUE(Match("Node.Meta.rack == r1 and Service.Port == 8080", healthy, subject));
  EXPECT_TRUE(Match("v1 in Service.Tags", healthy, subject));
  EXPECT_TRUE(Match("Checks is not empty", healthy, subject));
  EXPECT_TRUE(Match("Checks.CheckID == serfHealth", healthy, subject));
  // A field a row leaves out is its Go zero value.
  EXPECT_TRUE(Match("Service.Kind is empty", healthy, subject));
  EXPECT_TRUE(Match("Service.Weights.Passing == 0", healthy, subject));
}

TEST(CatalogFilterTest, EachSubjectHasItsOwnSelectors) {
  Json node = Json::parse(R"({"ID": "x", "Node": "a", "Meta": {"k": "v"}})");
  EXPECT_TRUE(Match("Meta.k == v", node, FilterSubject::kNode));
  EXPECT_NE(Refusal("ServiceName == web", FilterSubject::kNode), "");
  Json check = Json::parse(R"({"Node": "a", "CheckID": "serfHealth", "Status": "passing"})");
  EXPECT_TRUE(Match("CheckID == serfHealth and Status == passing", check, FilterSubject::kHealthCheck));
  EXPECT_NE(Refusal("Meta.k == v", FilterSubject::kHealthCheck), "");
  Json service = Json::parse(R"({"ID": "web", "Service": "web", "Tags": ["a"], "Port": 80})");
  EXPECT_TRUE(Match("Service == web and a in Tags and Port == 80", service, FilterSubject::kNodeService));
}

TEST(CatalogFilterTest, RefusalsNameTheProblemInConsulsWords) {
  EXPECT_EQ(Refusal("Nope == 1"), "Failed to create boolean expression evaluator: Selector \"Nope\" is not valid");
  EXPECT_EQ(Refusal("servicename == web"),
            "Failed to create boolean expression evaluator: Selector \"servicename\" is not valid");
  EXPECT_EQ(Refusal("ServiceWeights == 1"),  // a struct is not a value
            "Failed to create boolean expression evaluator: Selector \"ServiceWeights\" is not valid");
  EXPECT_EQ(Refusal("ServiceName.x == 1"),
            "Failed to create boolean expression evaluator: Selector \"ServiceName.x\" is not valid");
  EXPECT_EQ(Refusal("ServicePort contains 8"),
            "Failed to create boolean expression evaluator: Invalid match operator \"in / contains\" for selector "
            "\"ServicePort\"");
  EXPECT_EQ(Refusal("ServiceTags == v1"),
            "Failed to create boolean expression evaluator: Invalid match operator \"==\" for selector "
            "\"ServiceTags\"");
  EXPECT_EQ(Refusal("ServicePort == http"),
            "Failed to create boolean expression evaluator: Failed to coerce value \"http\" to an integer for "
            "selector \"ServicePort\"");
  EXPECT_EQ(Refusal("ServiceEnableTagOverride == maybe"),
            "Failed to create boolean expression evaluator: Failed to coerce value \"maybe\" to a bool for "
            "selector \"ServiceEnableTagOverride\"");
  EXPECT_EQ(Refusal("ServiceName =="), "Failed to create boolean expression evaluator: 1:15 (14): expected a value");
  EXPECT_EQ(Refusal("ServiceName = web"),
            "Failed to create boolean expression evaluator: 1:13 (12): unexpected character '='");
  for (std::string_view bad :
       {"(ServiceName == web", "ServiceName == web)", "ServiceName == \"web", "and", "ServiceName is full",
        "ServiceName == web and", "ServiceName web", "\"v1\" ServiceTags", "NodeMeta[\"rack] == 1",
        "ServiceName == \"a\\qb\"", "in in ServiceTags", "ServiceName ~= web", "Meta[rack] == 1"}) {
    EXPECT_NE(Refusal(bad), "") << bad;
  }
}

TEST(CatalogFilterTest, ErrorsAreUtf8WhateverTheFilter) {
  // A character outside the language is quoted whole, not by its first byte.
  EXPECT_EQ(Refusal("ServiceName == web \u00e9"),
            "Failed to create boolean expression evaluator: 1:20 (19): unexpected character '\u00e9'");
  EXPECT_EQ(Refusal("ServiceName == \u20ac"),
            "Failed to create boolean expression evaluator: 1:16 (15): unexpected character '\u20ac'");
  // Bytes that are no character at all (only a caller past the router's UTF-8 check could send
  // them) are written as \xNN.
  EXPECT_EQ(Refusal("ServiceName == \xc3"),
            "Failed to create boolean expression evaluator: 1:16 (15): unexpected character '\\xc3'");
  EXPECT_EQ(Refusal("\"\xff\" in Nope"), "Failed to create boolean expression evaluator: Selector \"Nope\" is not valid");
  EXPECT_EQ(Refusal("ServiceName == \"\xff\" and Nope == 1"),
            "Failed to create boolean expression evaluator: Selector \"Nope\" is not valid");
  EXPECT_EQ(Refusal("ServicePort == \"\xff\""),
            "Failed to create boolean expression evaluator: Failed to coerce value \"\\xff\" to an integer for "
            "selector \"ServicePort\"");
}

TEST(CatalogFilterTest, BoundedInLengthDepthAndTerms) {
  std::string deep;
  for (int i = 0; i < kFilterDepthMax + 1; ++i) deep += "(";
  deep += "ServiceName == web";
  for (int i = 0; i < kFilterDepthMax + 1; ++i) deep += ")";
  EXPECT_NE(Refusal(deep).find("nested deeper than"), std::string::npos);
  std::string nots;
  for (int i = 0; i < 1000; ++i) nots += "not ";
  EXPECT_NE(Refusal(nots + "ServiceName == web").find("nested deeper than"), std::string::npos);
  // Within the depth bound, nesting works.
  std::string fine = "ServiceName == web";
  for (int i = 0; i < kFilterDepthMax - 2; ++i) fine = "(" + fine + ")";
  EXPECT_TRUE(Match(fine, ServiceRow()));
  // Long chains are flat (no depth), but the terms are bounded.
  std::string chain = "ServiceName == web";
  for (size_t i = 1; i < kFilterTermsMax; ++i) chain += " and ID != x";
  ASSERT_LE(chain.size(), kFilterBytesMax);
  EXPECT_TRUE(Match(chain, ServiceRow()));
  EXPECT_NE(Refusal(chain + " and v1 in ServiceTags").find("more than"), std::string::npos);
  EXPECT_NE(Refusal("ServiceName == \"" + std::string(kFilterBytesMax, 'x') + "\"").find("longer than"),
            std::string::npos);
}

// Seeded random filters (token soup from the language's own words, mutated, and raw bytes)
// against every subject: each is a filter or Consul's named 400, never a crash or a hang, and
// an accepted one matches rows of any shape (even ones that are not the subject's).
TEST(CatalogFilterTest, RandomFiltersParseOrAreRefusedNamed) {
  const std::vector<std::string> words = {
      "ServiceName", "ServiceTags", "ServiceMeta.version", "NodeMeta[\"rack\"]", "Checks.Status", "Service.Port",
      "Node.Meta.rack", "ServicePort", "ServiceEnableTagOverride", "Meta", "Tags", "Status", "ID", "Port",
      "ServiceTaggedAddresses.lan.Port", "Weights.Passing", "==", "!=", "is", "not", "empty", "in", "contains",
      "matches", "and", "or", "(", ")", "\"v1\"", "`raw`", "passing", "8080", "-1", "true", "\"^a.*(b|c)+$\"",
      "\"(\"", "\"\\\"\"", "[", "]", ".", "\"", "=", "!", "\\"};
  const FilterSubject subjects[] = {FilterSubject::kNode, FilterSubject::kServiceNode, FilterSubject::kNodeService,
                                    FilterSubject::kHealthCheck, FilterSubject::kCheckServiceNode};
  const Json rows[] = {ServiceRow(), HealthRow("passing", "critical"), Json::object(), Json::array({1, 2}),
                       Json::parse(R"({"Checks": 3, "Service": [], "ServiceTags": {"a": 1}, "Meta": "x"})")};
  Rng rng(20261201);
  size_t accepted = 0;
  const int runs = 20000;
  for (int run = 0; run < runs; ++run) {
    std::string text;
    const size_t tokens = rng.Uniform(run % 10 == 0 ? 400 : 12);
    for (size_t t = 0; t < tokens; ++t) {
      if (rng.Bernoulli(0.05)) {
        text.push_back(static_cast<char>(rng.Uniform(256)));
      } else {
        text += words[rng.Uniform(words.size())];
      }
      if (rng.Bernoulli(0.9)) text.push_back(' ');
    }
    const FilterSubject subject = subjects[rng.Uniform(std::size(subjects))];
    absl::StatusOr<CatalogFilter> f = CatalogFilter::Parse(text, subject);
    if (!f.ok()) {
      ASSERT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << text;
      ASSERT_TRUE(absl::StartsWith(f.status().message(), "Failed to create boolean expression evaluator: ")) << text;
      // Whatever the filter, the message can travel in a proto3 string (a forwarded answer).
      ASSERT_FALSE(Json(std::string(f.status().message())).dump(-1, ' ', false, Json::error_handler_t::strict).empty());
      continue;
    }
    ++accepted;
    for (const Json& row : rows) (void)f->Matches(row);
  }
  // Some of the soup must be valid, or the test says nothing about matching.
  EXPECT_GT(accepted, runs / 100u);
}

}  // namespace
}  // namespace muster::agent
