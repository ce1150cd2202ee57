// One blocking HTTP/1.1 exchange per connection (see http_client.h): resolve, connect with a
// deadline, write the request with "Connection: close", read until http-parser says the
// message is complete (or the peer closes, for a body delimited by the close).
#include "cmd/cli/http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/strings.h"

namespace muster::cli {

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, Absl(name))) return value;
  }
  return "";
}

std::string HttpAddress::HostPort() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<HttpAddress> ParseHttpAddress(std::string_view text) {
  std::string_view rest = text;
  if (absl::StartsWith(Absl(rest), "http://")) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported scheme in HTTP address \"", std::string(text),
                                                   "\": only http:// is spoken"));
  }
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP address \"", std::string(text), "\" has a path"));
  }
  HttpAddress address;
  address.port = 80;
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("missing ']' in HTTP address \"", std::string(text), "\""));
    }
    address.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return absl::InvalidArgumentError(absl::StrCat("bad HTTP address \"", std::string(text), "\""));
      }
      port_text = after.substr(1);
    }
  } else {
    size_t colon = rest.rfind(':');
    if (colon != std::string_view::npos && rest.find(':') != colon) {
      return absl::InvalidArgumentError(
          absl::StrCat("IPv6 HTTP address \"", std::string(text), "\" needs brackets: [::1]:8500"));
    }
    address.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
  }
  if (address.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP address \"", std::string(text), "\" has no host"));
  }
  if (!port_text.empty() || (rest.size() && rest.back() == ':')) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(Absl(port_text), &port) || port == 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("bad port in HTTP address \"", std::string(text), "\""));
    }
    address.port = static_cast<uint16_t>(port);
  }
  return address;
}

namespace {

// Go's net errors are lower case ("connection refused"); strerror's are capitalised.
std::string ErrnoText(int error) {
  std::string text = std::strerror(error);
  if (!text.empty()) text[0] = absl::ascii_tolower(static_cast<unsigned char>(text[0]));
  return text;
}

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Waits for `events` on fd until the deadline: true when ready, false on timeout, or when a
// signal interrupts the wait and `cancelled` says to stop.
bool WaitFor(int fd, short events, absl::Time deadline, const std::function<bool()>& cancelled = nullptr) {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd, events, 0};
    int timeout_ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
    int rc = poll(&p, 1, timeout_ms);
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return true;  // let the following call report the error
    if (rc < 0 && cancelled && cancelled()) return false;
  }
}

// Connects to one resolved address before the deadline; on failure, Go's "connect: ..." text.
absl::StatusOr<int> ConnectOne(const addrinfo& ai, absl::Time deadline) {
  int fd = socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", ErrnoText(errno)));
  if (connect(fd, ai.ai_addr, ai.ai_addrlen) == 0) return fd;
  if (errno != EINPROGRESS) {
    int error = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect: ", ErrnoText(error)));
  }
  if (!WaitFor(fd, POLLOUT, deadline)) {
    close(fd);
    return absl::DeadlineExceededError("i/o timeout");
  }
  int error = 0;
  socklen_t length = sizeof(error);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect: ", ErrnoText(error)));
  }
  return fd;
}

absl::StatusOr<int> Dial(const HttpAddress& to, absl::Time deadline) {
  const std::string prefix = absl::StrCat("dial tcp ", to.HostPort(), ": ");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  const std::string port = absl::StrCat(to.port);
  int rc = getaddrinfo(to.host.c_str(), port.c_str(), &hints, &results);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("dial tcp: lookup ", to.host, ": ", gai_strerror(rc)));
  }
  absl::Status last = absl::UnavailableError("no address");
  int fd = -1;
  for (addrinfo* ai = results; ai != nullptr && fd < 0; ai = ai->ai_next) {
    absl::StatusOr<int> connected = ConnectOne(*ai, deadline);
    if (connected.ok()) {
      fd = *connected;
    } else {
      last = connected.status();
    }
  }
  freeaddrinfo(results);
  if (fd < 0) return absl::Status(last.code(), absl::StrCat(prefix, last.message()));
  return fd;
}

std::string Serialize(const HttpAddress& to, const HttpRequest& request) {
  std::string out = absl::StrCat(request.method, " ", request.target, " HTTP/1.1\r\nHost: ", to.HostPort(),
                                 "\r\nUser-Agent: muster-cli\r\nConnection: close\r\n");
  for (const auto& [name, value] : request.headers) absl::StrAppend(&out, name, ": ", value, "\r\n");
  // As Go's client: a PUT always states its length (0 included), a GET only with a body.
  if (!request.body.empty() || request.method == "PUT" || request.method == "POST") {
    absl::StrAppend(&out, "Content-Length: ", request.body.size(), "\r\n");
  }
  absl::StrAppend(&out, "\r\n", request.body);
  return out;
}

