// An HTTP/1.1 server on a caller's libuv loop: the edge the HTTP API (Consul's /v1/...) is
// served from. It parses requests, hands each one to a Handler with a Responder, and writes the
// answers back in request order. It never blocks, never starts a thread, and bounds everything
// a client can make it hold (header bytes, body bytes, pipelined requests, connections, time).
//
// Why http-parser (Debian libhttp-parser-dev 2.9) and not H2O (libh2o-dev 2.2.5, libuv build):
// measured with bench/http_server_bench.sh (wrk, small keep-alive GET, one loop thread each,
// loopback; bench/http_server_bench_results.md), this server did 139k-179k requests/s at 64
// connections (p99 0.70-0.85 ms) against H2O's 109k-152k (p99 0.57-0.97 ms), 160k against 91k
// at 1,000 connections, and the same at 1 connection (20k, p50 49 us). So speed does not argue
// for H2O; API fit decides for http-parser:
//   - an answer may come minutes later (a blocking query parks): here the pending answer is our
//     own small object that holds no parser state and outlives the client; in H2O a parked
//     h2o_req_t lives in H2O's per-request pool, freed when the client goes, so every holder of
//     it must hook the generator's stop callback and never touch the request after;
//   - the exactly-once answer, in-order pipelined answers, the body limit (413 before the body is
//     read), the header limit (431), the idle and partial-request timeouts and the connection
//     bound are each a few lines here; in H2O they are settings of a whole configuration
//     (h2o_globalconf_t: max_request_entity_size, http1.req_timeout) or fixed when Debian built
//     the library (H2O_MAX_REQLEN, about 417 KB of request head; H2O_MAX_HEADERS, 100);
//   - H2O links OpenSSL and brings HTTP/2, TLS and its own memory pools; the HTTP API needs none.
//
// Semantics:
//   - keep-alive (HTTP/1.1 by default, HTTP/1.0 with "Connection: keep-alive") and pipelining:
//     answers go out in request order, however late each one is given;
//   - header bytes (request line and headers) over header_bytes_max: 431 and close; a body over
//     body_bytes_max (Content-Length up front, or chunked as it arrives): 413 and close;
//     "Expect: 100-continue" gets "100 Continue" when the body fits and nothing is pending;
//   - malformed HTTP: 400 and close, that connection only;
//   - request_timeout: a partial request not completed in time gets 408 and close; an idle
//     keep-alive connection, or one whose client stopped taking its answers, is closed silently
//     after the same time (a client that reads slowly is not); a request waiting for its
//     handler's answer has no timeout here (the handler owns it: blocking queries park);
//   - connections_max open connections: a further one is accepted and closed at once;
//     pipelined_requests_max unanswered requests, or write_queue_bytes_max answer bytes the
//     client has not read, on one connection: reading pauses until the oldest is answered or
//     the client catches up (so memory per connection stays bounded);
//   - HEAD answers carry the Content-Length of the body but no body; "Connection: close" from
//     the client is honoured after its answer; the server adds Content-Length itself.
//   - Responder::Respond answers exactly once: a second call is a bug (CHECK failure), never a
//     second send. If the client went away first the answer is dropped and its memory freed. If
//     every copy of a Responder is destroyed unanswered, the client gets 500 (never a hang).
//
// Threading: every call, and every Respond, on the loop's thread.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace muster::io::http {

// Header fields in arrival order, with case-insensitive lookup (RFC 9110 field names).
class Headers {
 public:
  void Add(std::string name, std::string value);
  // The first value of `name`, or nullptr.
  const std::string* Find(absl::string_view name) const;
  bool Has(absl::string_view name) const { return Find(name) != nullptr; }
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

struct Request {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // the request target as sent ("/v1/kv/a%20b?raw")
  std::string path;    // percent-decoded path ("/v1/kv/a b")
  // Decoded query parameters in order; repeated keys are kept ("tag=a&tag=b"); a key without
  // '=' has an empty value (Consul's booleans are true when present: W3).
  std::vector<std::pair<std::string, std::string>> query;
  Headers headers;
  std::string body;  // de-chunked

