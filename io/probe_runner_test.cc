// HTTP and TCP probes against local servers on kernel-picked ports: the project's HTTP server
// on the same loop, raw listening sockets, and an HTTPS server on a thread of the test with a
// certificate made for the run. Loopback only.
#include "io/probe_runner.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "io/http/server.h"
#include "io/process_runner.h"

namespace muster::io {
namespace {

// A socket bound on loopback, port 0; `listen_backlog` < 0: bound only (then closed, its port
// is one nothing listens on).
int BoundSocket(bool ipv6, int* port, int listen_backlog) {
  const int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_storage storage{};
  socklen_t length;
  if (ipv6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::1", &a->sin6_addr);
    length = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a->sin_addr);
    length = sizeof(*a);
  }
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&storage), length), 0) << strerror(errno);
  if (listen_backlog >= 0) {
    EXPECT_EQ(listen(fd, listen_backlog), 0);
  }
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length), 0);
  *port = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  return fd;
}

// Threads of this process now (/proc/self/status).
int ThreadCount() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  int threads = -1;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::sscanf(line, "Threads: %d", &threads) == 1) break;
  }
  std::fclose(f);
  return threads;
}

int ClosedPort() {
  int port = 0;
  close(BoundSocket(false, &port, -1));
  return port;
}

// An HTTPS server on its own thread with a fresh self-signed certificate (EC P-256): every
// request gets 200 "secure". Handshakes a client refuses are counted.
class TlsServer {
 public:
  TlsServer() {
    ctx_ = SSL_CTX_new(TLS_server_method());
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    EXPECT_EQ(SSL_CTX_use_certificate(ctx_, cert), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx_, key), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
    listen_fd_ = BoundSocket(false, &port_, 16);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TlsServer() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
    SSL_CTX_free(ctx_);
  }
  int port() const { return port_; }
  int handshakes_failed() const { return handshakes_failed_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd ready{listen_fd_, POLLIN, 0};
      if (poll(&ready, 1, 20) <= 0) continue;
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      timeval timeout{2, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        std::string request;
        char buffer[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
          const int n = SSL_read(ssl, buffer, sizeof(buffer));
          if (n <= 0) break;
          request.append(buffer, static_cast<size_t>(n));
        }
        const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure";
        SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
        SSL_shutdown(ssl);
      } else {
        ++handshakes_failed_;
      }
      SSL_free(ssl);
      close(fd);
    }
  }

  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> handshakes_failed_{0};
  std::thread thread_;
};

class ProbeRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    server_ = std::make_unique<http::Server>(&loop_, http::ServerOptions{},
                                             [this](http::Request request, http::Responder responder) {
                                               Handle(std::move(request), std::move(responder));
                                             });
    ASSERT_TRUE(server_->Listen("127.0.0.1:0").ok());
    port_ = server_->port();
  }

  void TearDown() override {
    parked_.clear();
    bool stopped = false;
    server_->Stop([&] { stopped = true; });
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_TRUE(stopped);
    server_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle leaked";
  }

  void Handle(http::Request request, http::Responder responder) {
    ++requests_;
    last_request_ = request;
    if (request.path == "/ok") {
      responder.Respond(200, "healthy");
    } else if (request.path == "/429") {
      responder.Respond(429, "slow down");
    } else if (request.path == "/500") {
      responder.Respond(500, "broken");
    } else if (request.path == "/big") {
      responder.Respond(200, std::string(100000, 'a'));
    } else if (request.path == "/redirect") {
      http::Response r;
      r.status = 302;
      r.headers.Add("Location", "/ok");
      responder.Respond(std::move(r));
    } else if (request.path == "/hang") {
      parked_.push_back(responder);  // answered never (dropped at the end)
    } else {
      responder.Respond(404, "no such path");
    }
  }

  std::string Url(absl::string_view path) const { return absl::StrCat("http://127.0.0.1:", port_, path); }

  static ProcessStart Http(std::string url, absl::Duration timeout = absl::Seconds(5)) {
    ProcessStart s;
    s.kind = ProcessStart::Kind::kHttp;
    s.url = std::move(url);
    s.timeout = timeout;
    return s;
  }
  static ProcessStart Tcp(std::string address, absl::Duration timeout = absl::Seconds(5)) {
    ProcessStart s;
    s.kind = ProcessStart::Kind::kTcp;
    s.address = std::move(address);
    s.timeout = timeout;
    return s;
  }

  // Runs the loop until `done` holds, or fails after `limit`.
  void RunUntil(const std::function<bool()>& done, absl::Duration limit = absl::Seconds(30)) {
    uv_timer_t guard;  // wakes UV_RUN_ONCE so the limit is checked
    uv_timer_init(&loop_, &guard);
    uv_timer_start(&guard, [](uv_timer_t*) {}, 20, 20);
    const absl::Time give_up = absl::Now() + limit;
    while (!done() && absl::Now() < give_up) uv_run(&loop_, UV_RUN_ONCE);
    EXPECT_TRUE(done()) << "not done after " << limit;
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
  }

  // Starts every probe, checks each ends exactly once with its id, and returns the ends in
  // start order.
  std::vector<ProcessExitedInput> RunAll(std::vector<ProcessStart> starts, ProbeRunner::Limits limits = {}) {
    ProbeRunner runner(&loop_, limits);
    std::vector<std::optional<ProcessExitedInput>> ends(starts.size());
    size_t ended = 0;
    for (size_t i = 0; i < starts.size(); ++i) {
      starts[i].id = 100 + i;
      runner.Start(starts[i], [&, i](ProcessExitedInput r) {
        EXPECT_FALSE(ends[i].has_value()) << "probe " << i << " ended twice";
        ends[i] = std::move(r);
        ++ended;
      });
    }
    EXPECT_EQ(ended, 0u) << "an end was reported inside Start";
    RunUntil([&] { return ended == starts.size(); });
    EXPECT_EQ(runner.running(), 0u);
    std::vector<ProcessExitedInput> out;
    for (size_t i = 0; i < starts.size(); ++i) {
      EXPECT_TRUE(ends[i].has_value()) << "probe " << i << " never ended";
      out.push_back(ends[i].value_or(ProcessExitedInput{}));
      EXPECT_EQ(out.back().process_id, 100 + i);
    }
    return out;
  }

  ProcessExitedInput RunOne(ProcessStart start) { return RunAll({std::move(start)})[0]; }

  uv_loop_t loop_;
  std::unique_ptr<http::Server> server_;
  int port_ = 0;
  int requests_ = 0;
  http::Request last_request_;
  std::vector<http::Responder> parked_;
};

