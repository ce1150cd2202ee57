#include "io/api/router.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/go_duration.h"
#include "core/base/strings.h"
#include "nlohmann/json.hpp"

namespace muster::io::api {
namespace {

using Json = nlohmann::json;
// Keeps the agent's key order when re-indenting (Consul's ?pretty indents its structs in
// field order).
using OrderedJson = nlohmann::ordered_json;
using Routed = std::variant<RoutedCall, http::Response>;

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

http::Response Text(int status, std::string body) {
  http::Response response;
  response.status = status;
  if (!body.empty()) response.headers.Add("Content-Type", std::string(kTextPlain));
  response.body = std::move(body);
  return response;
}

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
bool IsUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    size_t length;
    unsigned char second_min = 0x80, second_max = 0xBF;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) second_min = 0xA0;
      if (lead == 0xED) second_max = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) second_min = 0x90;
      if (lead == 0xF4) second_max = 0x8F;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    const unsigned char second = static_cast<unsigned char>(text[i + 1]);
    if (second < second_min || second > second_max) return false;
    for (size_t k = 2; k < length; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if (next < 0x80 || next > 0xBF) return false;
    }
    i += length;
  }
  return true;
}

// A string a client sent, checked before it goes into a Call: at most `bytes_max`, UTF-8.
std::optional<http::Response> CheckString(std::string_view what, std::string_view value, size_t bytes_max) {
  if (value.size() > bytes_max) {
    return Text(400, absl::StrCat("Invalid ", Absl(what), ": longer than ", bytes_max, " bytes"));
  }
  if (!IsUtf8(value)) return Text(400, absl::StrCat("Invalid ", Absl(what), ": not UTF-8"));
  return std::nullopt;
}

// An optional unsigned query parameter (?cas, ?flags, ?index): absent, a number, or a 400
// that names it. Strict: decimal digits only, below 2^64 (Go's ParseUint, which Consul uses).
struct UintParam {
  std::optional<uint64_t> value;
  std::optional<http::Response> error;
};

UintParam ParseUintParam(const http::Request& request, std::string_view key) {
  std::optional<std::string> text = request.Query(Absl(key));
  if (!text.has_value()) return {};
  uint64_t value = 0;
  const bool digits_only = !text->empty() && text->size() <= 20 &&
                           text->find_first_not_of("0123456789") == std::string::npos;
  if (!digits_only || !absl::SimpleAtoi(*text, &value)) {
    return {std::nullopt, Text(400, absl::StrCat("Invalid ", Absl(key),
                                                 " parameter: want an unsigned integer below 2^64"))};
  }
  return {value, std::nullopt};
}

// Consul's refusal of parameters that do not compose (kvs_endpoint.go conflictingFlags).
std::optional<http::Response> Conflicting(const http::Request& request,
                                          std::initializer_list<std::string_view> keys) {
  std::vector<std::string> present;
  for (std::string_view key : keys) {
    if (request.HasQuery(Absl(key))) present.emplace_back(key);
  }
  if (present.size() < 2) return std::nullopt;
  return Text(400, absl::StrCat("Conflicting flags: ", absl::StrJoin(present, ", ")));
}

// The parameters every endpoint takes (Consul's parse: dc, consistency, index): checked once,
// before the endpoint's own. `consistency` is what reads carry into the Call.
struct CommonParams {
  std::string consistency;
  uint64_t min_index = 0;  // ?index: a blocking query
  uint64_t wait_ms = 0;    // ?wait (Go duration; 0: the agent's default, Consul's 5 min)
};

// What a read carries from the common parameters into its Call.
void ApplyReadParams(const CommonParams& common, proto::agent::Call* call) {
  call->set_consistency(common.consistency);
  call->set_min_index(common.min_index);
  call->set_wait_ms(common.wait_ms);
}

