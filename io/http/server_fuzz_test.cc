// Randomized tests of the HTTP server's parsing across reads (issue 12, "Bad input"). The
// mutation test in server_test.cc sends each mutated request in one write on its own
// connection; what it cannot see is state carried from one read to the next (a header name
// or value, a percent-escape, a chunk size cut in two). Here, from fixed seeds, streams of
// pipelined requests — random methods, targets with %-escapes and '+', repeated query keys,
// odd header spacing, Content-Length and chunked bodies with extensions and trailers, some
// mutated — are sent twice: in one write, and cut at random points into many writes with pauses
// between them, on several connections at once. The server must answer both byte for byte the
// same (the handler echoes everything it was given), and end every connection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/base/rng.h"
#include "gtest/gtest.h"
#include "io/http/server.h"

namespace muster::io::http {
namespace {

// The fixed seeds make test runs, or seeds 1..N with MUSTER_FUZZ_SEEDS=N for a long sweep run
// from bazel-out outside make test (a failure names its seed either way).
const std::vector<uint64_t>& Seeds() {
  static const std::vector<uint64_t>* seeds = [] {
    auto* v = new std::vector<uint64_t>{1, 2, 3, 20261201};
    if (const char* n = std::getenv("MUSTER_FUZZ_SEEDS"); n != nullptr && std::atoi(n) > 0) {
      v->clear();
      for (int s = 1; s <= std::atoi(n); ++s) v->push_back(static_cast<uint64_t>(s));
    }
    return v;
  }();
  return *seeds;
}

constexpr int kStreamsPerSeed = 250;
// A stream is cut into at most this many writes, each followed by a pause long enough for the
// server's loop to read it alone.
constexpr uint64_t kPiecesMax = 24;
constexpr auto kPause = std::chrono::microseconds(300);

// ---- The server side ------------------------------------------------------------------------

// Echoes everything the parser gave the handler, escaped, so two runs compare byte for byte.
void EchoAll(Request request, Responder responder) {
  std::string text = absl::StrCat(request.method, " ", absl::CHexEscape(request.target), " path=",
                                  absl::CHexEscape(request.path));
  for (const auto& [key, value] : request.query) {
    absl::StrAppend(&text, " q[", absl::CHexEscape(key), "=", absl::CHexEscape(value), "]");
  }
  for (const auto& [name, value] : request.headers.fields()) {
    absl::StrAppend(&text, " h[", absl::CHexEscape(name), ": ", absl::CHexEscape(value), "]");
  }
  absl::StrAppend(&text, " body=", absl::CHexEscape(request.body));
  responder.Respond(200, text);
}

// A Server on its own loop thread.
class ServerThread {
 public:
  ServerThread() {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &stop_, &OnStop);
    stop_.data = this;
    server_ = std::make_unique<Server>(&loop_, ServerOptions{}, &EchoAll);
    status_ = server_->Listen("127.0.0.1:0");
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~ServerThread() {
    uv_async_send(&stop_);
    thread_.join();
    server_.reset();
    uv_loop_close(&loop_);
  }
  int port() const { return server_->port(); }
  const absl::Status& status() const { return status_; }

 private:
  static void OnStop(uv_async_t* async) {
    auto* self = static_cast<ServerThread*>(async->data);
    self->server_->Stop([self] { uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), nullptr); });
  }

  uv_loop_t loop_;
  uv_async_t stop_;
  std::unique_ptr<Server> server_;
  absl::Status status_;
  std::thread thread_;
};

// ---- The client side ------------------------------------------------------------------------

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
  return fd;
}

void SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t sent = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent <= 0) return;  // the server closed: what it answered is read below
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
}

struct Received {
  std::string bytes;
  bool closed = false;  // the server ended the connection (EOF or reset) before the timeout
};

Received ReadUntilClosed(int fd) {
  Received got;
  char chunk[16384];
  while (true) {
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      got.bytes.append(chunk, static_cast<size_t>(n));
      continue;
    }
    got.closed = n == 0 || errno == ECONNRESET;
    return got;
  }
}

// Sends `stream` in the given pieces (one write each, a pause after each), half-closes, and
// reads everything the server answers until it closes.
Received Exchange(int port, const std::string& stream, const std::vector<size_t>& cuts) {
  int fd = Connect(port);
  size_t at = 0;
  for (size_t cut : cuts) {
    SendAll(fd, std::string_view(stream).substr(at, cut - at));
    at = cut;
    std::this_thread::sleep_for(kPause);
  }
  SendAll(fd, std::string_view(stream).substr(at));
  shutdown(fd, SHUT_WR);
  Received got = ReadUntilClosed(fd);
  close(fd);
  return got;
}

