// The HTTP/1.1 server: libuv streams fed through http-parser, one Connection per client, and a
// queue of pending answers per connection that keeps pipelined answers in request order.
#include "io/http/server.h"

#include <http_parser.h>

#include <algorithm>
#include <cstring>
#include <deque>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/check.h"

namespace muster::io::http {
namespace {

constexpr size_t kReadBufferBytes = 64 * 1024;
// After an answer that ends the connection, how long unread client bytes are drained before
// closing: closing with unread bytes sends a reset, which can destroy the answer in flight.
constexpr absl::Duration kLingerMax = absl::Seconds(2);

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Request Entity Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; '+' is a space only in the query (form encoding), as Go's url package.
bool PercentDecode(absl::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int high = HexValue(in[i + 1]);
      int low = HexValue(in[i + 2]);
      if (high < 0 || low < 0) return false;
      out->push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

// Splits the request target into a decoded path and decoded query pairs; false if malformed.
bool ParseTarget(absl::string_view target, Request* request) {
  // Absolute form ("http://host/path") is legal for servers to accept (RFC 9112 3.2.2).
  if (absl::StartsWithIgnoreCase(target, "http://") ||
      absl::StartsWithIgnoreCase(target, "https://")) {
    size_t authority = target.find("//") + 2;
    size_t slash = target.find('/', authority);
    target = slash == absl::string_view::npos ? absl::string_view("/") : target.substr(slash);
  }
  size_t hash = target.find('#');
  if (hash != absl::string_view::npos) target = target.substr(0, hash);
  size_t question = target.find('?');
  absl::string_view path = target.substr(0, question);
  if (path.empty() || (path[0] != '/' && path != "*")) return false;
  if (!PercentDecode(path, /*plus_is_space=*/false, &request->path)) return false;
  if (question == absl::string_view::npos) return true;
  absl::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    absl::string_view pair = query.substr(0, amp);
    query = amp == absl::string_view::npos ? absl::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    if (!PercentDecode(pair.substr(0, eq), true, &key)) return false;
    if (eq != absl::string_view::npos && !PercentDecode(pair.substr(eq + 1), true, &value)) {
      return false;
    }
    request->query.emplace_back(std::move(key), std::move(value));
  }
  return true;
}

bool IsServerOwnedHeader(absl::string_view name) {
  return absl::EqualsIgnoreCase(name, "content-length") ||
         absl::EqualsIgnoreCase(name, "connection") ||
         absl::EqualsIgnoreCase(name, "transfer-encoding");
}

}  // namespace

// ---- Headers, Request -----------------------------------------------------------------------

void Headers::Add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

const std::string* Headers::Find(absl::string_view name) const {
  for (const auto& [field, value] : fields_) {
    if (absl::EqualsIgnoreCase(field, name)) return &value;
  }
  return nullptr;
}

std::optional<std::string> Request::Query(absl::string_view key) const {
  for (const auto& [k, v] : query) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::vector<std::string> Request::QueryAll(absl::string_view key) const {
  std::vector<std::string> values;
  for (const auto& [k, v] : query) {
    if (k == key) values.push_back(v);
  }
  return values;
}

// ---- Pending answers ------------------------------------------------------------------------

namespace internal {

// One request's place in its connection's answer queue. The connection and every Responder
// share it; `connection` is cleared when the client goes, so a late answer is dropped.
struct PendingAnswer {
  Server::Connection* connection = nullptr;
  bool answered = false;
  bool head = false;         // HEAD: the body is not sent
  bool close_after = false;  // the connection ends after this answer
  bool http10_keep_alive = false;
  std::string wire;  // the serialized answer, once answered
};

// Shared by a request's Responder copies; when the last copy goes unanswered the client gets
// a 500 rather than a connection that hangs forever.
struct AnswerToken {
  std::shared_ptr<PendingAnswer> pending;
  ~AnswerToken();
};

}  // namespace internal

// ---- Connection -----------------------------------------------------------------------------

class Server::Connection {
 public:
  explicit Connection(Server* server) : server_(server) {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
    tcp_.data = this;
    timer_.data = this;
  }

  // Accepts the waiting client from `listener`; false (and the handles closing) on failure.
  bool Start(uv_stream_t* listener);
  void Close();
  void Deliver(internal::PendingAnswer* pending, Response response);

  std::list<std::unique_ptr<Connection>>::iterator self;

 private:
  struct WriteRequest {
    uv_write_t request;
    std::string bytes;
    Connection* connection;
    bool counted = false;  // in the server's unsent_bytes_ until written (or cancelled)
  };

  static const http_parser_settings& Settings();
  static Connection* From(http_parser* parser) { return static_cast<Connection*>(parser->data); }

  static int OnMessageBegin(http_parser* parser);
  static int OnUrl(http_parser* parser, const char* at, size_t length);
  static int OnHeaderField(http_parser* parser, const char* at, size_t length);
  static int OnHeaderValue(http_parser* parser, const char* at, size_t length);
  static int OnHeadersComplete(http_parser* parser);
  static int OnBody(http_parser* parser, const char* at, size_t length);
  static int OnMessageComplete(http_parser* parser);

  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnWritten(uv_write_t* request, int status);
  static void OnShutdown(uv_shutdown_t* request, int status);
  static void OnTimer(uv_timer_t* timer);
  static void OnClosed(uv_handle_t* handle);

  // Parses buffered input while the answer queue has room; never re-entered.
  void Drive();
  // Room for another request: few enough unanswered ones, and few enough answer bytes the
  // client has not taken yet (a client that pipelines but never reads is held here).
  bool HasRoom() {
    return pending_.size() < server_->options_.pipelined_requests_max &&
           tcp_.write_queue_size < server_->options_.write_queue_bytes_max;
  }
  void UpdateReading();
  // Writes every answer at the head of the queue that is ready, in order.
  void Flush();
  // Queues an error answer after the pending ones and ends the connection after it.
  void Fail(int status, absl::string_view message);
  bool CountHeaderBytes(size_t length);
  void CommitHeader();
  void ArmTimer(absl::Duration after);
  void EndAfterWrites();

  Server* const server_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  int handles_open_ = 0;
  http_parser parser_;

  // The request being parsed.
  Request request_;
  std::string header_field_;
  std::string header_value_;
  bool in_header_value_ = false;
  bool in_message_ = false;
  size_t header_bytes_ = 0;
  int error_status_ = 0;  // set by a callback that rejects the request (413, 431, 400)
  const char* error_message_ = nullptr;  // and why, when the status alone does not say

  std::deque<std::shared_ptr<internal::PendingAnswer>> pending_;
  std::string unparsed_;  // bytes read but not yet parsed (parsing waits for queue room)
  bool driving_ = false;
  bool reading_ = false;
  bool no_more_requests_ = false;  // an answer that ends the connection is queued
  bool ending_ = false;            // that answer was handed to the socket
  bool closing_ = false;
  size_t writes_in_flight_ = 0;
  size_t unread_at_arm_ = 0;  // answer bytes not yet taken by the client when the timer was armed
};

const http_parser_settings& Server::Connection::Settings() {
  static const http_parser_settings settings = [] {
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_message_begin = &OnMessageBegin;
    s.on_url = &OnUrl;
    s.on_header_field = &OnHeaderField;
    s.on_header_value = &OnHeaderValue;
    s.on_headers_complete = &OnHeadersComplete;
    s.on_body = &OnBody;
    s.on_message_complete = &OnMessageComplete;
    return s;
  }();
  return settings;
}

bool Server::Connection::Start(uv_stream_t* listener) {
  MUSTER_CHECK_EQ(uv_tcp_init(server_->loop_, &tcp_), 0);
  MUSTER_CHECK_EQ(uv_timer_init(server_->loop_, &timer_), 0);
  handles_open_ = 2;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&tcp_)) != 0) {
    Close();
    return false;
  }
  uv_tcp_nodelay(&tcp_, 1);
  ArmTimer(server_->options_.request_timeout);
  UpdateReading();
  return true;
}