struct ParseState {
  HttpResponse response;
  bool complete = false;
  bool too_large = false;
  bool in_value = false;  // http-parser hands a header's name and value over in pieces
};

int OnHeaderField(http_parser* parser, const char* at, size_t length) {
  auto* state = static_cast<ParseState*>(parser->data);
  if (state->in_value || state->response.headers.empty()) state->response.headers.emplace_back();
  state->in_value = false;
  state->response.headers.back().first.append(at, length);
  return 0;
}

int OnHeaderValue(http_parser* parser, const char* at, size_t length) {
  auto* state = static_cast<ParseState*>(parser->data);
  if (state->response.headers.empty()) return 0;
  state->in_value = true;
  state->response.headers.back().second.append(at, length);
  return 0;
}

int OnBody(http_parser* parser, const char* at, size_t length) {
  auto* state = static_cast<ParseState*>(parser->data);
  if (state->response.body.size() + length > kResponseBytesMax) {
    state->too_large = true;
    return 1;  // stops the parser
  }
  state->response.body.append(at, length);
  return 0;
}

// A Content-Length past the bound is refused before any of the body is read.
int OnHeadersComplete(http_parser* parser) {
  auto* state = static_cast<ParseState*>(parser->data);
  const bool has_length = parser->content_length != ULLONG_MAX;  // http-parser's "none given"
  if (has_length && parser->content_length > kResponseBytesMax) {
    state->too_large = true;
    return -1;  // an error (1 and 2 mean "no body" to http-parser)
  }
  return 0;
}

int OnMessageComplete(http_parser* parser) {
  auto* state = static_cast<ParseState*>(parser->data);
  state->complete = true;
  state->response.status = static_cast<int>(parser->status_code);
  return 0;
}

}  // namespace

absl::StatusOr<HttpResponse> SocketHttpTransport::RoundTrip(const HttpAddress& to, const HttpRequest& request) {
  const absl::Time deadline = absl::Now() + timeout_;
  absl::StatusOr<int> dialed = Dial(to, deadline);
  if (!dialed.ok()) return dialed.status();
  Socket socket(*dialed);
  const std::string local = absl::StrCat("tcp ", to.HostPort());

  const std::string wire = Serialize(to, request);
  size_t sent = 0;
  while (sent < wire.size()) {
    ssize_t n = send(socket.fd(), wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitFor(socket.fd(), POLLOUT, deadline)) return absl::DeadlineExceededError(absl::StrCat("write ", local, ": i/o timeout"));
      continue;
    }
    return absl::UnavailableError(absl::StrCat("write ", local, ": ", ErrnoText(errno)));
  }

  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_header_field = OnHeaderField;
  settings.on_header_value = OnHeaderValue;
  settings.on_headers_complete = OnHeadersComplete;
  settings.on_body = OnBody;
  settings.on_message_complete = OnMessageComplete;
  http_parser parser;
  http_parser_init(&parser, HTTP_RESPONSE);
  ParseState state;
  parser.data = &state;
  char buffer[16384];
  size_t head_bytes = 0;  // bytes read in all, bounded like the body
  while (!state.complete) {
    ssize_t n = recv(socket.fd(), buffer, sizeof(buffer), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitFor(socket.fd(), POLLIN, deadline, cancelled_)) {
        if (cancelled_ && cancelled_()) return absl::CancelledError(absl::StrCat("read ", local, ": interrupted"));
        return absl::DeadlineExceededError(absl::StrCat("read ", local, ": i/o timeout (no answer within ",
                                                        absl::FormatDuration(timeout_), ")"));
      }
      continue;
    }
    if (n < 0) return absl::UnavailableError(absl::StrCat("read ", local, ": ", ErrnoText(errno)));
    head_bytes += static_cast<size_t>(n);
    if (head_bytes > kResponseBytesMax + sizeof(buffer)) {
      return absl::ResourceExhaustedError(absl::StrCat("response from ", to.HostPort(), " is over ", kResponseBytesMax, " bytes"));
    }
    // n == 0 is the peer's close: http-parser ends a read-to-close body on a zero-length call.
    size_t parsed = http_parser_execute(&parser, &settings, buffer, static_cast<size_t>(n));
    if (state.too_large) {
      return absl::ResourceExhaustedError(absl::StrCat("response from ", to.HostPort(), " is over ", kResponseBytesMax, " bytes"));
    }
    if (state.complete) break;
    if (parser.http_errno != HPE_OK || parsed != static_cast<size_t>(n)) {
      return absl::DataLossError(absl::StrCat("malformed HTTP response from ", to.HostPort(), ": ",
                                              http_errno_description(static_cast<http_errno>(parser.http_errno))));
    }
    if (n == 0) return absl::UnavailableError(absl::StrCat("read ", local, ": EOF before a complete response"));
  }
  return std::move(state.response);
}

}  // namespace muster::cli
