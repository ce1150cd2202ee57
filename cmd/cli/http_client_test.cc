// The real client over real sockets against a tiny fake agent on 127.0.0.81 (an address no
// other test uses; port 0, so the kernel picks a free one): the bytes of the request the CLI
// sends, the framings of the answer it reads (Content-Length, chunked, read-to-close), the
// bounds (size, time), and the exit codes of whole commands. Also the -http-addr forms.
#include "cmd/cli/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cmd/cli/cli.h"
#include "gtest/gtest.h"

namespace muster::cli {
namespace {

constexpr char kTestHost[] = "127.0.0.81";

// Listens on 127.0.0.81; for each connection reads one request (head and Content-Length
// body), records it, and writes the next canned answer bytes, then closes.
class FakeAgent {
 public:
  explicit FakeAgent(std::vector<std::string> answers, bool answer = true) : answers_(std::move(answers)), answer_(answer) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(listener_, 0);
    int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    inet_pton(AF_INET, kTestHost, &addr.sin_addr);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
    EXPECT_EQ(listen(listener_, 8), 0);
    socklen_t length = sizeof(addr);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &length);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeAgent() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::string address() const { return absl::StrCat(kTestHost, ":", port_); }
  // The requests received, once the server has answered them all.
  std::vector<std::string> requests() {
    for (int i = 0; i < 500 && served_.load() < answers_.size(); ++i) usleep(10000);
    return requests_;
  }

 private:
  void Serve() {
    for (size_t i = 0; i < answers_.size(); ++i) {
      int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      timeval timeout{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
      requests_.push_back(ReadRequest(fd));
      if (answer_) {
        send(fd, answers_[i].data(), answers_[i].size(), MSG_NOSIGNAL);
      } else {
        char byte;
        recv(fd, &byte, 1, 0);  // hold the connection until the client gives up
      }
      close(fd);
      served_.fetch_add(1);
    }
  }

  static std::string ReadRequest(int fd) {
    std::string data;
    char buffer[4096];
    for (;;) {
      size_t head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        size_t body = 0;
        size_t at = data.find("Content-Length: ");
        if (at != std::string::npos && at < head_end) {
          EXPECT_TRUE(absl::SimpleAtoi(data.substr(at + 16, data.find("\r\n", at) - at - 16), &body));
        }
        if (data.size() >= head_end + 4 + body) return data;
      }
      ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) return data;
      data.append(buffer, static_cast<size_t>(n));
    }
  }

  std::vector<std::string> answers_;
  bool answer_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::vector<std::string> requests_;
  std::atomic<size_t> served_{0};
};

// One chunk of a chunked body.
std::string Chunk(const std::string& data) { return absl::StrFormat("%x\r\n%s\r\n", data.size(), data); }
// A 200 answer with a Content-Length body.
std::string Sized(const std::string& body) {
  return absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
}

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

CliRun RunCli(std::vector<std::string> args, HttpTransport& transport) {
  std::ostringstream out, err;
  Environment env;
  env.out = &out;
  env.err = &err;
  env.getenv = [](const std::string&) { return std::nullopt; };
  env.read_stdin = []() -> absl::StatusOr<std::string> { return std::string("from stdin"); };
  env.read_file = [](const std::string&) -> absl::StatusOr<std::string> { return absl::NotFoundError("no file"); };
  env.transport = &transport;
  const int code = RunArgs(args, env);
  return {code, out.str(), err.str()};
}

TEST(HttpClientTest, KvPutRoundTrip) {
  FakeAgent agent({"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\ntrue"});
  SocketHttpTransport transport;
  CliRun run = RunCli({"kv", "put", "-http-addr=http://" + agent.address(), "-flags=3", "-token=tok", "a b", "-"},
                      transport);
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "Success! Data written to: a b\n");
  std::vector<std::string> requests = agent.requests();
  ASSERT_EQ(requests.size(), 1u);
  const std::string& request = requests[0];
  EXPECT_TRUE(absl::StartsWith(request, "PUT /v1/kv/a%20b?flags=3 HTTP/1.1\r\n")) << request;
  EXPECT_TRUE(absl::StrContains(request, absl::StrCat("\r\nHost: ", agent.address(), "\r\n"))) << request;
  EXPECT_TRUE(absl::StrContains(request, "\r\nX-Consul-Token: tok\r\n")) << request;
  EXPECT_TRUE(absl::StrContains(request, "\r\nContent-Length: 10\r\n")) << request;
  EXPECT_TRUE(absl::EndsWith(request, "\r\n\r\nfrom stdin")) << request;
}