void Server::Connection::Close() {
  if (closing_) return;
  closing_ = true;
  for (auto& pending : pending_) pending->connection = nullptr;
  pending_.clear();
  // unparsed_ stays: a handler may close us from inside the parser, which still reads it.
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &OnClosed);
}

void Server::Connection::OnClosed(uv_handle_t* handle) {
  auto* connection = static_cast<Connection*>(handle->data);
  if (--connection->handles_open_ == 0) connection->server_->ForgetConnection(connection);
}

void Server::Connection::ArmTimer(absl::Duration after) {
  uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(after)));
  unread_at_arm_ = tcp_.write_queue_size;
  uv_timer_start(&timer_, &OnTimer, ms, 0);
}

void Server::Connection::OnTimer(uv_timer_t* timer) {
  auto* connection = static_cast<Connection*>(timer->data);
  if (connection->closing_) return;
  if (connection->ending_) {
    connection->Close();  // the linger after a final answer is over
  } else if (connection->in_message_) {
    connection->Fail(408, "request timeout");
  } else if (connection->pending_.empty()) {
    size_t unread = connection->tcp_.write_queue_size;
    if (unread > 0 && unread < connection->unread_at_arm_) {
      connection->ArmTimer(connection->server_->options_.request_timeout);  // slow, but reading
    } else {
      connection->Close();  // idle keep-alive connection, or a client that stopped reading
    }
  }
  // Otherwise a handler holds an answer: waiting for it is the handler's business.
}

