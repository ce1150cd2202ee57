// Randomized tests of the HTTP API's router (issue 12, "Bad input"): from fixed seeds, thousands
// of requests that io/http could hand it — every method, paths of Consul's endpoints with odd
// bytes, percent signs, NULs, invalid UTF-8 and huge lengths after them, query parameters
// repeated, huge, and of every wrong form, bodies of random bytes and random or deep JSON — go
// through Route(), and Answer() gets odd agent Responses (every status code, bodies that are
// not a Reply, Reply bodies that are not JSON, extreme indexes). Each must give one well-formed
// answer: a status Consul uses, header fields that cannot split a response, JSON that parses
// where the answer says JSON, and a Call the agent can read back (every string field UTF-8 and
// bounded, so the proto round-trips). Paths of endpoints not written yet are in the list too:
// they are fuzzed as they land.
//
// gcc has no -fsanitize=fuzzer, so this is a seeded gtest (the issue allows one); a failure
// prints the seed, the case number and the request.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/rng.h"
#include "gtest/gtest.h"
#include "io/api/router.h"
#include "nlohmann/json.hpp"

namespace muster::io::api {
namespace {

// The fixed seeds make test runs, or seeds 1..N with MUSTER_FUZZ_SEEDS=N for a long sweep run
// from bazel-out outside make test (a failure names its seed either way).
const std::vector<uint64_t>& Seeds() {
  static const std::vector<uint64_t>* seeds = [] {
    auto* v = new std::vector<uint64_t>{1, 2, 3, 20261201};
    if (const char* n = std::getenv("MUSTER_FUZZ_SEEDS"); n != nullptr && std::atoi(n) > 0) {
      v->clear();
      for (int s = 1; s <= std::atoi(n); ++s) v->push_back(static_cast<uint64_t>(s));
    }
    return v;
  }();
  return *seeds;
}

constexpr int kRequestsPerSeed = 2500;
// Agent answers tried on each routed request.
constexpr int kAnswersPerRequest = 3;

// Consul's paths (issue 12's endpoint list), prefixes with their trailing '/'.
const char* const kPaths[] = {
    "/v1/status/leader", "/v1/status/peers", "/v1/kv/", "/v1/txn", "/v1/event/fire/", "/v1/event/list",
    "/v1/catalog/register", "/v1/catalog/deregister", "/v1/catalog/datacenters", "/v1/catalog/nodes",
    "/v1/catalog/services", "/v1/catalog/service/", "/v1/catalog/node/", "/v1/catalog/node-services/",
    "/v1/health/node/", "/v1/health/checks/", "/v1/health/service/", "/v1/health/state/",
    "/v1/agent/self", "/v1/agent/members", "/v1/agent/join/", "/v1/agent/leave", "/v1/agent/force-leave/",
    "/v1/agent/reload", "/v1/agent/services", "/v1/agent/service/", "/v1/agent/checks",
    "/v1/agent/service/register", "/v1/agent/service/deregister/", "/v1/agent/check/register",
    "/v1/agent/check/deregister/", "/v1/agent/check/pass/", "/v1/agent/check/warn/", "/v1/agent/check/fail/",
    "/v1/agent/check/update/", "/v1/agent/maintenance", "/v1/agent/service/maintenance/",
    "/v1/agent/health/service/name/", "/v1/session/create", "/v1/session/destroy/", "/v1/session/renew/",
    "/v1/session/info/", "/v1/session/node/", "/v1/session/list", "/v1/operator/raft/configuration",
    "/v1/operator/raft/peer", "/v1/operator/autopilot/configuration", "/v1/operator/autopilot/health",
    "/", "", "/v1", "/v1/", "/v2/kv/a", "/ui/",
};

const char* const kMethods[] = {"GET", "PUT", "DELETE", "POST", "HEAD", "OPTIONS", "PATCH", "CONNECT",
                                "TRACE", "get", "", "PURGE", "M-SEARCH", "GET\r\nX: y"};

// Every parameter some endpoint reads, and a few none does.
const char* const kParams[] = {"dc", "stale", "consistent", "index", "wait", "recurse", "keys", "separator",
                               "seperator", "raw", "flags", "cas", "acquire", "release", "pretty", "wan", "id",
                               "address", "tag", "passing", "node-meta", "near", "filter", "name", "token",
                               "segment", "note", "enable", "reason", "service", "node", "limit", "cached",
                               "", "Dc", "INDEX"};

// Values drawn from what breaks parsers of them.
const char* const kValues[] = {
    "", "0", "1", "-1", "+1", "01", "42", "18446744073709551615", "18446744073709551616", "99999999999999999999999",
    "0x10", "1e3", " 1", "1 ", "dc1", "dc2", "DC1", "10s", "0s", "-5s", "10m1s", "11m", "9999999h", "1.5ms",
    "1\xC2\xB5s", "inf", "5", "abc", "/", "a/b/", "\xFF", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80",
    "\xE2\x82", "\r\nX-Injected: 1", "passing", "any", "critical", "a:b",
    "Node == \"x\"", "_agent", "\xC3\xA9", "\xF0\x9F\x98\x80",
};

// Bytes that go after a path prefix: an odd key, node name, session ID, check ID.
const char* const kSuffixPieces[] = {
    "a", "key", "a/b", "/", "//", "..", "../..", "%", "%2F", "%00", "?", "#", "&", "=", " ", "\t", "\r\n",
    "\xFF", "\xC0\x80", "\xED\xA0\x80", "\xF0\x9F\x98\x80", "\xC3\xA9", "any", "passing", "warning", "critical",
    "serfHealth", "9f2b2a4e-5b1e-4c1d-8e1f-000000000000", "127.0.0.1:8301", "[::1]:8301",
};

std::string Shown(const std::string& bytes) {
  std::string escaped = absl::CHexEscape(bytes.substr(0, 300));
  if (bytes.size() > 300) absl::StrAppend(&escaped, "... (", bytes.size(), " bytes)");
  return escaped;
}

std::string Shown(const http::Request& request) {
  std::string out = absl::StrCat(Shown(request.method), " ", Shown(request.path));
  for (const auto& [key, value] : request.query) absl::StrAppend(&out, " [", Shown(key), "=", Shown(value), "]");
  absl::StrAppend(&out, " body=", Shown(request.body));
  return out;
}

// ---- Requests --------------------------------------------------------------------------------

// An endpoint the router serves, and the methods it takes.
struct Served {
  std::string path;
  std::vector<std::string> methods;
};

// The endpoints of kPaths the router serves now, found as a client would: OPTIONS answers 200
// with their Allow. So the fuzzer aims at what exists, whatever others have added.
std::vector<Served> ServedEndpoints() {
  std::vector<Served> served;
  for (std::string path : kPaths) {
    http::Request options;
    options.method = "OPTIONS";
    options.path = path.empty() || path.back() != '/' ? path : path + "a";
    auto answer = Route(options, RouterOptions{});
    const http::Response* response = std::get_if<http::Response>(&answer);
    if (response == nullptr || response->status != 200 || response->headers.Find("Allow") == nullptr) continue;
    Served endpoint{path, {}};
    for (absl::string_view method : absl::StrSplit(*response->headers.Find("Allow"), ',')) {
      if (method != "OPTIONS") endpoint.methods.emplace_back(method);
    }
    served.push_back(std::move(endpoint));
  }
  return served;
}

class RequestFuzzer {
 public:
  explicit RequestFuzzer(Rng& rng) : rng_(rng), served_(ServedEndpoints()) {}

