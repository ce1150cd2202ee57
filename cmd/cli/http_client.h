// The CLI's HTTP client: one blocking HTTP/1.1 request per connection to the local agent's API
// (Consul's CLI is a client of the same API). HttpTransport is the seam the commands talk
// through, so their tests answer from canned JSON without a socket; SocketHttpTransport is the
// real one.
//
// Why our own small client and not libcurl: Debian's libcurl dev headers are not among the
// packages the build installs (scripts/setup.sh), and the agent's API is plain HTTP/1.1 on a
// loopback or LAN address: a request is written, and the response is read with libhttp-parser
// (already a dependency, for the server), which does the framing (Content-Length, chunked,
// read-to-close). Bounded: a response over kResponseBytesMax is an error, and so is a request
// not answered within the timeout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace muster::cli {

// Where the agent's HTTP API is, from -http-addr or CONSUL_HTTP_ADDR: "host:port",
// "http://host:port", "[::1]:8500", "localhost:8500". Without a port, HTTP's 80 (as Consul's
// Go client, which takes the address as a URL).
struct HttpAddress {
  std::string host;  // without brackets
  uint16_t port = 8500;
  // "host:port", with brackets around an IPv6 host.
  std::string HostPort() const;
};
absl::StatusOr<HttpAddress> ParseHttpAddress(std::string_view text);

struct HttpRequest {
  std::string method;  // "GET", "PUT", "DELETE"
  std::string target;  // path and query, already escaped: "/v1/kv/a%20b?recurse="
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // as received, names as sent
  // The first header named `name` (compared case-insensitively, as HTTP names are), or "".
  std::string Header(std::string_view name) const;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // The response, whatever its status; an error only when no response came (refused,
  // unreachable, timed out, malformed, too large), worded as Go's net/http words it after
  // its operation ("dial tcp 127.0.0.1:8500: connect: connection refused").
  virtual absl::StatusOr<HttpResponse> RoundTrip(const HttpAddress& to, const HttpRequest& request) = 0;
};

// Past this a response is refused rather than held: a recursive KV read of a large tree is the
// biggest answer the CLI asks for, and Consul caps each value at 512 KB.
inline constexpr size_t kResponseBytesMax = 64 << 20;
// A leave waits for the goodbye to spread and a forwarded write for a commit: generous, but a
// hung agent must not hang a script forever.
inline constexpr absl::Duration kRequestTimeoutDefault = absl::Minutes(2);

class SocketHttpTransport : public HttpTransport {
 public:
  explicit SocketHttpTransport(absl::Duration timeout = kRequestTimeoutDefault) : timeout_(timeout) {}
  absl::StatusOr<HttpResponse> RoundTrip(const HttpAddress& to, const HttpRequest& request) override;
  // Asked when a signal interrupts the wait for an answer: true ends the request (Cancelled),
  // so a caught Ctrl-C ends a blocking query at once rather than when the agent answers.
  void set_cancelled(std::function<bool()> cancelled) { cancelled_ = std::move(cancelled); }

 private:
  absl::Duration timeout_;
  std::function<bool()> cancelled_;
};

}  // namespace muster::cli