// ---- Reading and parsing --------------------------------------------------------------------

void Server::Connection::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* connection = static_cast<Connection*>(handle->data);
  std::vector<char>& buffer = connection->server_->read_buffer_;
  buf->base = buffer.data();
  buf->len = buffer.size();
}

void Server::Connection::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* connection = static_cast<Connection*>(stream->data);
  if (nread < 0) {
    connection->Close();  // EOF or error: the client is gone, pending answers are dropped
    return;
  }
  if (nread == 0 || connection->no_more_requests_) return;  // after a final answer: discard
  connection->unparsed_.append(buf->base, static_cast<size_t>(nread));
  connection->Drive();
}

void Server::Connection::UpdateReading() {
  if (closing_) return;
  // While the queue is full nothing is read, so a client cannot make us buffer more than one
  // read's worth beyond pipelined_requests_max requests. After a final answer we keep reading
  // (and discarding) to notice the client leaving.
  bool want = no_more_requests_ || HasRoom();
  if (want && !reading_) {
    reading_ = uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), &OnAlloc, &OnRead) == 0;
  } else if (!want && reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    reading_ = false;
  }
}

void Server::Connection::Drive() {
  if (driving_) return;  // a handler answered from inside the parser: the loop below goes on
  driving_ = true;
  size_t consumed = 0;
  while (!closing_ && !no_more_requests_ && consumed < unparsed_.size() && HasRoom()) {
    size_t parsed = http_parser_execute(&parser_, &Settings(), unparsed_.data() + consumed,
                                        unparsed_.size() - consumed);
    consumed += parsed;
    http_errno error = HTTP_PARSER_ERRNO(&parser_);
    if (error == HPE_PAUSED) {  // one message complete: look at the queue before the next
      http_parser_pause(&parser_, 0);
      continue;
    }
    if (error != HPE_OK) {
      int status = error_status_ != 0 ? error_status_
                   : error == HPE_HEADER_OVERFLOW ? 431
                                                   : 400;
      Fail(status, error_message_ != nullptr ? error_message_
                   : status == 400            ? http_errno_description(error)
                                              : ReasonPhrase(status));
      break;
    }
    if (consumed < unparsed_.size()) {
      // The parser stops short only after an Upgrade or CONNECT request, whose answer (we
      // never switch protocols) already ends the connection; anything else is malformed.
      if (!no_more_requests_) Fail(400, "unexpected end of HTTP");
      break;
    }
  }
  if (!closing_) unparsed_.erase(0, std::min(consumed, unparsed_.size()));
  driving_ = false;
  UpdateReading();
}