  size_t served_count() const { return served_.size(); }

  template <typename T, size_t n>
  const T& Pick(const T (&items)[n]) {
    return items[rng_.Uniform(n)];
  }

  std::string RandomBytes(size_t n) {
    std::string out(n, '\0');
    for (char& c : out) c = static_cast<char>(rng_.Uniform(256));
    return out;
  }

  std::string Suffix() {
    std::string out;
    for (uint64_t n = rng_.Uniform(5); n > 0; --n) out += Pick(kSuffixPieces);
    if (rng_.Bernoulli(0.05)) out += std::string(rng_.Bernoulli(0.5) ? 8 * 1024 + rng_.Uniform(3) - 1 : 513, 'k');
    if (rng_.Bernoulli(0.03)) out += std::string(60 * 1024, 'x');
    if (rng_.Bernoulli(0.05)) out += RandomBytes(rng_.Uniform(16));
    return out;
  }

  std::string Path(const Served* endpoint) {
    std::string path = endpoint != nullptr ? endpoint->path : std::string(Pick(kPaths));
    if (!path.empty() && path.back() == '/' && rng_.Bernoulli(0.9)) path += Suffix();
    if (rng_.Bernoulli(0.1)) path = Mutate(std::move(path));
    if (rng_.Bernoulli(0.02)) path = RandomBytes(rng_.Uniform(64));
    return path;
  }

