// Shared by the endpoint families of the HTTP API (endpoints_*.cc) and the router: the checks
// every handler makes on what a client sent (lengths, UTF-8, numbers, conflicting parameters),
// the common parameters (dc, consistency, index, wait), and the shape of an endpoint row.
// Internal to io/api.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "io/api/router.h"

namespace muster::io::api {

using Routed = std::variant<RoutedCall, http::Response>;

inline constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

// A text answer (Consul's errors are text/plain).
http::Response Text(int status, std::string body);

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
bool IsUtf8(std::string_view text);

// A string a client sent, checked before it goes into a Call: at most `bytes_max`, UTF-8.
std::optional<http::Response> CheckString(std::string_view what, std::string_view value, size_t bytes_max);

// An optional unsigned query parameter (?cas, ?flags, ?index): absent, a number, or a 400
// that names it. Strict: decimal digits only, below 2^64 (Go's ParseUint, which Consul uses).
struct UintParam {
  std::optional<uint64_t> value;
  std::optional<http::Response> error;
};
UintParam ParseUintParam(const http::Request& request, std::string_view key);

// Consul's refusal of parameters that do not compose (kvs_endpoint.go conflictingFlags).
std::optional<http::Response> Conflicting(const http::Request& request,
                                          std::initializer_list<std::string_view> keys);

// The parameters every endpoint takes (Consul's parse: dc, consistency, index): checked once,
// before the endpoint's own. `consistency` is what reads carry into the Call.
struct CommonParams {
  std::string consistency;
  uint64_t min_index = 0;  // ?index: a blocking query
  uint64_t wait_ms = 0;    // ?wait (Go duration; 0: the agent's default, Consul's 5 min)
};

// What a read carries from the common parameters into its Call.
void ApplyReadParams(const CommonParams& common, proto::agent::Call* call);

std::variant<CommonParams, http::Response> ParseCommon(const http::Request& request,
                                                       const RouterOptions& options);

RoutedCall Call(std::string method, AnswerShape shape = AnswerShape::kJson);

// The catalog and health reads' parameters: the common read ones, ?filter (a go-bexpr
// expression, checked by the agent), ?near, ?node-meta=key:value (repeatable) and, where
// the endpoint takes it, ?tag (repeatable: all must match). Bounded and UTF-8, else a 400.
std::optional<http::Response> ApplyCatalogParams(const http::Request& request, const CommonParams& common,
                                                 bool takes_tags, proto::agent::Call* call);

// What each endpoint handler sees: the request, what follows its path prefix, the common
// parameters already checked.
struct EndpointRequest {
  const http::Request& http;
  std::string_view suffix;
  const CommonParams& common;
};

struct EndpointSpec {
  std::string_view path;   // exact, or a prefix when it ends in '/'
  std::string_view allow;  // the methods it takes, as Consul lists them in Allow
  bool legacy_get = false; // also takes GET unless strict_http_methods (W9)
  Routed (*handle)(const EndpointRequest&);
};

// The endpoint families, one file each (endpoints_<family>.cc). The router tries them in
// this order; within a family, rows in table order (a longer prefix before a shorter one).
std::span<const EndpointSpec> StatusEndpoints();
std::span<const EndpointSpec> KvEndpoints();
std::span<const EndpointSpec> CatalogEndpoints();
std::span<const EndpointSpec> HealthEndpoints();
std::span<const EndpointSpec> AgentEndpoints();
std::span<const EndpointSpec> OperatorEndpoints();
std::span<const EndpointSpec> SessionEndpoints();
std::span<const EndpointSpec> TxnEndpoints();
std::span<const EndpointSpec> EventEndpoints();
std::span<const EndpointSpec> CoordinateEndpoints();

}  // namespace muster::io::api