bool Server::Connection::CountHeaderBytes(size_t length) {
  header_bytes_ += length;
  if (header_bytes_ <= server_->options_.header_bytes_max) return true;
  error_status_ = 431;
  return false;
}

void Server::Connection::CommitHeader() {
  if (!header_field_.empty()) {
    request_.headers.Add(std::move(header_field_), std::move(header_value_));
  }
  header_field_.clear();
  header_value_.clear();
  in_header_value_ = false;
}

int Server::Connection::OnMessageBegin(http_parser* parser) {
  Connection* c = From(parser);
  c->request_ = Request();
  c->error_message_ = nullptr;
  c->header_field_.clear();
  c->header_value_.clear();
  c->in_header_value_ = false;
  c->header_bytes_ = 0;
  c->error_status_ = 0;
  c->in_message_ = true;
  c->ArmTimer(c->server_->options_.request_timeout);  // the whole request must arrive in time
  return 0;
}

int Server::Connection::OnUrl(http_parser* parser, const char* at, size_t length) {
  Connection* c = From(parser);
  if (!c->CountHeaderBytes(length)) return -1;
  c->request_.target.append(at, length);
  return 0;
}

int Server::Connection::OnHeaderField(http_parser* parser, const char* at, size_t length) {
  Connection* c = From(parser);
  if (!c->CountHeaderBytes(length)) return -1;
  if (c->in_header_value_) c->CommitHeader();
  c->header_field_.append(at, length);
  return 0;
}

int Server::Connection::OnHeaderValue(http_parser* parser, const char* at, size_t length) {
  Connection* c = From(parser);
  if (!c->CountHeaderBytes(length)) return -1;
  c->in_header_value_ = true;
  c->header_value_.append(at, length);
  return 0;
}

int Server::Connection::OnHeadersComplete(http_parser* parser) {
  Connection* c = From(parser);
  c->CommitHeader();
  // HTTP/1.x only (http-parser takes any digit: "HTTP/9.9" would be served as 1.1); Go's
  // server answers 505 too.
  if (parser->http_major != 1) {
    c->error_status_ = 505;
    return -1;
  }
  // RFC 9112 5.1: no whitespace between a field name and its colon, which http-parser lets
  // through ("Host : x"): a proxy in front that reads it differently is a smuggling vector.
  for (const auto& [name, value] : c->request_.headers.fields()) {
    if (name.find_first_of(" \t") != std::string::npos) {
      c->error_status_ = 400;
      c->error_message_ = "whitespace between a header field's name and its colon";
      return -1;
    }
  }
  c->request_.method = http_method_str(static_cast<http_method>(parser->method));
  if (!ParseTarget(c->request_.target, &c->request_)) {
    c->error_status_ = 400;
    return -1;
  }
  // http-parser sets content_length to ULLONG_MAX when the header is absent (chunked or none).
  bool has_length = parser->content_length != ULLONG_MAX;
  if (has_length && parser->content_length > c->server_->options_.body_bytes_max) {
    c->error_status_ = 413;  // refused before a byte of the body is read
    return -1;
  }
  const std::string* expect = c->request_.headers.Find("expect");
  if (expect != nullptr && absl::EqualsIgnoreCase(*expect, "100-continue") &&
      c->pending_.empty() && !c->closing_) {
    // Only when nothing is queued ahead: a 100 may not overtake earlier answers.
    auto* write = new WriteRequest{{}, "HTTP/1.1 100 Continue\r\n\r\n", c};
    uv_buf_t buf = uv_buf_init(write->bytes.data(), write->bytes.size());
    ++c->writes_in_flight_;
    uv_write(&write->request, reinterpret_cast<uv_stream_t*>(&c->tcp_), &buf, 1, &OnWritten);
  }
  if (has_length) c->request_.body.reserve(parser->content_length);
  return 0;
}