TEST(HttpClientTest, NotFoundAndChunkedAndCloseDelimited) {
  FakeAgent agent({
      "HTTP/1.1 404 Not Found\r\nX-Consul-Index: 3\r\nContent-Length: 0\r\n\r\n",
      absl::StrCat("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Chunk("[{\"Key\":\"k\",\"Value\":\"dmFs"),
                   Chunk("dWU=\""), Chunk("}]\n"), "0\r\n\r\n"),
      "HTTP/1.0 200 OK\r\n\r\n[{\"Key\":\"k\",\"Value\":\"Y2xvc2Vk\"}]",
  });
  SocketHttpTransport transport;
  const std::string addr = "-http-addr=" + agent.address();
  CliRun missing = RunCli({"kv", "get", addr, "k"}, transport);
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err, "Error! No key exists at: k\n");
  CliRun chunked = RunCli({"kv", "get", addr, "k"}, transport);
  EXPECT_EQ(chunked.code, 0) << chunked.err;
  EXPECT_EQ(chunked.out, "value\n");
  CliRun closed = RunCli({"kv", "get", addr, "k"}, transport);
  EXPECT_EQ(closed.code, 0) << closed.err;
  EXPECT_EQ(closed.out, "closed\n");
  std::vector<std::string> requests = agent.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_TRUE(absl::StartsWith(requests[0], "GET /v1/kv/k HTTP/1.1\r\n")) << requests[0];
  EXPECT_FALSE(absl::StrContains(requests[0], "Content-Length")) << requests[0];
}

// The answer's header fields are kept (a blocking read's X-Consul-Index), names matched in any
// case, as HTTP's are.
TEST(HttpClientTest, HeaderFieldsKept) {
  FakeAgent agent({"HTTP/1.1 404 Not Found\r\nx-consul-index: 17\r\nX-Consul-KnownLeader: true\r\n"
                   "Content-Length: 0\r\n\r\n"});
  SocketHttpTransport transport;
  absl::StatusOr<HttpAddress> address = ParseHttpAddress(agent.address());
  ASSERT_TRUE(address.ok());
  absl::StatusOr<HttpResponse> response = transport.RoundTrip(*address, HttpRequest{"GET", "/v1/kv/k?index=3", {}, ""});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->Header("X-Consul-Index"), "17");
  EXPECT_EQ(response->Header("x-consul-knownleader"), "true");
  EXPECT_EQ(response->Header("X-Consul-LastContact"), "");
  EXPECT_EQ(response->headers.size(), 3u);
}

TEST(HttpClientTest, MembersAndErrorStatus) {
  FakeAgent agent({
      Sized(R"([{"Name":"s1","Addr":"127.0.0.81","Port":8301,"Tags":{"role":"consul","dc":"dc1"},"Status":1}])"),
      "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 17\r\n\r\nNo cluster leader",
  });
  SocketHttpTransport transport;
  CliRun members = RunCli({"members", "-http-addr=" + agent.address()}, transport);
  EXPECT_EQ(members.code, 0) << members.err;
  EXPECT_TRUE(absl::StrContains(members.out, "s1    127.0.0.81:8301  alive   server")) << members.out;
  CliRun peers = RunCli({"operator", "raft", "list-peers", "-http-addr=" + agent.address()}, transport);
  EXPECT_EQ(peers.code, 1);
  EXPECT_EQ(peers.err, "Error getting peers: Failed to retrieve raft configuration: Unexpected response code: 500 (No cluster leader)\n");
}

TEST(HttpClientTest, RefusedIsExitOneWithGoWording) {
  uint16_t port;
  {
    FakeAgent closed({});
    port = closed.port();
  }  // nothing listens there now
  SocketHttpTransport transport;
  const std::string addr = absl::StrCat(kTestHost, ":", port);
  CliRun run = RunCli({"leave", "-http-addr=" + addr}, transport);
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(run.err, absl::StrCat("Error leaving: Put \"http://", addr, "/v1/agent/leave\": dial tcp ", addr,
                                  ": connect: connection refused\n"));
  EXPECT_EQ(run.out, "");
}