  std::string Value() {
    if (rng_.Bernoulli(0.1)) return RandomBytes(rng_.Uniform(12));
    if (rng_.Bernoulli(0.02)) return std::string(rng_.Bernoulli(0.5) ? 513 : 40 * 1024, 'v');
    if (rng_.Bernoulli(0.02)) return std::string("a\0b", 3);
    return Pick(kValues);
  }

  // A value every numeric, duration and name parameter takes.
  std::string FineValue() {
    static const char* const kFine[] = {"", "0", "1", "42", "dc1", "10s", "a", "/"};
    return Pick(kFine);
  }

  std::vector<std::pair<std::string, std::string>> Query() {
    std::vector<std::pair<std::string, std::string>> query;
    // Half the requests carry only values that parse, so they reach the endpoints' own checks.
    if (rng_.Bernoulli(0.5)) {
      for (uint64_t n = rng_.Uniform(4); n > 0; --n) query.emplace_back(Pick(kParams), FineValue());
      return query;
    }
    // Mostly a few; sometimes thousands, as a request head of 64 KiB can carry.
    const uint64_t n = rng_.Bernoulli(0.03) ? 2000 + rng_.Uniform(2000) : rng_.Uniform(6);
    for (uint64_t i = 0; i < n; ++i) query.emplace_back(Pick(kParams), rng_.Bernoulli(0.3) ? "" : Value());
    return query;
  }

  // A random JSON value, sometimes nested deep; `valid` false cuts or corrupts it.
  std::string Json(int depth = 0) {
    switch (rng_.Uniform(depth > 3 ? 4 : 6)) {
      case 0: return "null";
      case 1: return rng_.Bernoulli(0.5) ? "true" : "-1e400";
      case 2: {
        static const char* const kNumbers[] = {"0", "-0", "15", "1.5", "18446744073709551616", "1e400", "-1"};
        return Pick(kNumbers);
      }
      case 3: return absl::StrCat("\"", absl::CEscape(Value()), "\"");
      case 4: {
        std::string out = "[";
        for (uint64_t n = rng_.Uniform(4); n > 0; --n) absl::StrAppend(&out, Json(depth + 1), n > 1 ? "," : "");
        return out + "]";
      }
      default: {
        static const char* const kKeys[] = {"Name", "name", "TTL", "ttl", "LockDelay", "Behavior", "Checks",
                                            "NodeChecks", "ServiceChecks", "ID", "Node", "Address", "Service",
                                            "Check", "KV", "Verb", "Key", "Value", "CleanupDeadServers",
                                            "MinQuorum", "LastContactThreshold", "Payload", ""};
        std::string out = "{";
        for (uint64_t n = rng_.Uniform(5); n > 0; --n) {
          absl::StrAppend(&out, "\"", Pick(kKeys), "\":", Json(depth + 1), n > 1 ? "," : "");
        }
        return out + "}";
      }
    }
  }