int Server::Connection::OnBody(http_parser* parser, const char* at, size_t length) {
  Connection* c = From(parser);
  if (c->request_.body.size() + length > c->server_->options_.body_bytes_max) {
    c->error_status_ = 413;  // a chunked body that grew past the limit
    return -1;
  }
  c->request_.body.append(at, length);
  return 0;
}

int Server::Connection::OnMessageComplete(http_parser* parser) {
  Connection* c = From(parser);
  c->in_message_ = false;
  uv_timer_stop(&c->timer_);
  auto pending = std::make_shared<internal::PendingAnswer>();
  pending->connection = c;
  pending->head = parser->method == HTTP_HEAD;
  // We never switch protocols (Upgrade, CONNECT): such a request is answered, then the
  // connection ends, since what follows it is not HTTP.
  pending->close_after = !http_should_keep_alive(parser) || parser->upgrade;
  pending->http10_keep_alive =
      !pending->close_after && parser->http_major == 1 && parser->http_minor == 0;
  if (pending->close_after) c->no_more_requests_ = true;
  c->pending_.push_back(pending);
  http_parser_pause(parser, 1);  // Drive decides whether to parse the next request
  auto token = std::make_shared<internal::AnswerToken>();
  token->pending = std::move(pending);
  c->server_->handler_(std::move(c->request_), Responder(std::move(token)));
  return 0;
}

// ---- Writing --------------------------------------------------------------------------------

void Server::Connection::Deliver(internal::PendingAnswer* pending, Response response) {
  const bool bodiless = pending->head || response.status == 204 || response.status == 304;
  std::string& wire = pending->wire;
  absl::StrAppend(&wire, "HTTP/1.1 ", response.status, " ", ReasonPhrase(response.status),
                  "\r\n");
  for (const auto& [name, value] : response.headers.fields()) {
    if (IsServerOwnedHeader(name)) continue;
    absl::StrAppend(&wire, name, ": ", value, "\r\n");
  }
  if (response.status != 204 && response.status != 304) {
    absl::StrAppend(&wire, "Content-Length: ", response.body.size(), "\r\n");
  }
  if (pending->close_after) {
    wire.append("Connection: close\r\n");
  } else if (pending->http10_keep_alive) {
    wire.append("Connection: keep-alive\r\n");
  }
  wire.append("\r\n");
  if (!bodiless) wire.append(response.body);
  Flush();
}

void Server::Connection::Flush() {
  if (closing_ || ending_) return;
  std::string bytes;
  bool end = false;
  while (!pending_.empty() && pending_.front()->answered) {
    std::shared_ptr<internal::PendingAnswer> front = std::move(pending_.front());
    pending_.pop_front();
    front->connection = nullptr;
    if (bytes.empty()) {
      bytes = std::move(front->wire);
    } else {
      bytes.append(front->wire);
    }
    front->wire = std::string();
    if (front->close_after) {
      end = true;
      break;
    }
  }
  if (!bytes.empty()) {
    auto* write = new WriteRequest{{}, std::move(bytes), this};
    uv_buf_t buf = uv_buf_init(write->bytes.data(), write->bytes.size());
    ++writes_in_flight_;
    int rc = uv_write(&write->request, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1,
                      &OnWritten);
    if (rc != 0) {
      --writes_in_flight_;
      delete write;
      Close();
      return;
    }
    write->counted = true;
    server_->unsent_bytes_ += write->bytes.size();
    // Over the server's budget: the connection that is not taking its answers goes.
    if (server_->unsent_bytes_ > server_->options_.unsent_bytes_max &&
        tcp_.write_queue_size > server_->options_.write_queue_bytes_max) {
      server_->closed_for_unsent_bytes_.fetch_add(1, std::memory_order_relaxed);
      Close();
      return;
    }
  }
  if (end) {
    ending_ = true;
    for (auto& rest : pending_) rest->connection = nullptr;
    pending_.clear();
    EndAfterWrites();
    return;
  }
  if (pending_.empty() && !in_message_) ArmTimer(server_->options_.request_timeout);
  if (!driving_ && !unparsed_.empty()) {
    Drive();  // requests that waited for queue room
  } else {
    UpdateReading();
  }
}

