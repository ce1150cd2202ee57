// The agent's HTTP API as Consul's Go client (github.com/hashicorp/consul/api) calls it: the
// address from -http-addr, else MUSTER_HTTP_ADDR, else CONSUL_HTTP_ADDR, else 127.0.0.1:8500; the token as
// X-Consul-Token from -token or CONSUL_HTTP_TOKEN; -datacenter as ?dc=, -stale as ?stale;
// paths and query strings escaped as Go's net/url does; and errors worded as that client's:
//   Get "http://127.0.0.1:8500/v1/agent/members": dial tcp 127.0.0.1:8500: connect: connection refused
//   Unexpected response code: 500 (No cluster leader)
// so a command's "Error ...: <this>" line reads as Consul's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cmd/cli/environment.h"
#include "cmd/cli/flag_set.h"
#include "cmd/cli/http_client.h"

namespace muster::cli {

inline constexpr std::string_view kHttpAddrDefault = "127.0.0.1:8500";

using QueryParams = std::vector<std::pair<std::string, std::string>>;

class ApiClient {
 public:
  ApiClient(HttpTransport* transport, HttpAddress address, std::string token, std::string datacenter, bool stale);

  // The response whatever its status (an error only when none came). `params` come after the
  // ones the client adds (dc, stale) and are sent sorted by name, as Go's url.Values encodes.
  absl::StatusOr<HttpResponse> Do(std::string_view method, std::string_view path, QueryParams params,
                                  std::string body = "");
  // Do, and a status other than 200 (or `also_ok`) is the Go client's "Unexpected response
  // code: N (body)".
  absl::StatusOr<HttpResponse> DoOk(std::string_view method, std::string_view path, QueryParams params,
                                    std::string body = "", int also_ok = 200);

 private:
  HttpTransport* transport_;
  HttpAddress address_;
  std::string token_;
  std::string datacenter_;
  bool stale_;
};

// Consul's HTTP flags on a command: ClientFlags (-http-addr, -token) and, for commands that
// read through a server, ServerFlags (-datacenter, -stale).
class HttpFlags {
 public:
  void AddClientFlags(FlagSet& flags);
  void AddServerFlags(FlagSet& flags);
  // The client for the flags and environment; an error names the bad address.
  absl::StatusOr<ApiClient> Client(const Environment& env) const;

 private:
  std::string http_addr_;
  std::string token_;
  std::string datacenter_;
  bool stale_ = false;
};

// A read's X-Consul-Index, as the Go client's parseQueryMeta reads it: a missing or bad header
// is an error ("Failed to parse X-Consul-Index: ...").
absl::StatusOr<uint64_t> ConsulIndex(const HttpResponse& response);

// The agent's node name (GET /v1/agent/self, Config.NodeName): Consul's commands ask for it
// first, to learn the agent is there before they start.
absl::StatusOr<std::string> AgentNodeName(ApiClient& client);

// Go's url.URL path escaping (EscapedPath): unreserved bytes and $&+,/:;=@ are kept.
std::string EscapePath(std::string_view path);
// Go's url.QueryEscape: unreserved bytes kept, space as '+', the rest %XX.
std::string EscapeQuery(std::string_view text);

}  // namespace muster::cli