// ---- Streams --------------------------------------------------------------------------------

class StreamFuzzer {
 public:
  explicit StreamFuzzer(uint64_t seed) : rng_(seed) {}

  template <typename T, size_t n>
  const T& Pick(const T (&items)[n]) {
    return items[rng_.Uniform(n)];
  }

  std::string Target() {
    static const char* const kPieces[] = {"a", "b/", "%41", "%2F", "%2f", "%20", "+", "%2B", "%C3%A9", "%00",
                                          "%", "%4", "%zz", "~", ".", "..", "//", "%25"};
    std::string target = "/v1/kv/";
    for (uint64_t n = rng_.Uniform(6); n > 0; --n) target += Pick(kPieces);
    if (rng_.Bernoulli(0.7)) {
      static const char* const kQuery[] = {"recurse", "cas=1", "cas=%31", "a=b+c", "a=%2B", "x=",
                                           "=y", "&", "k=1&k=2", "sep=%2F", "bad=%G0"};
      target += "?";
      for (uint64_t n = 1 + rng_.Uniform(4); n > 0; --n) absl::StrAppend(&target, Pick(kQuery), n > 1 ? "&" : "");
    }
    if (rng_.Bernoulli(0.05)) target += "#fragment";
    if (rng_.Bernoulli(0.05)) target = "http://example.com" + target;
    return target;
  }

  std::string Headers() {
    static const char* const kHeaders[] = {
        "Host: test\r\n", "X-A: 1\r\n", "X-B:no-space\r\n", "X-C:   padded   \r\n", "X-Tab:\tt\r\n",
        "x-lower: v\r\n", "X-Empty:\r\n", "X-Long: " "0123456789012345678901234567890123456789\r\n",
        "X-Utf8: \xC3\xA9\r\n", "X-Dup: 1\r\n", "X-Dup: 2\r\n", "Accept: */*\r\n",
        "User-Agent: python-consul/0.7.1\r\n"};
    std::string out;
    for (uint64_t n = rng_.Uniform(5); n > 0; --n) out += Pick(kHeaders);
    return out;
  }

  std::string RandomBody(size_t max) {
    std::string body(rng_.Uniform(max + 1), '\0');
    for (char& c : body) c = static_cast<char>(rng_.Uniform(256));
    return body;
  }