void Server::Connection::OnWritten(uv_write_t* request, int status) {
  auto* write = reinterpret_cast<WriteRequest*>(request);
  Connection* c = write->connection;
  if (write->counted) c->server_->unsent_bytes_ -= write->bytes.size();
  delete write;
  --c->writes_in_flight_;
  if (c->closing_) return;
  if (status != 0) {
    c->Close();
    return;
  }
  if (c->ending_) {
    if (c->writes_in_flight_ == 0) c->EndAfterWrites();
  } else if (!c->driving_ && !c->unparsed_.empty()) {
    c->Drive();  // requests that waited for the client to take its answers
  } else {
    c->UpdateReading();
  }
}

void Server::Connection::EndAfterWrites() {
  if (closing_ || writes_in_flight_ > 0) return;
  // Send our FIN, then drain what the client still sends until it closes or the linger ends.
  auto* shutdown = new uv_shutdown_t;
  shutdown->data = this;
  if (uv_shutdown(shutdown, reinterpret_cast<uv_stream_t*>(&tcp_), &OnShutdown) != 0) {
    delete shutdown;
    Close();
    return;
  }
  ArmTimer(std::min(kLingerMax, server_->options_.request_timeout));
  UpdateReading();
}

void Server::Connection::OnShutdown(uv_shutdown_t* request, int status) {
  auto* c = static_cast<Connection*>(request->data);
  delete request;
  if (status != 0 && !c->closing_) c->Close();
}

void Server::Connection::Fail(int status, absl::string_view message) {
  in_message_ = false;
  no_more_requests_ = true;
  auto pending = std::make_shared<internal::PendingAnswer>();
  pending->connection = this;
  pending->close_after = true;
  pending->answered = true;
  pending_.push_back(pending);
  Response response;
  response.status = status;
  response.headers.Add("Content-Type", "text/plain; charset=utf-8");
  response.body = absl::StrCat(message, "\n");
  Deliver(pending.get(), std::move(response));
}

// ---- Responder ------------------------------------------------------------------------------

internal::AnswerToken::~AnswerToken() {
  if (pending->answered) return;
  pending->answered = true;
  if (pending->connection == nullptr) return;
  Response response;
  response.status = 500;
  response.body = "the request's handler gave no answer\n";
  pending->connection->Deliver(pending.get(), std::move(response));
}

Responder::Responder(std::shared_ptr<internal::AnswerToken> token) : token_(std::move(token)) {}

void Responder::Respond(Response response) {
  internal::PendingAnswer* pending = token_->pending.get();
  MUSTER_CHECK(!pending->answered, "a request answered twice");
  pending->answered = true;
  if (pending->connection == nullptr) return;  // the client left; nothing to send
  pending->connection->Deliver(pending, std::move(response));
}

void Responder::Respond(int status, std::string body, absl::string_view content_type) {
  Response response;
  response.status = status;
  response.headers.Add("Content-Type", std::string(content_type));
  response.body = std::move(body);
  Respond(std::move(response));
}

bool Responder::client_connected() const { return token_->pending->connection != nullptr; }

// ---- Server ---------------------------------------------------------------------------------

absl::StatusOr<sockaddr_storage> ParseListenAddress(absl::string_view host_port) {
  std::string host;
  absl::string_view port_text;
  if (absl::StartsWith(host_port, "[")) {
    size_t close = host_port.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("address \"", std::string(host_port), "\": expected [ipv6]:port"));
    }
    host = std::string(host_port.substr(1, close - 1));
    port_text = host_port.substr(close + 2);
  } else {
    size_t colon = host_port.rfind(':');
    if (colon == absl::string_view::npos || host_port.find(':') != colon) {
      return absl::InvalidArgumentError(absl::StrCat(
          "address \"", std::string(host_port), "\": expected host:port or [ipv6]:port"));
    }
    host = std::string(host_port.substr(0, colon));
    port_text = host_port.substr(colon + 1);
  }
  int port = 0;
  if (!absl::SimpleAtoi(std::string(port_text), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", std::string(host_port), "\": bad port"));
  }
  sockaddr_storage storage;
  std::memset(&storage, 0, sizeof(storage));
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&storage)) == 0) {
    return storage;
  }
  if (uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&storage)) == 0) {
    return storage;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("address \"", std::string(host_port), "\": host is not an IP address"));
}

