// Consul's Go API client's request shape and error wording (see api_client.h).
#include "cmd/cli/api_client.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cmd/cli/json_fields.h"

namespace muster::cli {
namespace {

bool Unreserved(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

void AppendEscaped(std::string& out, unsigned char c) {
  char buf[4];
  std::snprintf(buf, sizeof(buf), "%%%02X", c);
  out += buf;
}

// Go's net/http names the failed operation with the method in title case: Get, Put, Delete.
std::string OpName(std::string_view method) {
  std::string op(method);
  for (size_t i = 1; i < op.size(); ++i) op[i] = absl::ascii_tolower(static_cast<unsigned char>(op[i]));
  return op;
}

}  // namespace

std::string EscapePath(std::string_view path) {
  std::string out;
  for (unsigned char c : path) {
    if (Unreserved(c) || std::string_view("$&+,/:;=@").find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      AppendEscaped(out, c);
    }
  }
  return out;
}

std::string EscapeQuery(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (Unreserved(c)) {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      AppendEscaped(out, c);
    }
  }
  return out;
}

ApiClient::ApiClient(HttpTransport* transport, HttpAddress address, std::string token, std::string datacenter,
                     bool stale)
    : transport_(transport),
      address_(std::move(address)),
      token_(std::move(token)),
      datacenter_(std::move(datacenter)),
      stale_(stale) {}

absl::StatusOr<HttpResponse> ApiClient::Do(std::string_view method, std::string_view path, QueryParams params,
                                           std::string body) {
  if (!datacenter_.empty()) params.emplace_back("dc", datacenter_);
  if (stale_) params.emplace_back("stale", "");
  std::stable_sort(params.begin(), params.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  HttpRequest request;
  request.method = std::string(method);
  request.target = EscapePath(path);
  for (size_t i = 0; i < params.size(); ++i) {
    absl::StrAppend(&request.target, i == 0 ? "?" : "&", EscapeQuery(params[i].first), "=",
                    EscapeQuery(params[i].second));
  }
  if (!token_.empty()) request.headers.emplace_back("X-Consul-Token", token_);
  request.body = std::move(body);
  absl::StatusOr<HttpResponse> response = transport_->RoundTrip(address_, request);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        absl::StrCat(OpName(method), " \"http://", address_.HostPort(), request.target,
                                     "\": ", response.status().message()));
  }
  return response;
}

absl::StatusOr<HttpResponse> ApiClient::DoOk(std::string_view method, std::string_view path, QueryParams params,
                                             std::string body, int also_ok) {
  absl::StatusOr<HttpResponse> response = Do(method, path, std::move(params), std::move(body));
  if (!response.ok()) return response;
  if (response->status != 200 && response->status != also_ok) {
    return absl::UnknownError(absl::StrCat("Unexpected response code: ", response->status, " (", response->body, ")"));
  }
  return response;
}

absl::StatusOr<uint64_t> ConsulIndex(const HttpResponse& response) {
  const std::string text = response.Header("X-Consul-Index");
  uint64_t index = 0;
  if (text.empty() || !absl::SimpleAtoi(text, &index) || text[0] == '+' || text[0] == '-') {
    return absl::DataLossError(
        absl::StrCat("Failed to parse X-Consul-Index: strconv.ParseUint: parsing \"", text, "\": invalid syntax"));
  }
  return index;
}

absl::StatusOr<std::string> AgentNodeName(ApiClient& client) {
  absl::StatusOr<HttpResponse> response = client.DoOk("GET", "/v1/agent/self", {});
  if (!response.ok()) return response.status();
  std::optional<Json> json = ParseJson(response->body);
  if (!json || !json->is_object()) return absl::DataLossError("the agent's answer to /v1/agent/self is not a JSON object");
  if (!json->contains("Config")) return std::string();
  return StringField((*json)["Config"], "NodeName");
}

void HttpFlags::AddClientFlags(FlagSet& flags) {
  flags.AddString("http-addr", &http_addr_,
                  "The address and port of the agent's HTTP API, \"host:port\" or \"http://host:port\". "
                  "The default is MUSTER_HTTP_ADDR, else CONSUL_HTTP_ADDR, else 127.0.0.1:8500.");
  flags.AddString("token", &token_,
                  "ACL token to use in the request (X-Consul-Token). The default is CONSUL_HTTP_TOKEN.");
}

void HttpFlags::AddServerFlags(FlagSet& flags) {
  flags.AddString("datacenter", &datacenter_,
                  "Name of the datacenter to query. If unspecified, this will default to the datacenter of "
                  "the queried agent.");
  flags.AddBool("stale", &stale_,
                "Permit any server to answer the request, not only the leader: faster, possibly out of date.");
}

absl::StatusOr<ApiClient> HttpFlags::Client(const Environment& env) const {
  std::string address_text = http_addr_;
  // MUSTER_HTTP_ADDR, ours, wins over CONSUL_HTTP_ADDR, so one shell can hold both tools' settings.
  if (address_text.empty() && env.getenv) address_text = env.getenv("MUSTER_HTTP_ADDR").value_or("");
  if (address_text.empty() && env.getenv) address_text = env.getenv("CONSUL_HTTP_ADDR").value_or("");
  if (address_text.empty()) address_text = std::string(kHttpAddrDefault);
  absl::StatusOr<HttpAddress> address = ParseHttpAddress(address_text);
  if (!address.ok()) return address.status();
  std::string token = token_;
  if (token.empty() && env.getenv) token = env.getenv("CONSUL_HTTP_TOKEN").value_or("");
  return ApiClient(env.transport, *address, token, datacenter_, stale_);
}

}  // namespace muster::cli