  // The first value of query parameter `key`, or nullopt.
  std::optional<std::string> Query(absl::string_view key) const;
  bool HasQuery(absl::string_view key) const { return Query(key).has_value(); }
  std::vector<std::string> QueryAll(absl::string_view key) const;
};

struct Response {
  int status = 200;
  Headers headers;  // Content-Length and Connection are the server's; others go out as given
  std::string body;
};

namespace internal {
struct AnswerToken;
}  // namespace internal

// Answers one request, exactly once, possibly long after the handler returned. Copyable; all
// copies answer the same request. Use on the loop's thread.
class Responder {
 public:
  explicit Responder(std::shared_ptr<internal::AnswerToken> token);

  void Respond(Response response);
  void Respond(int status, std::string body, absl::string_view content_type = "text/plain");
  // False once the client has gone (the answer would be dropped); lets a parked query give up.
  bool client_connected() const;

 private:
  std::shared_ptr<internal::AnswerToken> token_;
};

using Handler = std::function<void(Request, Responder)>;

struct ServerOptions {
  size_t header_bytes_max = 64 * 1024;
  // Consul's KV value limit is 512 KiB; the API layer may set more for /v1/txn.
  size_t body_bytes_max = 512 * 1024;
  absl::Duration request_timeout = absl::Seconds(30);
  size_t connections_max = 4096;
  size_t pipelined_requests_max = 64;
  // Answer bytes handed to the socket but not yet taken by the client, past which no further
  // request is read from it.
  size_t write_queue_bytes_max = 1024 * 1024;
  // Answer bytes handed to sockets and not yet taken, over all connections. Past it, a
  // connection whose own queue is over write_queue_bytes_max (a client that asks and does
  // not read) is closed: up to pipelined_requests_max answers of 512 KiB each may already be
  // on their way when its queue fills, so the per-connection bound alone lets a few hundred
  // such clients take gigabytes.
  size_t unsent_bytes_max = 64 * 1024 * 1024;
  int listen_backlog = 1024;
};

// "127.0.0.1:8500", "[::1]:8500", "0.0.0.0:0"; host must be an IP literal.
absl::StatusOr<sockaddr_storage> ParseListenAddress(absl::string_view host_port);

class Server {
 public:
  Server(uv_loop_t* loop, ServerOptions options, Handler handler);
  // Stop() must have completed (its callback run) if Listen() was called.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; an address in use or a bad address comes back as a Status.
  absl::Status Listen(absl::string_view host_port);
  // The bound port (useful after binding port 0); 0 before Listen.
  int port() const { return port_; }
  size_t connection_count() const { return connections_.size(); }
  // Answer bytes queued on sockets and not yet written out, over all connections.
  size_t unsent_bytes() const { return unsent_bytes_; }
  // Connections closed because the server's unsent bytes were over unsent_bytes_max (atomic:
  // readable from another thread, as tests and stats do).
  uint64_t closed_for_unsent_bytes() const { return closed_for_unsent_bytes_.load(std::memory_order_relaxed); }

  // Closes the listener and every connection (pending answers are dropped); `done` runs once
  // libuv has released every handle.
  void Stop(std::function<void()> done);

  class Connection;  // one client; defined in server.cc

 private:
  friend class Connection;

  static void OnConnection(uv_stream_t* listener, int status);
  void Accept();
  static void OnListenerClosed(uv_handle_t* handle);
  void ForgetConnection(Connection* connection);
  void MaybeFinishStop();

  uv_loop_t* const loop_;
  const ServerOptions options_;
  const Handler handler_;
  uv_tcp_t listener_;
  bool listener_open_ = false;  // initialised and not yet closed
  bool listener_closing_ = false;
  bool stopping_ = false;
  int port_ = 0;
  std::function<void()> stop_done_;
  std::list<std::unique_ptr<Connection>> connections_;
  size_t unsent_bytes_ = 0;
  std::atomic<uint64_t> closed_for_unsent_bytes_{0};
  // One read buffer for every connection: the loop is single-threaded and read callbacks
  // consume their bytes before the next read, so 1,000 connections cost one buffer.
  std::vector<char> read_buffer_;
};

}  // namespace muster::io::http