Server::Server(uv_loop_t* loop, ServerOptions options, Handler handler)
    : loop_(loop),
      options_(std::move(options)),
      handler_(std::move(handler)),
      read_buffer_(kReadBufferBytes) {
  MUSTER_CHECK(loop_ != nullptr);
  MUSTER_CHECK(handler_ != nullptr);
  MUSTER_CHECK(options_.pipelined_requests_max > 0);
  MUSTER_CHECK(options_.connections_max > 0);
  listener_.data = this;
}

Server::~Server() {
  MUSTER_CHECK(!listener_open_ && connections_.empty(),
               "the server was destroyed before Stop() completed");
}

absl::Status Server::Listen(absl::string_view host_port) {
  MUSTER_CHECK(!listener_open_ && !stopping_, "Listen() called twice or after Stop()");
  absl::StatusOr<sockaddr_storage> address = ParseListenAddress(host_port);
  if (!address.ok()) return address.status();
  MUSTER_CHECK_EQ(uv_tcp_init(loop_, &listener_), 0);
  listener_open_ = true;
  const auto* addr = reinterpret_cast<const sockaddr*>(&*address);
  unsigned flags = addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
  int rc = uv_tcp_bind(&listener_, addr, flags);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), options_.listen_backlog,
                   &OnConnection);
  }
  if (rc != 0) {
    listener_closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), &OnListenerClosed);
    return absl::UnavailableError(absl::StrCat("listen on ", std::string(host_port), ": ",
                                               uv_strerror(rc)));
  }
  sockaddr_storage bound;
  int length = sizeof(bound);
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &length);
  port_ = bound.ss_family == AF_INET6
              ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
              : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return absl::OkStatus();
}

void Server::OnConnection(uv_stream_t* listener, int status) {
  auto* server = static_cast<Server*>(listener->data);
  if (status != 0 || server->stopping_) return;
  server->Accept();
}

void Server::Accept() {
  connections_.push_back(std::make_unique<Connection>(this));
  Connection* connection = connections_.back().get();
  connection->self = std::prev(connections_.end());
  bool accepted = connection->Start(reinterpret_cast<uv_stream_t*>(&listener_));
  // Over the bound the client is accepted and closed at once (libuv would otherwise report it
  // again and again); the ones closing still count until their handles are released.
  if (accepted && connections_.size() > options_.connections_max) connection->Close();
}

void Server::ForgetConnection(Connection* connection) {
  connections_.erase(connection->self);
  MaybeFinishStop();
}

void Server::OnListenerClosed(uv_handle_t* handle) {
  auto* server = static_cast<Server*>(handle->data);
  server->listener_open_ = false;
  server->listener_closing_ = false;
  server->MaybeFinishStop();
}

void Server::Stop(std::function<void()> done) {
  MUSTER_CHECK(!stopping_, "Stop() called twice");
  stopping_ = true;
  stop_done_ = std::move(done);
  if (listener_open_ && !listener_closing_) {
    listener_closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), &OnListenerClosed);
  }
  // Close() never frees synchronously (libuv calls back later), so iterating is safe.
  for (auto& connection : connections_) connection->Close();
  MaybeFinishStop();
}

void Server::MaybeFinishStop() {
  if (!stopping_ || listener_open_ || !connections_.empty() || stop_done_ == nullptr) return;
  std::function<void()> done = std::move(stop_done_);
  stop_done_ = nullptr;
  done();
}

}  // namespace muster::io::http