std::variant<CommonParams, http::Response> ParseCommon(const http::Request& request,
                                                       const RouterOptions& options) {
  CommonParams common;
  if (std::optional<std::string> dc = request.Query("dc"); dc.has_value() && !dc->empty()) {
    if (*dc != options.datacenter) return Text(500, "No path to datacenter");
  }
  const bool stale = request.HasQuery("stale");
  const bool consistent = request.HasQuery("consistent");
  if (stale && consistent) {
    return Text(400, "Cannot specify ?stale with ?consistent, conflicting semantics.");
  }
  common.consistency = stale ? "stale" : consistent ? "consistent" : "";
  // Blocking queries: ?index (the client's last X-Consul-Index) and ?wait, refused as Consul's
  // parseWait refuses them.
  UintParam index = ParseUintParam(request, "index");
  if (index.error.has_value()) return Text(400, "Invalid index");
  common.min_index = index.value.value_or(0);
  if (std::optional<std::string> wait = request.Query("wait"); wait.has_value()) {
    absl::StatusOr<absl::Duration> d = ParseGoDuration(*wait);
    if (wait->size() > 32 || !d.ok() || *d < absl::ZeroDuration()) return Text(400, "Invalid wait time");
    common.wait_ms = static_cast<uint64_t>(std::min(absl::ToInt64Milliseconds(*d), int64_t{600'000}));
  }
  return common;
}

RoutedCall Call(std::string method, AnswerShape shape = AnswerShape::kJson) {
  RoutedCall routed;
  routed.method = std::move(method);
  routed.shape = shape;
  return routed;
}

// ---- The endpoints ---------------------------------------------------------------------------

// What each endpoint handler sees: the request, what follows its path prefix, the common
// parameters already checked.
struct EndpointRequest {
  const http::Request& http;
  std::string_view suffix;
  const CommonParams& common;
};

Routed StatusLeader(const EndpointRequest&) { return Call("status.leader"); }
Routed StatusPeers(const EndpointRequest&) { return Call("status.peers"); }

Routed KvGet(const EndpointRequest& in) {
  const http::Request& request = in.http;
  RoutedCall routed = Call("kv.get", AnswerShape::kQuery);
  proto::agent::Call& call = routed.call;
  call.set_key(std::string(in.suffix));
  ApplyReadParams(in.common, &call);
  call.set_recurse(request.HasQuery("recurse"));
  call.set_keys(request.HasQuery("keys"));
  if (call.keys()) {
    // Consul reads the historic misspelling too; the right spelling wins.
    std::optional<std::string> separator = request.Query("separator");
    if (!separator.has_value()) separator = request.Query("seperator");
    if (separator.has_value()) {
      if (auto bad = CheckString("separator", *separator, kParamBytesMax)) return *bad;
      call.set_separator(*separator);
    }
  } else if (!call.recurse() && call.key().empty()) {
    return Text(400, "Missing key name");
  }
  call.set_raw(request.HasQuery("raw"));
  // Raw only for a single key: with recurse or keys Consul answers the JSON list.
  if (call.raw() && !call.recurse() && !call.keys()) routed.shape = AnswerShape::kRawValue;
  return routed;
}

Routed KvPut(const EndpointRequest& in) {
  const http::Request& request = in.http;
  if (in.suffix.empty()) return Text(400, "Missing key name");
  if (auto conflict = Conflicting(request, {"cas", "acquire", "release"})) return *conflict;
  RoutedCall routed = Call("kv.put");
  proto::agent::Call& call = routed.call;
  call.set_key(std::string(in.suffix));
  UintParam flags = ParseUintParam(request, "flags");
  if (flags.error.has_value()) return *flags.error;
  call.set_flags(flags.value.value_or(0));
  UintParam cas = ParseUintParam(request, "cas");
  if (cas.error.has_value()) return *cas.error;
  if (cas.value.has_value()) {
    call.set_has_cas(true);
    call.set_cas(*cas.value);
  }
  for (std::string_view lock : {"acquire", "release"}) {
    std::optional<std::string> session = request.Query(Absl(lock));
    if (!session.has_value()) continue;
    if (auto bad = CheckString(lock, *session, kParamBytesMax)) return *bad;
    if (lock == "acquire") {
      call.set_acquire(*session);
    } else {
      call.set_release(*session);
    }
  }
  call.set_value(request.body);
  return routed;
}

Routed KvDelete(const EndpointRequest& in) {
  const http::Request& request = in.http;
  if (auto conflict = Conflicting(request, {"recurse", "cas"})) return *conflict;
  RoutedCall routed = Call("kv.delete");
  proto::agent::Call& call = routed.call;
  call.set_key(std::string(in.suffix));
  call.set_recurse(request.HasQuery("recurse"));
  if (!call.recurse() && call.key().empty()) return Text(400, "Missing key name");
  UintParam cas = ParseUintParam(request, "cas");
  if (cas.error.has_value()) return *cas.error;
  if (cas.value.has_value()) {
    call.set_has_cas(true);
    call.set_cas(*cas.value);
  }
  return routed;
}

Routed Kv(const EndpointRequest& in) {
  if (auto bad = CheckString("key", in.suffix, kKeyBytesMax)) return *bad;
  const std::string& method = in.http.method;
  if (method == "PUT") return KvPut(in);
  if (method == "DELETE") return KvDelete(in);
  return KvGet(in);
}

Routed CatalogNodes(const EndpointRequest& in) {
  RoutedCall routed = Call("catalog.nodes", AnswerShape::kQuery);
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

Routed CatalogDatacenters(const EndpointRequest&) { return Call("catalog.datacenters"); }

Routed CatalogServices(const EndpointRequest& in) {
  RoutedCall routed = Call("catalog.services", AnswerShape::kQuery);
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

Routed CatalogNode(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing node name");
  if (auto bad = CheckString("node name", in.suffix, kParamBytesMax)) return *bad;
  RoutedCall routed = Call("catalog.node", AnswerShape::kQuery);
  routed.call.set_key(std::string(in.suffix));
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

Routed HealthState(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing check state");
  if (in.suffix != "any" && in.suffix != "passing" && in.suffix != "warning" && in.suffix != "critical") {
    return Text(400, "Invalid check state");
  }
  RoutedCall routed = Call("health.state", AnswerShape::kQuery);
  routed.call.set_key(std::string(in.suffix));
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

Routed HealthNode(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing node name");
  if (auto bad = CheckString("node name", in.suffix, kParamBytesMax)) return *bad;
  RoutedCall routed = Call("health.node", AnswerShape::kQuery);
  routed.call.set_key(std::string(in.suffix));
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

Routed AgentSelf(const EndpointRequest&) { return Call("agent.self"); }

Routed AgentMembers(const EndpointRequest& in) {
  RoutedCall routed = Call("agent.members");
  routed.call.set_wan(in.http.HasQuery("wan"));
  return routed;
}

Routed AgentJoin(const EndpointRequest& in) {
  if (in.suffix.empty()) return Text(400, "Missing address to join");
  if (auto bad = CheckString("address", in.suffix, kParamBytesMax)) return *bad;
  RoutedCall routed = Call("agent.join");
  routed.call.add_addresses(std::string(in.suffix));
  routed.call.set_wan(in.http.HasQuery("wan"));
  return routed;
}

Routed AgentLeave(const EndpointRequest&) { return Call("agent.leave"); }

Routed RaftConfiguration(const EndpointRequest& in) {
  RoutedCall routed = Call("operator.raft.configuration");
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

Routed RaftRemovePeer(const EndpointRequest& in) {
  const http::Request& request = in.http;
  std::optional<std::string> id = request.Query("id");
  std::optional<std::string> address = request.Query("address");
  if (!id.has_value() && !address.has_value()) {
    return Text(400,
                "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove");
  }
  if (id.has_value() && address.has_value()) return Text(400, "Must specify only one of ?id or ?address");
  RoutedCall routed = Call("operator.raft.remove-peer");
  if (id.has_value()) {
    if (auto bad = CheckString("id", *id, kParamBytesMax)) return *bad;
    routed.call.set_id(*id);
  } else {
    if (auto bad = CheckString("address", *address, kParamBytesMax)) return *bad;
    routed.call.set_address(*address);
  }
  return routed;
}

Routed AutopilotConfiguration(const EndpointRequest& in) {
  const http::Request& request = in.http;
  if (request.method != "PUT") {
    RoutedCall routed = Call("operator.autopilot.get");
    ApplyReadParams(in.common, &routed.call);
    return routed;
  }
  // The body is the agent's to read field by field; here it only has to be a JSON object, so
  // garbage is a 400 at the edge. (nlohmann 3.11 parses and frees without recursion, so deep
  // nesting costs heap bounded by the 512 KiB body, not stack.)
  Json parsed = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Text(400, "Error parsing autopilot config: the body is not a JSON object");
  }
  RoutedCall routed = Call("operator.autopilot.set");
  routed.call.set_json(request.body);
  UintParam cas = ParseUintParam(request, "cas");
  if (cas.error.has_value()) return *cas.error;
  if (cas.value.has_value()) {
    routed.call.set_has_cas(true);
    routed.call.set_cas(*cas.value);
  }
  return routed;
}

Routed AutopilotHealth(const EndpointRequest& in) {
  RoutedCall routed = Call("operator.autopilot.health", AnswerShape::kAutopilotHealth);
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

// ---- Sessions --------------------------------------------------------------------------------

// The session-create fields, as Consul's structs.Session names them. Go's encoding/json
// matches field names case-insensitively (W4) and python-consul sends them in lower case
// ("name", "behavior", "ttl", "lockdelay"), so the router renames them to these before the
// agent reads the body field by field.
constexpr std::array<std::string_view, 8> kSessionFields = {
    "Name", "Node", "LockDelay", "Behavior", "TTL", "Checks", "NodeChecks", "ServiceChecks"};

// The deepest a session-create body may nest: ServiceChecks' [{"ID": ...}] is 3 (the body
// object, the list, its entries), with room to spare.
constexpr int kSessionBodyDepthMax = 8;

std::string_view SessionFieldName(std::string_view sent) {
  for (std::string_view field : kSessionFields) {
    if (absl::EqualsIgnoreCase(Absl(sent), Absl(field))) return field;
  }
  return sent;  // unknown: the agent refuses it, naming it
}

Routed SessionCreate(const EndpointRequest& in) {
  RoutedCall routed = Call("session.create");
  const std::string& body = in.http.body;
  // No body is a session with Consul's defaults (python-consul sends none then).
  if (body.empty()) return routed;
  // Key order kept, so the agent sees the fields in the order sent; a field sent twice under
  // two spellings keeps the later value, as encoding/json does. The parse does not recurse,
  // but the dump below does: a body nested deeper than any session field is refused first.
  int depth_max = 0;
  OrderedJson::parser_callback_t deepest = [&depth_max](int depth, nlohmann::json::parse_event_t, OrderedJson&) {
    depth_max = std::max(depth_max, depth);
    return true;
  };
  OrderedJson parsed = OrderedJson::parse(body, deepest, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Text(400, "Request decode failed: the body is not a JSON object");
  }
  if (depth_max > kSessionBodyDepthMax) {
    return Text(400, absl::StrCat("Request decode failed: nested deeper than ", kSessionBodyDepthMax));
  }
  OrderedJson canonical = OrderedJson::object();
  for (auto field = parsed.begin(); field != parsed.end(); ++field) {
    canonical[std::string(SessionFieldName(field.key()))] = std::move(field.value());
  }
  routed.call.set_json(canonical.dump(-1, ' ', false, OrderedJson::error_handler_t::replace));
  return routed;
}

// The session ID that follows /v1/session/<verb>/, or the 400 Consul answers without one.
std::optional<http::Response> CheckSessionId(std::string_view id) {
  if (id.empty()) return Text(400, "Missing session");
  return CheckString("session", id, kParamBytesMax);
}

Routed SessionDestroy(const EndpointRequest& in) {
  if (auto bad = CheckSessionId(in.suffix)) return *bad;
  RoutedCall routed = Call("session.destroy");
  routed.call.set_key(std::string(in.suffix));
  return routed;
}

Routed SessionRenew(const EndpointRequest& in) {
  if (auto bad = CheckSessionId(in.suffix)) return *bad;
  RoutedCall routed = Call("session.renew");
  routed.call.set_key(std::string(in.suffix));
  return routed;
}

Routed SessionInfo(const EndpointRequest& in) {
  if (auto bad = CheckSessionId(in.suffix)) return *bad;
  RoutedCall routed = Call("session.info", AnswerShape::kQuery);
  routed.call.set_key(std::string(in.suffix));
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

Routed SessionList(const EndpointRequest& in) {
  RoutedCall routed = Call("session.list", AnswerShape::kQuery);
  ApplyReadParams(in.common, &routed.call);
  return routed;
}

struct EndpointSpec {
  std::string_view path;   // exact, or a prefix when it ends in '/'
  std::string_view allow;  // the methods it takes, as Consul lists them in Allow
  bool legacy_get = false; // also takes GET unless strict_http_methods (W9)
  Routed (*handle)(const EndpointRequest&);
};

constexpr std::array kEndpoints = {
    EndpointSpec{"/v1/status/leader", "GET", false, StatusLeader},
    EndpointSpec{"/v1/status/peers", "GET", false, StatusPeers},
    EndpointSpec{"/v1/kv/", "GET,PUT,DELETE", false, Kv},
    EndpointSpec{"/v1/catalog/nodes", "GET", false, CatalogNodes},
    EndpointSpec{"/v1/health/node/", "GET", false, HealthNode},
    EndpointSpec{"/v1/catalog/datacenters", "GET", false, CatalogDatacenters},
    EndpointSpec{"/v1/catalog/services", "GET", false, CatalogServices},
    EndpointSpec{"/v1/catalog/node/", "GET", false, CatalogNode},
    EndpointSpec{"/v1/health/state/", "GET", false, HealthState},
    EndpointSpec{"/v1/agent/self", "GET", false, AgentSelf},
    EndpointSpec{"/v1/agent/members", "GET", false, AgentMembers},
    EndpointSpec{"/v1/agent/join/", "PUT", true, AgentJoin},
    EndpointSpec{"/v1/agent/leave", "PUT", false, AgentLeave},
    EndpointSpec{"/v1/operator/raft/configuration", "GET", false, RaftConfiguration},
    EndpointSpec{"/v1/operator/raft/peer", "DELETE", false, RaftRemovePeer},
    EndpointSpec{"/v1/operator/autopilot/configuration", "GET,PUT", false, AutopilotConfiguration},
    EndpointSpec{"/v1/operator/autopilot/health", "GET", false, AutopilotHealth},
    EndpointSpec{"/v1/session/create", "PUT", false, SessionCreate},
    EndpointSpec{"/v1/session/destroy/", "PUT", false, SessionDestroy},
    EndpointSpec{"/v1/session/renew/", "PUT", false, SessionRenew},
    EndpointSpec{"/v1/session/info/", "GET", false, SessionInfo},
    EndpointSpec{"/v1/session/list", "GET", false, SessionList},
};

bool Allows(std::string_view allow, std::string_view method) {
  for (size_t begin = 0; begin <= allow.size();) {
    size_t end = allow.find(',', begin);
    if (end == std::string_view::npos) end = allow.size();
    if (allow.substr(begin, end - begin) == method) return true;
    begin = end + 1;
  }
  return false;
}

http::Response WithAllow(http::Response response, std::string_view allow) {
  response.headers.Add("Allow", absl::StrCat("OPTIONS,", Absl(allow)));
  return response;
}

// Consul's answer to a failed agent request (W10).
int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    default:
      return 500;
  }
}

void AddQueryHeaders(const proto::agent::Reply& reply, http::Headers& headers) {
  // Never 0: a client that blocks on ?index=0 would spin (Consul's setIndex).
  headers.Add("X-Consul-Index", absl::StrCat(reply.index() == 0 ? 1 : reply.index()));
  headers.Add("X-Consul-KnownLeader", reply.known_leader() ? "true" : "false");
  headers.Add("X-Consul-LastContact", absl::StrCat(reply.last_contact_ms()));
}

}  // namespace

Routed Route(const http::Request& request, const RouterOptions& options) {
  const EndpointSpec* endpoint = nullptr;
  std::string_view suffix;
  for (const EndpointSpec& spec : kEndpoints) {
    const bool prefix = spec.path.back() == '/';
    if (prefix ? absl::StartsWith(request.path, Absl(spec.path)) : request.path == spec.path) {
      endpoint = &spec;
      suffix = std::string_view(request.path).substr(prefix ? spec.path.size() : request.path.size());
      break;
    }
  }
  if (endpoint == nullptr) return Text(404, "404 page not found\n");
  const std::string& method = request.method;
  if (method == "OPTIONS") return WithAllow(Text(200, ""), endpoint->allow);
  const bool legacy = endpoint->legacy_get && !options.strict_http_methods && method == "GET";
  if (!Allows(endpoint->allow, method) && !legacy) {
    return WithAllow(Text(405, absl::StrCat("method ", method, " not allowed")), endpoint->allow);
  }
  std::variant<CommonParams, http::Response> common = ParseCommon(request, options);
  if (auto* refused = std::get_if<http::Response>(&common)) return std::move(*refused);
  Routed routed = endpoint->handle(EndpointRequest{request, suffix, std::get<CommonParams>(common)});
  if (auto* call = std::get_if<RoutedCall>(&routed)) call->pretty = request.HasQuery("pretty");
  return routed;
}

http::Response Answer(const RoutedCall& routed, const ::muster::Response& response) {
  proto::agent::Reply reply;
  if (!reply.ParseFromString(response.body)) {
    return Text(500, absl::StrCat("the agent's answer to ", routed.method, " is not a Reply"));
  }
  const int status = HttpStatusOf(response.status.code());
  http::Response answer;
  answer.status = status;
  const bool query = routed.shape == AnswerShape::kQuery || routed.shape == AnswerShape::kRawValue;
  // The query headers come with every answer the agent served, a 404 included (W1); Consul
  // sets none when the request itself failed (no leader, a timeout).
  if (query && (status == 200 || status == 404)) AddQueryHeaders(reply, answer.headers);
  if (status == 404) return answer;
  if (status != 200) {
    http::Response error = Text(status, std::string(response.status.message()));
    for (const auto& [name, value] : answer.headers.fields()) error.headers.Add(name, value);
    return error;
  }
  if (routed.shape == AnswerShape::kRawValue) {
    // Consul's defence against a stored value being rendered as a page (kvs_endpoint.go): a
    // fixed type, no sniffing, and a sandbox if a browser renders it anyway.
    answer.headers.Add("Content-Type", "text/plain");
    answer.headers.Add("X-Content-Type-Options", "nosniff");
    answer.headers.Add("Content-Security-Policy", "sandbox");
    answer.body = reply.body();
    return answer;
  }
  answer.body = reply.body();
  if (answer.body.empty()) return answer;
  answer.headers.Add("Content-Type", "application/json");
  if (routed.shape == AnswerShape::kAutopilotHealth || routed.pretty) {
    OrderedJson parsed = OrderedJson::parse(answer.body, nullptr, /*allow_exceptions=*/false);
    if (routed.shape == AnswerShape::kAutopilotHealth && parsed.is_object()) {
      auto healthy = parsed.find("Healthy");
      if (healthy != parsed.end() && healthy->is_boolean() && !healthy->get<bool>()) answer.status = 429;
    }
    if (routed.pretty && !parsed.is_discarded()) {
      answer.body = parsed.dump(4, ' ', false, OrderedJson::error_handler_t::replace) + "\n";
    }
  }
  return answer;
}

Router::Router(RouterOptions options, AgentRequester agent)
    : options_(std::move(options)), agent_(std::move(agent)) {}

void Router::Serve(const http::Request& request, std::function<void(http::Response)> answer) const {
  Routed routed = Route(request, options_);
  if (auto* refused = std::get_if<http::Response>(&routed)) {
    answer(std::move(*refused));
    return;
  }
  auto call = std::make_shared<RoutedCall>(std::move(std::get<RoutedCall>(routed)));
  std::string body = call->call.SerializeAsString();
  agent_(call->method, std::move(body), [call, answer = std::move(answer)](const ::muster::Response& response) {
    answer(Answer(*call, response));
  });
}

http::Handler Router::handler() const {
  return [this](http::Request request, http::Responder responder) {
    Serve(request, [responder](http::Response response) mutable { responder.Respond(std::move(response)); });
  };
}

}  // namespace muster::io::api