// ---- HTTP ------------------------------------------------------------------------------------

TEST_F(ProbeRunnerTest, HttpStatusAndBody) {
  std::vector<ProcessExitedInput> r = RunAll({Http(Url("/ok")), Http(Url("/429")), Http(Url("/500"))});
  EXPECT_EQ(r[0].exit_code, 200);
  EXPECT_FALSE(r[0].timed_out);
  EXPECT_EQ(r[0].output, "healthy");
  EXPECT_EQ(r[1].exit_code, 429);
  EXPECT_EQ(r[1].output, "slow down");
  EXPECT_EQ(r[2].exit_code, 500);
  EXPECT_EQ(r[2].output, "broken");
}

TEST_F(ProbeRunnerTest, MethodHeadersAndBodyAreSent) {
  ProcessStart s = Http(Url("/echo?x=1"));
  s.method = "PUT";
  s.headers = {{"X-Check", "web"}, {"X-Empty", ""}, {"Authorization", "Bearer t"}};
  s.body = "payload";
  ProcessExitedInput r = RunOne(s);
  EXPECT_EQ(r.exit_code, 404);
  EXPECT_EQ(r.output, "no such path");
  EXPECT_EQ(last_request_.method, "PUT");
  EXPECT_EQ(last_request_.target, "/echo?x=1");
  EXPECT_EQ(last_request_.body, "payload");
  ASSERT_NE(last_request_.headers.Find("X-Check"), nullptr);
  EXPECT_EQ(*last_request_.headers.Find("X-Check"), "web");
  ASSERT_NE(last_request_.headers.Find("X-Empty"), nullptr);
  EXPECT_EQ(*last_request_.headers.Find("X-Empty"), "");
  EXPECT_EQ(*last_request_.headers.Find("Authorization"), "Bearer t");
  ASSERT_NE(last_request_.headers.Find("User-Agent"), nullptr);
  EXPECT_EQ(*last_request_.headers.Find("User-Agent"), "Consul Health Check");
  EXPECT_EQ(*last_request_.headers.Find("Accept"), "text/plain, text/*, */*");
  EXPECT_EQ(last_request_.headers.Find("Content-Type"), nullptr) << "curl's form Content-Type leaked";
  EXPECT_EQ(last_request_.headers.Find("Expect"), nullptr);
}