  std::string Body() {
    switch (rng_.Uniform(7)) {
      case 0: return "";
      case 1: return RandomBytes(rng_.Uniform(rng_.Bernoulli(0.1) ? 600 * 1024 : 64));
      case 2: {
        const size_t levels = rng_.Bernoulli(0.5) ? 9 : 30000;
        std::string deep = "{\"Name\":";
        for (size_t i = 0; i < levels; ++i) deep += "[";
        for (size_t i = 0; i < levels; ++i) deep += "]";
        return deep + "}";
      }
      case 3: return Mutate(Json());
      default: return Json();
    }
  }

  std::string Mutate(std::string text) {
    for (uint64_t edits = 1 + rng_.Uniform(4); edits > 0; --edits) {
      const size_t at = text.empty() ? 0 : rng_.Uniform(text.size());
      switch (rng_.Uniform(4)) {
        case 0:
          if (!text.empty()) text[at] = static_cast<char>(rng_.Uniform(256));
          break;
        case 1: text.insert(at, 1, static_cast<char>(rng_.Uniform(256))); break;
        case 2: text.erase(at, rng_.Uniform(6)); break;
        default: text.resize(at); break;
      }
    }
    return text;
  }

  http::Request Request() {
    http::Request request;
    // Mostly an endpoint that exists, with a method it takes, so most requests get past the
    // path and method checks to the parameters and bodies.
    const Served* endpoint = !served_.empty() && rng_.Bernoulli(0.8) ? &served_[rng_.Uniform(served_.size())] : nullptr;
    request.method = endpoint != nullptr && rng_.Bernoulli(0.85)
                         ? endpoint->methods[rng_.Uniform(endpoint->methods.size())]
                         : std::string(Pick(kMethods));
    request.path = Path(endpoint);
    request.query = Query();
    request.target = request.path;  // the router reads the decoded path and query, not this
    for (uint64_t n = rng_.Uniform(3); n > 0; --n) request.headers.Add(Pick(kParams), Value());
    request.body = Body();
    return request;
  }

  Rng& rng() { return rng_; }

