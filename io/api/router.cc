#include "io/api/router.h"

#include <algorithm>
#include <array>
#include <span>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/strings.h"
#include "io/api/route_util.h"
#include "nlohmann/json.hpp"

namespace muster::io::api {
namespace {

// Keeps the agent's key order when re-indenting (Consul's ?pretty indents its structs in
// field order).
using OrderedJson = nlohmann::ordered_json;

// Every family's rows, in the order they are tried.
const std::vector<EndpointSpec>& AllEndpoints() {
  static const std::vector<EndpointSpec>* all = [] {
    auto* v = new std::vector<EndpointSpec>;
    for (auto family : {StatusEndpoints, KvEndpoints, CatalogEndpoints, HealthEndpoints, AgentEndpoints,
                        OperatorEndpoints, SessionEndpoints, TxnEndpoints, EventEndpoints, CoordinateEndpoints}) {
      for (const EndpointSpec& spec : family()) v->push_back(spec);
    }
    return v;
  }();
  return *all;
}

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
    case absl::StatusCode::kAborted:  // a transaction rolled back
      return 409;
    case absl::StatusCode::kResourceExhausted:  // a transaction with too many operations
      return 413;
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

// /v1/agent/health/service/...: Consul's status for an AgentServiceChecksInfo (or the worst of
// a list of them): 200 passing, 429 warning, 503 critical or maintenance.
int AgentHealthStatus(const OrderedJson& answer) {
  int status = 200;
  auto one = [&status](const OrderedJson& info) {
    const auto aggregated = info.is_object() ? info.find("AggregatedStatus") : info.end();
    if (aggregated == info.end() || !aggregated->is_string()) return;  // not one: the agent's answer as it is
    const std::string s = aggregated->get<std::string>();
    status = std::max(status, s == "passing" ? 200 : s == "warning" ? 429 : 503);
  };
  if (answer.is_array()) {
    for (const OrderedJson& info : answer) one(info);
  } else {
    one(answer);
  }
  return status;
}

}  // namespace

Routed Route(const http::Request& request, const RouterOptions& options) {
  const EndpointSpec* endpoint = nullptr;
  std::string_view suffix;
  for (const EndpointSpec& spec : AllEndpoints()) {
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
  if (status == 409 && !reply.body().empty()) {  // a rolled-back transaction: its errors, as JSON
    answer.headers.Add("Content-Type", "application/json");
    answer.body = reply.body();
    return answer;
  }
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
  if (routed.shape == AnswerShape::kAutopilotHealth || routed.shape == AnswerShape::kAgentHealth || routed.pretty) {
    OrderedJson parsed = OrderedJson::parse(answer.body, nullptr, /*allow_exceptions=*/false);
    if (routed.shape == AnswerShape::kAgentHealth) answer.status = AgentHealthStatus(parsed);
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