TEST_F(ProbeRunnerTest, GivenHeadersReplaceTheDefaults) {
  ProcessStart s = Http(Url("/ok"));
  s.method = "POST";
  s.headers = {{"User-Agent", "mine"}, {"Content-Type", "application/json"}};
  s.body = std::string(5000, 'b');  // over curl's 1 KiB Expect threshold
  ProcessExitedInput r = RunOne(s);
  EXPECT_EQ(r.exit_code, 200);
  EXPECT_EQ(last_request_.method, "POST");
  EXPECT_EQ(last_request_.body.size(), 5000u);
  EXPECT_EQ(*last_request_.headers.Find("User-Agent"), "mine");
  EXPECT_EQ(*last_request_.headers.Find("Content-Type"), "application/json");
  int user_agents = 0;
  for (const auto& [name, value] : last_request_.headers.fields()) user_agents += absl::EqualsIgnoreCase(name, "User-Agent");
  EXPECT_EQ(user_agents, 1);
}

TEST_F(ProbeRunnerTest, HeadWaitsForNoBody) {
  ProcessStart s = Http(Url("/ok"), absl::Seconds(2));
  s.method = "HEAD";
  ProcessExitedInput r = RunOne(s);
  EXPECT_EQ(r.exit_code, 200);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(last_request_.method, "HEAD");
  EXPECT_EQ(r.output, "");
}

TEST_F(ProbeRunnerTest, RedirectsAreFollowed) {
  ProcessExitedInput r = RunOne(Http(Url("/redirect")));
  EXPECT_EQ(r.exit_code, 200);
  EXPECT_EQ(r.output, "healthy");
  EXPECT_EQ(requests_, 2);
}

TEST_F(ProbeRunnerTest, BodyOver4KiBIsCut) {
  ProcessExitedInput r = RunOne(Http(Url("/big")));
  EXPECT_EQ(r.exit_code, 200);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.output, std::string(ProbeRunner::kBodyBytesMax, 'a'));
}

TEST_F(ProbeRunnerTest, RefusedIsNoAnswer) {
  const std::string url = absl::StrCat("http://127.0.0.1:", ClosedPort(), "/ok");
  ProcessExitedInput r = RunOne(Http(url));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(absl::StartsWith(r.output, absl::StrCat("HTTP GET ", url, ": "))) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "onnect")) << r.output;
}

TEST_F(ProbeRunnerTest, TimeoutIsNoAnswerAndTimedOut) {
  const absl::Time start = absl::Now();
  ProcessExitedInput r = RunOne(Http(Url("/hang"), absl::Milliseconds(300)));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.output, absl::StrCat("HTTP GET ", Url("/hang"), ": timed out after 300ms with no answer"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(ProbeRunnerTest, HostNamesAndIpv6) {
  http::Server v6(&loop_, http::ServerOptions{}, [](http::Request, http::Responder w) { w.Respond(200, "six"); });
  ASSERT_TRUE(v6.Listen("[::1]:0").ok());
  std::vector<ProcessExitedInput> r =
      RunAll({Http(absl::StrCat("http://localhost:", port_, "/ok")), Http(absl::StrCat("http://[::1]:", v6.port(), "/")),
              Http("http://no-such-host.invalid/", absl::Seconds(10)), Http("ftp://127.0.0.1/x"), Http("not a url")});
  EXPECT_EQ(r[0].exit_code, 200) << r[0].output;
  EXPECT_EQ(r[1].exit_code, 200) << r[1].output;
  EXPECT_EQ(r[1].output, "six");
  EXPECT_EQ(r[2].exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r[2].output, "no-such-host.invalid")) << r[2].output;
  EXPECT_EQ(r[3].exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r[3].output, "unsupported protocol scheme \"ftp\"")) << r[3].output;
  EXPECT_EQ(r[4].exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r[4].output, "invalid URL")) << r[4].output;
  bool stopped = false;
  v6.Stop([&] { stopped = true; });
  RunUntil([&] { return stopped; });
}

TEST_F(ProbeRunnerTest, HttpsWithAndWithoutVerification) {
  TlsServer tls;
  const std::string url = absl::StrCat("https://127.0.0.1:", tls.port(), "/health");
  ProcessStart skip = Http(url);
  skip.tls_skip_verify = true;
  std::vector<ProcessExitedInput> r = RunAll({skip, Http(url)});
  EXPECT_EQ(r[0].exit_code, 200) << r[0].output;
  EXPECT_EQ(r[0].output, "secure");
  // A self-signed certificate is refused unless verification is skipped: no answer.
  EXPECT_EQ(r[1].exit_code, 0) << r[1].output;
  EXPECT_FALSE(r[1].timed_out);
  EXPECT_TRUE(absl::StrContains(r[1].output, "certificate")) << r[1].output;
}

