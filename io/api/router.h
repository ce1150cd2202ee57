// The Consul HTTP API on the agent: each /v1/... request is routed to one agent request (a
// method and a proto::agent::Call, core/agent/agent_machine.h) and the agent's Response is
// turned into Consul's answer: status code, JSON or raw body, and the X-Consul-Index,
// X-Consul-KnownLeader and X-Consul-LastContact headers where Consul sends them
// (/work/shared/design/http-api.md W1, W2). Routing and answering are pure functions, so they
// are tested without sockets; Router joins them to whatever plays the agent (io::Host in the
// binary, a function in tests).
//
// Everything a client sends is untrusted: numbers are parsed strictly (a bad one is a 400
// naming the parameter), keys and parameters are bounded and must be UTF-8 (the Call's string
// fields are proto3 strings), JSON bodies are checked before they reach the agent, and the
// router holds nothing between requests. Bodies themselves are bounded by io/http (413).
//
// Status codes (W10): OK 200; INVALID_ARGUMENT and FAILED_PRECONDITION 400 with the message;
// NOT_FOUND 404 with an empty body; PERMISSION_DENIED 403; anything else 500 with the message
// (Consul's "No cluster leader"). An unknown path is 404, a method an endpoint does not take
// 405 with Consul's Allow header; OPTIONS answers 200 with it. Blocking queries (?index, ?wait)
// are issue 12's: a well-formed ?index is accepted and ignored.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <variant>

#include "core/seam/effects.h"
#include "io/http/server.h"
#include "proto/agent.pb.h"

namespace muster::io::api {

// Longest KV key, and longest other parameter (a node name, session ID, separator, address),
// in bytes. Consul sets no key limit of its own; ours keeps one request's key from being most
// of a 64 KiB request head and bounds what a key costs the state store.
inline constexpr size_t kKeyBytesMax = 8 * 1024;
inline constexpr size_t kParamBytesMax = 512;

// How the agent's answer to a routed request becomes HTTP.
enum class AnswerShape {
  kJson,             // the Reply body as JSON (or empty: no Content-Type, as Consul)
  kQuery,            // JSON plus the X-Consul-* query headers, also on a 404 (W1)
  kRawValue,         // kv ?raw: the value's bytes, not JSON, with the query headers
  kAutopilotHealth,  // JSON; 429 when the answer says "Healthy": false, as Consul
  kAgentHealth,      // JSON; 200/429/503 from AggregatedStatus (the worst of a list), as Consul
};

// One request for the agent, as Host::Request takes it once `call` is serialized.
struct RoutedCall {
  std::string method;
  proto::agent::Call call;
  AnswerShape shape = AnswerShape::kJson;
  bool pretty = false;  // ?pretty: indented JSON (W12)
};

struct RouterOptions {
  // The agent's datacenter: a ?dc= naming another is answered 500 "No path to datacenter"
  // (one datacenter until the WAN issue forwards between them).
  std::string datacenter = "dc1";
  // Consul >= 1.0 refuses GET on write endpoints; python-consul 0.7.1 still joins with GET,
  // so by default GET is accepted there too (W9). True: Consul's strict methods.
  bool strict_http_methods = false;
};

// The agent request for `request`, or the HTTP answer that ends it here (unknown path, wrong
// method, a bad parameter).
std::variant<RoutedCall, http::Response> Route(const http::Request& request,
                                               const RouterOptions& options);

// The HTTP answer for the agent's `response` to `routed`. A body that is not a Reply is a bug
// of the agent's; it is answered 500, never passed on.
http::Response Answer(const RoutedCall& routed, const ::muster::Response& response);

// What the router asks of the agent: Host::Request's shape (a method, the serialized Call, and
// a callback run once with the Response), so a test can play the agent.
using AgentRequester = std::function<void(std::string method, std::string body,
                                          std::function<void(const ::muster::Response&)> on_response)>;

class Router {
 public:
  Router(RouterOptions options, AgentRequester agent);

  // Routes `request`, asks the agent, and calls `answer` once with the HTTP answer (at once
  // when routing answers it, else when the agent does).
  void Serve(const http::Request& request, std::function<void(http::Response)> answer) const;

  // A handler for io/http's Server; the Router must outlive the server.
  http::Handler handler() const;

 private:
  const RouterOptions options_;
  const AgentRequester agent_;
};

}  // namespace muster::io::api