  // One request; `last` may ask the server to close after it.
  std::string Request(bool last) {
    static const char* const kMethods[] = {"GET", "PUT", "DELETE", "POST", "HEAD", "OPTIONS"};
    std::string method = Pick(kMethods);
    const bool http10 = rng_.Bernoulli(0.1);
    std::string out = absl::StrCat(method, " ", Target(), http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n", Headers());
    if (http10) out += "Connection: keep-alive\r\n";
    if (last && rng_.Bernoulli(0.5)) out += "Connection: close\r\n";
    switch (rng_.Uniform(3)) {
      case 0:
        return out + "\r\n";
      case 1: {
        std::string body = RandomBody(300);
        return absl::StrCat(out, "Content-Length: ", body.size(), "\r\n\r\n", body);
      }
      default: {
        if (http10) return out + "\r\n";  // no chunked in HTTP/1.0
        out += "Transfer-Encoding: chunked\r\n\r\n";
        for (uint64_t chunks = rng_.Uniform(5); chunks > 0; --chunks) {
          std::string chunk = RandomBody(100);
          if (chunk.empty()) chunk = "x";
          std::string size = absl::StrCat(absl::Hex(chunk.size()));
          if (rng_.Bernoulli(0.3)) size = absl::AsciiStrToUpper(size);
          absl::StrAppend(&out, size, rng_.Bernoulli(0.2) ? ";ext=1" : "", "\r\n", chunk, "\r\n");
        }
        out += "0\r\n";
        if (rng_.Bernoulli(0.2)) out += "X-Trailer: t\r\n";
        return out + "\r\n";
      }
    }
  }

  std::string Stream() {
    std::string stream;
    const uint64_t requests = 1 + rng_.Uniform(5);
    for (uint64_t i = 0; i < requests; ++i) stream += Request(i + 1 == requests);
    if (rng_.Bernoulli(0.3)) {
      for (uint64_t edits = 1 + rng_.Uniform(3); edits > 0; --edits) {
        const size_t at = rng_.Uniform(stream.size());
        switch (rng_.Uniform(3)) {
          case 0: stream[at] = static_cast<char>(rng_.Uniform(256)); break;
          case 1: stream.insert(at, 1, Pick({'\r', '\n', ' ', ':', '%', '\0', ';', 'x'})); break;
          default: stream.erase(at, 1 + rng_.Uniform(4)); break;
        }
      }
    }
    return stream;
  }

  // Increasing cut points inside `stream`, some of them one byte apart.
  std::vector<size_t> Cuts(const std::string& stream) {
    std::vector<size_t> cuts;
    if (stream.size() < 2) return cuts;
    for (uint64_t n = 1 + rng_.Uniform(kPiecesMax); n > 0; --n) cuts.push_back(1 + rng_.Uniform(stream.size() - 1));
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    return cuts;
  }

  Rng& rng() { return rng_; }

 private:
  Rng rng_;
};

std::string Shown(const std::string& bytes) {
  std::string escaped = absl::CHexEscape(bytes.substr(0, 600));
  if (bytes.size() > 600) absl::StrAppend(&escaped, "... (", bytes.size(), " bytes)");
  return escaped;
}

// ---- Tests ----------------------------------------------------------------------------------

// Each seed's streams run on their own client thread, so several connections are open at once.
TEST(ServerFuzzTest, AnswersDoNotDependOnHowTheBytesAreCut) {
  ServerThread server;
  ASSERT_TRUE(server.status().ok()) << server.status();
  std::vector<std::thread> clients;
  std::vector<int> answered(Seeds().size(), 0);
  for (size_t s = 0; s < Seeds().size(); ++s) {
    clients.emplace_back([&, s] {
      StreamFuzzer fuzzer(Seeds()[s]);
      for (int i = 0; i < kStreamsPerSeed; ++i) {
        const std::string stream = fuzzer.Stream();
        const std::vector<size_t> cuts = fuzzer.Cuts(stream);
        const Received whole = Exchange(server.port(), stream, {});
        const Received cut = Exchange(server.port(), stream, cuts);
        const std::string what = absl::StrCat("seed ", Seeds()[s], " stream ", i, " cut into ", cuts.size() + 1,
                                              " pieces: ", Shown(stream));
        EXPECT_TRUE(whole.closed) << "the connection was not ended: " << what;
        EXPECT_TRUE(cut.closed) << "the connection was not ended: " << what;
        EXPECT_EQ(Shown(cut.bytes), Shown(whole.bytes)) << what;
        if (whole.bytes.rfind("HTTP/1.1 200", 0) == 0) ++answered[s];
      }
    });
  }
  for (std::thread& client : clients) client.join();
  // Most streams must have been served (not just refused), or the comparison shows little.
  for (size_t s = 0; s < Seeds().size(); ++s) EXPECT_GT(answered[s], kStreamsPerSeed / 3) << Seeds()[s];
}

// Random bytes on 64 connections at once, each stream cut and interleaved with the others':
// every connection is ended by the server, and a good request is served afterwards.
TEST(ServerFuzzTest, RandomBytesOnManyConnectionsAtOnce) {
  ServerThread server;
  ASSERT_TRUE(server.status().ok()) << server.status();
  Rng rng(99);
  constexpr int kConnections = 64;
  std::vector<int> fds;
  std::vector<std::string> streams;
  for (int c = 0; c < kConnections; ++c) {
    fds.push_back(Connect(server.port()));
    std::string stream(1 + rng.Uniform(2048), '\0');
    for (char& b : stream) b = static_cast<char>(rng.Uniform(256));
    if (c % 4 == 0) stream.insert(0, "PUT /v1/kv/x HTTP/1.1\r\n");  // past the request line first
    streams.push_back(std::move(stream));
  }
  std::vector<size_t> sent(kConnections, 0);
  for (bool more = true; more;) {
    more = false;
    for (int c = 0; c < kConnections; ++c) {
      if (sent[c] >= streams[c].size()) continue;
      const size_t n = std::min<size_t>(1 + rng.Uniform(200), streams[c].size() - sent[c]);
      SendAll(fds[c], std::string_view(streams[c]).substr(sent[c], n));
      sent[c] += n;
      more = true;
    }
  }
  for (int fd : fds) shutdown(fd, SHUT_WR);
  for (int c = 0; c < kConnections; ++c) {
    Received got = ReadUntilClosed(fds[c]);
    EXPECT_TRUE(got.closed) << "connection " << c << " was not ended: " << Shown(got.bytes);
    close(fds[c]);
  }
  const Received after = Exchange(server.port(), "GET /after HTTP/1.1\r\nHost: t\r\n\r\n", {});
  EXPECT_EQ(after.bytes.rfind("HTTP/1.1 200", 0), 0u) << Shown(after.bytes);
}

}  // namespace
}  // namespace muster::io::http