// ---- TCP -------------------------------------------------------------------------------------

TEST_F(ProbeRunnerTest, TcpOpenClosedAndBadAddresses) {
  int v6_port = 0;
  const int v6_listener = BoundSocket(true, &v6_port, 16);
  const std::string open = absl::StrCat("127.0.0.1:", port_);
  const std::string closed = absl::StrCat("127.0.0.1:", ClosedPort());
  const std::string six = absl::StrCat("[::1]:", v6_port);
  const std::string named = absl::StrCat("localhost:", port_);
  std::vector<ProcessExitedInput> r = RunAll({Tcp(open), Tcp(closed), Tcp(six), Tcp(named), Tcp("no-port"), Tcp("::1:80")});
  close(v6_listener);
  EXPECT_EQ(r[0].exit_code, 0);
  EXPECT_EQ(r[0].output, absl::StrCat("TCP connect ", open, ": Success"));
  EXPECT_EQ(r[1].exit_code, 1);
  EXPECT_FALSE(r[1].timed_out);
  EXPECT_EQ(r[1].output, absl::StrCat("TCP connect ", closed, ": connection refused"));
  EXPECT_EQ(r[2].exit_code, 0) << r[2].output;
  EXPECT_EQ(r[3].exit_code, 0) << r[3].output;
  EXPECT_EQ(r[4].exit_code, 1);
  EXPECT_EQ(r[4].output, "TCP connect no-port: not host:port");
  EXPECT_EQ(r[5].exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r[5].output, "brackets")) << r[5].output;
}