 private:
  Rng& rng_;
  const std::vector<Served> served_;
};

// ---- Agent answers ---------------------------------------------------------------------------

const absl::StatusCode kCodes[] = {
    absl::StatusCode::kOk, absl::StatusCode::kCancelled, absl::StatusCode::kUnknown,
    absl::StatusCode::kInvalidArgument, absl::StatusCode::kDeadlineExceeded, absl::StatusCode::kNotFound,
    absl::StatusCode::kAlreadyExists, absl::StatusCode::kPermissionDenied, absl::StatusCode::kResourceExhausted,
    absl::StatusCode::kFailedPrecondition, absl::StatusCode::kAborted, absl::StatusCode::kOutOfRange,
    absl::StatusCode::kUnimplemented, absl::StatusCode::kInternal, absl::StatusCode::kUnavailable,
    absl::StatusCode::kDataLoss, absl::StatusCode::kUnauthenticated};

// An agent Response, odd in any way the agent could make it (or be broken into making it).
::muster::Response OddResponse(RequestFuzzer& fuzzer, std::string* reply_body) {
  Rng& rng = fuzzer.rng();
  ::muster::Response response;
  const absl::StatusCode code = fuzzer.Pick(kCodes);
  response.status = code == absl::StatusCode::kOk
                        ? absl::OkStatus()
                        : absl::Status(code, rng.Bernoulli(0.5) ? "No cluster leader" : fuzzer.Value());
  proto::agent::Reply reply;
  switch (rng.Uniform(5)) {
    case 0: reply.set_body(""); break;
    case 1: reply.set_body(fuzzer.RandomBytes(rng.Uniform(40))); break;
    case 2: reply.set_body(R"({"Healthy":false,"FailureTolerance":0,"Servers":[]})"); break;
    default: reply.set_body(fuzzer.Json()); break;
  }
  *reply_body = reply.body();
  static const uint64_t kNumbers[] = {0, 1, 42, uint64_t{1} << 63, UINT64_MAX};
  reply.set_index(fuzzer.Pick(kNumbers));
  reply.set_known_leader(rng.Bernoulli(0.5));
  reply.set_last_contact_ms(fuzzer.Pick(kNumbers));
  response.body = reply.SerializeAsString();
  // Not a Reply at all, now and then (a bug of the agent's): answered 500, never passed on.
  if (rng.Bernoulli(0.05)) {
    response.body = fuzzer.RandomBytes(1 + rng.Uniform(32));
    *reply_body = "";
  }
  return response;
}

// ---- What every answer must be ---------------------------------------------------------------

bool IsToken(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

// A status Consul answers with; header fields that cannot split the response; JSON where the
// answer says JSON (when the agent's body was JSON: the router passes the agent's body on).
void ExpectWellFormed(const http::Response& answer, std::optional<std::string> agent_body, const std::string& what) {
  // (503: Consul's /v1/agent/health/service answer for a critical service.)
  static const int kStatuses[] = {200, 400, 403, 404, 405, 409, 413, 429, 500, 503};
  EXPECT_NE(std::find(std::begin(kStatuses), std::end(kStatuses), answer.status), std::end(kStatuses))
      << answer.status << " for " << what;
  for (const auto& [name, value] : answer.headers.fields()) {
    EXPECT_TRUE(IsToken(name)) << Shown(name) << " for " << what;
    EXPECT_EQ(value.find_first_of(std::string("\r\n\0", 3)), std::string::npos)
        << Shown(name) << ": " << Shown(value) << " for " << what;
    EXPECT_FALSE(absl::EqualsIgnoreCase(name, "Content-Length")) << "io/http's to set, for " << what;
  }
  if (answer.status == 405) {
    const std::string* allow = answer.headers.Find("Allow");
    ASSERT_NE(allow, nullptr) << what;
    EXPECT_TRUE(absl::StartsWith(*allow, "OPTIONS,")) << *allow;
  }
  if (const std::string* index = answer.headers.Find("X-Consul-Index")) {
    EXPECT_NE(*index, "0") << "an index is never 0 (a blocking client would spin): " << what;
  }
  const std::string* type = answer.headers.Find("Content-Type");
  if (answer.body.empty()) return;
  EXPECT_NE(type, nullptr) << "a body without a Content-Type, for " << what;
  if (type != nullptr && absl::StartsWith(*type, "application/json") &&
      (!agent_body.has_value() || nlohmann::json::accept(*agent_body))) {
    EXPECT_TRUE(nlohmann::json::accept(answer.body)) << Shown(answer.body) << " for " << what;
  }
}

bool IsUtf8(const std::string& text) {
  // nlohmann refuses a string that is not UTF-8 when it writes JSON: a cheap, independent check.
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// A Call the agent can read: the proto round-trips (proto3 strings must be UTF-8), every
// string is bounded, and what the router decided is one of the documented values.
void ExpectReadableCall(const RoutedCall& routed, const http::Request& request, const std::string& what) {
  EXPECT_FALSE(routed.method.empty()) << what;
  const proto::agent::Call& call = routed.call;
  for (const std::string* field : {&call.key(), &call.separator(), &call.consistency(), &call.acquire(),
                                   &call.release(), &call.id(), &call.address()}) {
    EXPECT_TRUE(IsUtf8(*field)) << Shown(*field) << " in " << routed.method << " for " << what;
  }
  EXPECT_LE(call.key().size(), kKeyBytesMax) << what;
  for (const std::string* field : {&call.separator(), &call.acquire(), &call.release(), &call.id(), &call.address()}) {
    EXPECT_LE(field->size(), kParamBytesMax) << what;
  }
  for (const std::string& address : call.addresses()) {
    EXPECT_TRUE(IsUtf8(address)) << what;
    EXPECT_LE(address.size(), kParamBytesMax) << what;
  }
  EXPECT_TRUE(call.consistency().empty() || call.consistency() == "stale" || call.consistency() == "consistent")
      << call.consistency();
  EXPECT_LE(call.wait_ms(), 600'000u) << "Consul's 10 min wait maximum: " << what;
  // The bodies the router itself checks are JSON objects by the time they reach the agent
  // (others, as txn's, go as they came: the agent's decoder checks them).
  if (routed.method == "session.create" || routed.method == "operator.autopilot.set") {
    if (!call.json().empty()) {
      const nlohmann::json parsed = nlohmann::json::parse(call.json(), nullptr, /*allow_exceptions=*/false);
      EXPECT_TRUE(parsed.is_object()) << routed.method << ": " << Shown(call.json());
    }
  }
  if (routed.method == "kv.put") {
    EXPECT_EQ(call.value(), request.body) << "a KV value passes byte for byte";
  }
  std::string wire;
  ASSERT_TRUE(call.SerializeToString(&wire)) << what;
  proto::agent::Call back;
  ASSERT_TRUE(back.ParseFromString(wire)) << "the agent could not read the Call of " << what;
  EXPECT_EQ(back.SerializeAsString(), wire) << what;
}

TEST(RouterFuzzTest, EveryRequestGetsOneWellFormedAnswer) {
  int routed_count = 0, refused_count = 0, answered_count = 0;
  std::map<int, int> refusals_by_status;  // printed: what the inputs reached
  for (uint64_t seed : Seeds()) {
    Rng rng(seed);
    RequestFuzzer fuzzer(rng);
    ASSERT_GT(fuzzer.served_count(), 10u) << "OPTIONS finds the endpoints the router serves";
    for (int i = 0; i < kRequestsPerSeed; ++i) {
      const http::Request request = fuzzer.Request();
      RouterOptions options;
      options.strict_http_methods = rng.Bernoulli(0.3);
      const std::string what = absl::StrCat("seed ", seed, " case ", i, ": ", Shown(request));
      std::variant<RoutedCall, http::Response> routed = http::Response{};
      ASSERT_NO_THROW(routed = Route(request, options)) << what;
      if (auto* refused = std::get_if<http::Response>(&routed)) {
        ++refused_count;
        ++refusals_by_status[refused->status];
        ExpectWellFormed(*refused, std::nullopt, what);
        if (refused->status == 200) {
          EXPECT_EQ(request.method, "OPTIONS") << "only OPTIONS is answered 200 here: " << what;
        }
        continue;
      }
      ++routed_count;
      const RoutedCall& call = std::get<RoutedCall>(routed);
      ExpectReadableCall(call, request, what);
      // The same request routes the same way (the router holds nothing between requests).
      std::variant<RoutedCall, http::Response> again = Route(request, options);
      ASSERT_TRUE(std::holds_alternative<RoutedCall>(again)) << what;
      EXPECT_EQ(std::get<RoutedCall>(again).call.SerializeAsString(), call.call.SerializeAsString()) << what;
      for (int a = 0; a < kAnswersPerRequest; ++a) {
        std::string agent_body;
        const ::muster::Response response = OddResponse(fuzzer, &agent_body);
        http::Response answer;
        ASSERT_NO_THROW(answer = Answer(call, response)) << what;
        ++answered_count;
        ExpectWellFormed(answer, agent_body, absl::StrCat(what, " answered ", response.status.ToString(), " ",
                                                          Shown(agent_body)));
        if (!response.status.ok()) {
          EXPECT_NE(answer.status, 200) << what;
        }
      }
    }
  }
  // Both sides must be reached often, or the test shows little.
  // (Most refusals are by design: paths of endpoints not written yet, bad parameters.)
  EXPECT_GT(routed_count, kRequestsPerSeed / 4);
  EXPECT_GT(refused_count, kRequestsPerSeed / 2);
  std::cout << routed_count << " requests routed (" << answered_count << " odd answers), " << refused_count
            << " refused at the router:";
  for (const auto& [status, count] : refusals_by_status) std::cout << " " << status << " x" << count;
  std::cout << "\n";
}

// Router::Serve, with a fake agent answering odd Responses at once or never twice: each request
// is answered exactly once.
TEST(RouterFuzzTest, ServeAnswersEachRequestExactlyOnce) {
  Rng rng(7);
  RequestFuzzer fuzzer(rng);
  std::string agent_body;
  Router router(RouterOptions{}, [&](std::string, std::string body, std::function<void(const ::muster::Response&)> done) {
    proto::agent::Call call;
    EXPECT_TRUE(call.ParseFromString(body));
    done(OddResponse(fuzzer, &agent_body));
  });
  for (int i = 0; i < 2000; ++i) {
    const http::Request request = fuzzer.Request();
    int answers = 0;
    agent_body.clear();  // the agent's body, if the agent is asked
    router.Serve(request, [&](http::Response response) {
      ++answers;
      ExpectWellFormed(response, agent_body, Shown(request));
    });
    EXPECT_EQ(answers, 1) << "case " << i << ": " << Shown(request);
  }
}

// Edges chosen by hand, each once: the largest key and one byte more, a path that is all
// percent signs and NULs, thousands of repeated parameters, and a ?pretty answer of a deep
// agent body.
TEST(RouterFuzzTest, Edges) {
  auto request = [](std::string method, std::string path) {
    http::Request r;
    r.method = std::move(method);
    r.path = path;
    r.target = std::move(path);
    return r;
  };
  RouterOptions options;
  {
    auto routed = Route(request("GET", "/v1/kv/" + std::string(kKeyBytesMax, 'k')), options);
    EXPECT_TRUE(std::holds_alternative<RoutedCall>(routed));
    auto refused = Route(request("GET", "/v1/kv/" + std::string(kKeyBytesMax + 1, 'k')), options);
    ASSERT_TRUE(std::holds_alternative<http::Response>(refused));
    EXPECT_EQ(std::get<http::Response>(refused).status, 400);
  }
  {
    auto refused = Route(request("PUT", std::string("/v1/kv/\xFF", 8)), options);
    ASSERT_TRUE(std::holds_alternative<http::Response>(refused));
    EXPECT_EQ(std::get<http::Response>(refused).status, 400);
  }
  {
    http::Request r = request("GET", "/v1/kv/a");
    for (int i = 0; i < 10000; ++i) r.query.emplace_back("index", "5");
    r.query.emplace_back("index", "x");  // only the first counts, as Go's Query().Get
    auto routed = Route(r, options);
    ASSERT_TRUE(std::holds_alternative<RoutedCall>(routed));
    EXPECT_EQ(std::get<RoutedCall>(routed).call.min_index(), 5u);
  }
  {
    // A deep agent body re-indented for ?pretty (nlohmann's dump recurses: the agent's bodies
    // are shallow, but a deep one must still come out whole).
    RoutedCall routed;
    routed.method = "kv.get";
    routed.pretty = true;
    std::string deep;
    for (int i = 0; i < 2000; ++i) deep += "[";
    for (int i = 0; i < 2000; ++i) deep += "]";
    proto::agent::Reply reply;
    reply.set_body(deep);
    ::muster::Response response;
    response.body = reply.SerializeAsString();
    http::Response answer = Answer(routed, response);
    EXPECT_EQ(answer.status, 200);
    EXPECT_TRUE(nlohmann::json::accept(answer.body));
  }
}

}  // namespace
}  // namespace muster::io::api