TEST(HttpClientTest, SilentAgentTimesOut) {
  FakeAgent agent({"never sent"}, /*answer=*/false);
  SocketHttpTransport transport(absl::Milliseconds(300));
  HttpRequest request{"GET", "/v1/status/leader", {}, ""};
  absl::StatusOr<HttpResponse> response = transport.RoundTrip(HttpAddress{kTestHost, agent.port()}, request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
  EXPECT_TRUE(absl::StrContains(response.status().message(), "i/o timeout")) << response.status();
}

// A caught signal (the CLI's Ctrl-C) that the cancel check accepts ends the wait for an answer
// at once, as Cancelled; without the check the request would wait out its timeout.
volatile std::sig_atomic_t test_signal_seen = 0;
void OnTestSignal(int) { test_signal_seen = 1; }

TEST(HttpClientTest, CaughtSignalCancelsTheWait) {
  FakeAgent agent({"never sent"}, /*answer=*/false);
  struct sigaction action {};
  action.sa_handler = OnTestSignal;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &action, nullptr), 0);
  SocketHttpTransport transport(absl::Seconds(20));
  transport.set_cancelled([]() { return test_signal_seen != 0; });
  const pthread_t waiter = pthread_self();
  std::thread interrupter([waiter]() {
    absl::SleepFor(absl::Milliseconds(200));
    pthread_kill(waiter, SIGUSR1);
  });
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> response =
      transport.RoundTrip(HttpAddress{kTestHost, agent.port()}, HttpRequest{"GET", "/v1/kv/k?index=9", {}, ""});
  interrupter.join();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kCancelled) << response.status();
  EXPECT_TRUE(absl::StrContains(response.status().message(), "interrupted")) << response.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  signal(SIGUSR1, SIG_DFL);
}

TEST(HttpClientTest, OversizedAndGarbageAnswersRefused) {
  FakeAgent agent({
      absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", kResponseBytesMax + 1, "\r\n\r\n[]"),
      "SMTP ready\r\n\r\n",
  });
  SocketHttpTransport transport;
  HttpRequest request{"GET", "/v1/agent/members", {}, ""};
  const HttpAddress to{kTestHost, agent.port()};
  absl::StatusOr<HttpResponse> big = transport.RoundTrip(to, request);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted) << big.status();
  absl::StatusOr<HttpResponse> garbage = transport.RoundTrip(to, request);
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kDataLoss) << garbage.status();
}

TEST(HttpAddressTest, ConsulForms) {
  auto parsed = [](std::string_view text) {
    absl::StatusOr<HttpAddress> a = ParseHttpAddress(text);
    return a.ok() ? a->HostPort() : std::string("error: ") + std::string(a.status().message());
  };
  EXPECT_EQ(parsed("127.0.0.1:8500"), "127.0.0.1:8500");
  EXPECT_EQ(parsed("http://127.0.0.2:8501"), "127.0.0.2:8501");
  EXPECT_EQ(parsed("http://localhost:8500/"), "localhost:8500");
  EXPECT_EQ(parsed("[::1]:8500"), "[::1]:8500");
  EXPECT_EQ(parsed("http://[::1]:8500"), "[::1]:8500");
  EXPECT_EQ(parsed("10.0.0.1"), "10.0.0.1:80");  // a URL without a port: HTTP's, as Go's client
  EXPECT_TRUE(absl::StartsWith(parsed("https://127.0.0.1:8501"), "error: unsupported scheme"));
  EXPECT_TRUE(absl::StartsWith(parsed("::1:8500"), "error: IPv6 HTTP address"));
  EXPECT_TRUE(absl::StartsWith(parsed("127.0.0.1:99999"), "error: bad port"));
  EXPECT_TRUE(absl::StartsWith(parsed("127.0.0.1:"), "error: bad port"));
  EXPECT_TRUE(absl::StartsWith(parsed(":8500"), "error:"));
  EXPECT_TRUE(absl::StartsWith(parsed("http://h:1/v1"), "error:"));
}

}  // namespace
}  // namespace muster::cli