TEST_F(ProbeRunnerTest, TcpTimeoutAgainstAFullAcceptQueue) {
  // A listener with backlog 0 that never accepts: once its queue holds one connection the
  // kernel drops further SYNs, so a connect hangs until the probe's timeout.
  int port = 0;
  const int listener = BoundSocket(false, &port, 0);
  std::vector<int> fillers;
  for (int i = 0; i < 2; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    fillers.push_back(fd);
  }
  usleep(50 * 1000);
  const std::string address = absl::StrCat("127.0.0.1:", port);
  const absl::Time start = absl::Now();
  ProcessExitedInput r = RunOne(Tcp(address, absl::Milliseconds(300)));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.timed_out) << r.output;
  EXPECT_EQ(r.output, absl::StrCat("TCP connect ", address, ": timed out after 300ms"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  for (int fd : fillers) close(fd);
  close(listener);
}

// ---- Bounds, cancelling, and many at once ------------------------------------------------------

TEST_F(ProbeRunnerTest, QueueBoundAndTimeoutsCountFromStart) {
  // One slot, two places in the queue: the fourth is not run, the queued two time out there.
  std::vector<ProcessStart> starts(4, Http(Url("/hang"), absl::Milliseconds(200)));
  const absl::Time start = absl::Now();
  std::vector<ProcessExitedInput> r = RunAll(starts, ProbeRunner::Limits{1, 2});
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(r[0].timed_out);
  EXPECT_TRUE(absl::EndsWith(r[0].output, "with no answer")) << r[0].output;
  for (int i : {1, 2}) {
    EXPECT_EQ(r[i].exit_code, 0);
    EXPECT_TRUE(r[i].timed_out);
    EXPECT_TRUE(absl::StrContains(r[i].output, "waiting for one of 1 probe slots")) << r[i].output;
  }
  EXPECT_EQ(r[3].exit_code, 0);
  EXPECT_FALSE(r[3].timed_out);
  EXPECT_TRUE(absl::StrContains(r[3].output, "not run: 2 probes were already waiting")) << r[3].output;
  EXPECT_EQ(requests_, 1);
}

TEST_F(ProbeRunnerTest, CancelAllEndsEveryProbeOnTheNextTurn) {
  ProbeRunner runner(&loop_, ProbeRunner::Limits{2, 100});
  std::vector<ProcessExitedInput> ends;
  for (int i = 0; i < 3; ++i) runner.Start(Http(Url("/hang"), absl::Seconds(30)), [&](ProcessExitedInput r) { ends.push_back(r); });
  runner.Start(Tcp(absl::StrCat("127.0.0.1:", port_)), [&](ProcessExitedInput r) { ends.push_back(r); });
  RunUntil([&] { return requests_ == 2; });
  EXPECT_EQ(runner.active(), 2u);
  EXPECT_EQ(runner.queued(), 2u);
  const absl::Time start = absl::Now();
  runner.CancelAll();
  EXPECT_TRUE(ends.empty()) << "ends come from the loop, not from CancelAll";
  RunUntil([&] { return ends.size() == 4; });
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(runner.running(), 0u);
  for (const ProcessExitedInput& r : ends) {
    EXPECT_FALSE(r.timed_out);
    EXPECT_TRUE(absl::EndsWith(r.output, "cancelled: the agent is stopping")) << r.output;
  }
}

TEST_F(ProbeRunnerTest, TwoThousandProbesAtOnce) {
  // 1,000 HTTP and 1,000 TCP probes started in one go: all end, right, with no more than
  // probes_active_max sockets held at once and no thread started for any of them (curl's
  // resolver thread is never needed for an IP literal; libuv's pool of 4 may exist already).
  ProbeRunner runner(&loop_);
  const size_t kEach = 1000;
  size_t ended = 0, http_ok = 0, tcp_ok = 0, active_max = 0;
  const int threads_before = ThreadCount();
  int threads_max = threads_before;
  const absl::Time start = absl::Now();
  for (size_t i = 0; i < kEach; ++i) {
    runner.Start(Http(Url("/ok"), absl::Seconds(60)), [&](ProcessExitedInput r) {
      ++ended;
      http_ok += r.exit_code == 200;
      active_max = std::max(active_max, runner.active());
      threads_max = std::max(threads_max, ThreadCount());
    });
    runner.Start(Tcp(absl::StrCat("127.0.0.1:", port_), absl::Seconds(60)), [&](ProcessExitedInput r) {
      ++ended;
      tcp_ok += r.exit_code == 0;
      active_max = std::max(active_max, runner.active());
    });
  }
  EXPECT_EQ(runner.active(), ProbeRunner::Limits{}.probes_active_max);
  EXPECT_EQ(runner.queued(), 2 * kEach - ProbeRunner::Limits{}.probes_active_max);
  RunUntil([&] { return ended == 2 * kEach; }, absl::Seconds(60));
  EXPECT_EQ(http_ok, kEach);
  EXPECT_EQ(tcp_ok, kEach);
  EXPECT_LE(active_max, ProbeRunner::Limits{}.probes_active_max);
  EXPECT_LE(threads_max, std::max(threads_before, 1 + 4)) << "a probe started a thread";
  EXPECT_EQ(runner.running(), 0u);
  std::printf("2,000 probes in %s\n", absl::FormatDuration(absl::Now() - start).c_str());
}

TEST_F(ProbeRunnerTest, ProcessRunnerHandsProbesToItsProbeRunner) {
  ProcessRunner runner(&loop_);
  std::vector<ProcessExitedInput> ends;
  ProcessStart http = Http(Url("/ok"));
  http.id = 1;
  ProcessStart tcp = Tcp(absl::StrCat("127.0.0.1:", port_));
  tcp.id = 2;
  ProcessStart shell;
  shell.id = 3;
  shell.command = "echo hi";
  for (const ProcessStart& s : {http, tcp, shell}) runner.Start(s, [&](ProcessExitedInput r) { ends.push_back(r); });
  EXPECT_EQ(runner.running(), 3u);
  RunUntil([&] { return ends.size() == 3; });
  EXPECT_EQ(runner.running(), 0u);
  ASSERT_EQ(ends.size(), 3u);
  std::sort(ends.begin(), ends.end(), [](const auto& a, const auto& b) { return a.process_id < b.process_id; });
  EXPECT_EQ(ends[0].exit_code, 200);
  EXPECT_EQ(ends[1].exit_code, 0);
  EXPECT_EQ(ends[2].output, "hi\n");
}

TEST_F(ProbeRunnerTest, ProcessRunnerKillAllEndsProbesAndProcessesAlike) {
  // What the host does on Stop: everything in flight ends, and the loop can be closed after.
  int port = 0;
  const int listener = BoundSocket(false, &port, 0);  // never accepts: a TCP probe may hang
  ProcessRunner runner(&loop_);
  std::vector<ProcessExitedInput> ends;
  ProcessStart http = Http(Url("/hang"), absl::Seconds(30));
  ProcessStart tcp = Tcp(absl::StrCat("127.0.0.1:", port), absl::Seconds(30));
  ProcessStart shell;
  shell.command = "sleep 30";
  for (const ProcessStart& s : {http, tcp, tcp, tcp, shell}) runner.Start(s, [&](ProcessExitedInput r) { ends.push_back(r); });
  RunUntil([&] { return requests_ == 1; });
  const absl::Time start = absl::Now();
  runner.KillAll();
  RunUntil([&] { return ends.size() == 5; });
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(runner.running(), 0u);
  close(listener);
}

}  // namespace
}  // namespace muster::io
