// The DNS server on real sockets (127.0.0.1, kernel-picked ports), its loop on a thread of
// its own and the test's clients on blocking sockets: answers over UDP and TCP (several
// queries on one connection), REFUSED without recursors, a recursor that never answers
// (SERVFAIL after trying each) and one that does (relayed under the client's ID), the TCP
// idle timeout and broken framing, and a seeded randomized run of garbage, truncated and
// mutated datagrams and TCP streams after which the server still answers.
#include "io/dns/server.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/agent/dns_resolve.h"
#include "core/base/rng.h"
#include "core/state/store.h"
#include "gtest/gtest.h"
#include "proto/agent.pb.h"

namespace muster::io::dns {
namespace {

std::string QueryBytes(const char* name, ldns_rr_type type, uint16_t id) {
  ldns_pkt* p = nullptr;
  EXPECT_EQ(ldns_pkt_query_new_frm_str(&p, name, type, LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
  ldns_pkt_set_id(p, id);
  uint8_t* wire = nullptr;
  size_t size = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, p, &size), LDNS_STATUS_OK);
  std::string out(reinterpret_cast<char*>(wire), size);
  free(wire);
  ldns_pkt_free(p);
  return out;
}

struct Answer {
  bool ok = false;
  uint16_t id = 0;
  int rcode = -1;
  size_t answers = 0;
  std::string first_a;  // the first A record's address
};

Answer Read(const std::string& bytes) {
  Answer a;
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) != LDNS_STATUS_OK) {
    ldns_pkt_free(p);
    return a;
  }
  a.ok = ldns_pkt_qr(p);
  a.id = ldns_pkt_id(p);
  a.rcode = ldns_pkt_get_rcode(p);
  a.answers = ldns_pkt_ancount(p);
  for (size_t i = 0; i < a.answers; ++i) {
    ldns_rr* r = ldns_rr_list_rr(ldns_pkt_answer(p), i);
    if (ldns_rr_get_type(r) == LDNS_RR_TYPE_A && a.first_a.empty()) {
      char* text = ldns_rdf2str(ldns_rr_rdf(r, 0));
      a.first_a = text;
      free(text);
    }
  }
  ldns_pkt_free(p);
  return a;
}

sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  return a;
}

// A UDP client: one query, its answer within `wait_ms` ("" for none).
class UdpClient {
 public:
  UdpClient() : fd_(socket(AF_INET, SOCK_DGRAM, 0)) {}
  ~UdpClient() { close(fd_); }
  void Send(int port, const std::string& bytes) {
    sockaddr_in to = Loopback(port);
    sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  }
  std::string Receive(int wait_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, wait_ms) <= 0) return "";
    char buf[65536];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  std::string Ask(int port, const std::string& bytes, int wait_ms = 2000) {
    Send(port, bytes);
    return Receive(wait_ms);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

class TcpClient {
 public:
  explicit TcpClient(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in to = Loopback(port);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0;
  }
  ~TcpClient() { close(fd_); }
  bool connected() const { return connected_; }
  void SendRaw(const std::string& bytes) { (void)!write(fd_, bytes.data(), bytes.size()); }
  static std::string Frame(const std::string& message) {
    std::string f(2, '\0');
    ldns_write_uint16(f.data(), static_cast<uint16_t>(message.size()));
    return f + message;
  }
  // One framed message, "" on EOF or after `wait_ms`.
  std::string Receive(int wait_ms = 2000) {
    std::string header = ReadExactly(2, wait_ms);
    if (header.size() != 2) return "";
    return ReadExactly(ldns_read_uint16(header.data()), wait_ms);
  }
  // True when the server closed the connection within `wait_ms`.
  bool Closed(int wait_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, wait_ms) <= 0) return false;
    char c;
    return recv(fd_, &c, 1, 0) <= 0;
  }

 private:
  std::string ReadExactly(size_t n, int wait_ms) {
    std::string out;
    while (out.size() < n) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, wait_ms) <= 0) return out;
      char buf[65536];
      const ssize_t got = recv(fd_, buf, std::min(sizeof(buf), n - out.size()), 0);
      if (got <= 0) return out;
      out.append(buf, static_cast<size_t>(got));
    }
    return out;
  }
  int fd_;
  bool connected_ = false;
};

// The server on its own loop thread, asking a fake agent that resolves on a store.
class Fixture {
 public:
  // stale_contact_ms: the last contact a stale read's answer reports (a server behind its leader).
  explicit Fixture(DnsServerOptions options, uint64_t stale_contact_ms = 0) {
    uv_loop_init(&loop_);
    state::RegisterRequest r;
    r.node.name = "n1";
    r.node.address = "10.0.0.1";
    r.node.datacenter = "dc1";
    state::Service s;
    s.id = s.name = "web";
    s.port = 80;
    r.service = s;
    EXPECT_TRUE(store_.Register(1, SimEpoch(), r).ok());
    server_ = std::make_unique<DnsServer>(&loop_, std::move(options),
                                          [this, stale_contact_ms](std::string method, std::string body, auto done) {
                                            proto::agent::Call call;
                                            EXPECT_EQ(method, agent::kDnsQueryMethod);
                                            EXPECT_TRUE(call.ParseFromString(body));
                                            consistencies_.push_back(call.consistency());
                                            batch_sizes_.push_back(call.dns_batch().asks_size());
                                            proto::agent::Reply reply;
                                            if (call.consistency() == "stale") reply.set_last_contact_ms(stale_contact_ms);
                                            ::muster::Response response;
                                            response.status = agent::ServeDnsQuery(store_, call, ++asked_, &reply);
                                            response.body = reply.SerializeAsString();
                                            done(response);
                                          });
    EXPECT_TRUE(server_->Listen("127.0.0.1:0").ok());
    uv_async_init(&loop_, &stop_, [](uv_async_t* a) {
      auto* self = static_cast<Fixture*>(a->data);
      self->server_->Stop([] {});
      uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), nullptr);
    });
    stop_.data = this;
    port_ = server_->udp_port();
    tcp_port_ = server_->tcp_port();
    EXPECT_GT(tcp_port_, 0);
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~Fixture() { Stop(); }
  void Stop() {
    if (!thread_.joinable()) return;
    uv_async_send(&stop_);
    thread_.join();
    uv_loop_close(&loop_);
  }
  int port() const { return port_; }
  int tcp_port() const { return tcp_port_; }
  const DnsServerStats& stats() const { return server_->stats(); }  // after Stop
  const std::vector<std::string>& consistencies() const { return consistencies_; }  // after Stop
  const std::vector<int>& batch_sizes() const { return batch_sizes_; }  // after Stop: asks per request

 private:
  uv_loop_t loop_;
  uv_async_t stop_;
  state::Store store_;
  uint64_t asked_ = 0;
  std::vector<std::string> consistencies_;
  std::vector<int> batch_sizes_;
  std::unique_ptr<DnsServer> server_;
  int port_ = 0;
  int tcp_port_ = 0;
  std::thread thread_;
};

// What arrives together goes to the agent as one dns.query batch (one request, one machine
// step): ten queries in one TCP write are one request; a burst of 60 datagrams is answered
// whole, each under its own ID with its own answer, in fewer requests than queries.
TEST(DnsServer, QueriesThatArriveTogetherAreOneBatch) {
  Fixture f({});
  TcpClient tcp(f.tcp_port());
  ASSERT_TRUE(tcp.connected());
  std::string ten;
  for (uint16_t id = 1; id <= 10; ++id) {
    ten += TcpClient::Frame(QueryBytes(id % 2 == 0 ? "web.service.consul." : "nope.service.consul.", LDNS_RR_TYPE_A, id));
  }
  tcp.SendRaw(ten);
  std::set<uint16_t> ids;
  for (int i = 0; i < 10; ++i) {
    Answer t = Read(tcp.Receive());
    ASSERT_TRUE(t.ok) << i;
    EXPECT_EQ(t.rcode, t.id % 2 == 0 ? LDNS_RCODE_NOERROR : LDNS_RCODE_NXDOMAIN) << t.id;
    if (t.id % 2 == 0) {
      EXPECT_EQ(t.first_a, "10.0.0.1");
    }
    ids.insert(t.id);
  }
  EXPECT_EQ(ids.size(), 10u);

  UdpClient udp;
  constexpr uint16_t kBurst = 60;
  for (uint16_t id = 100; id < 100 + kBurst; ++id) udp.Send(f.port(), QueryBytes("web.service.consul.", LDNS_RR_TYPE_A, id));
  std::set<uint16_t> udp_ids;
  for (int i = 0; i < kBurst; ++i) {
    Answer a = Read(udp.Receive(2000));
    ASSERT_TRUE(a.ok) << i;
    EXPECT_EQ(a.first_a, "10.0.0.1");
    udp_ids.insert(a.id);
  }
  EXPECT_EQ(udp_ids.size(), kBurst);
  f.Stop();
  ASSERT_FALSE(f.batch_sizes().empty());
  EXPECT_EQ(f.batch_sizes().front(), 10) << "the ten TCP queries of one write";
  int asked = 0;
  for (int n : f.batch_sizes()) {
    EXPECT_GE(n, 1);
    EXPECT_LE(n, static_cast<int>(agent::kDnsBatchQuestionsMax));
    asked += n;
  }
  EXPECT_EQ(asked, 10 + kBurst);
  EXPECT_LT(f.batch_sizes().size(), 1u + kBurst) << "the burst went in batches";
}

TEST(DnsServer, AnswersOverUdpAndSeveralQueriesOnOneTcpConnection) {
  Fixture f({});
  UdpClient udp;
  Answer a = Read(udp.Ask(f.port(), QueryBytes("web.service.consul.", LDNS_RR_TYPE_A, 7)));
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.id, 7);
  EXPECT_EQ(a.answers, 1u);
  EXPECT_EQ(a.first_a, "10.0.0.1");
  EXPECT_EQ(Read(udp.Ask(f.port(), QueryBytes("nope.service.consul.", LDNS_RR_TYPE_A, 8))).rcode, LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(Read(udp.Ask(f.port(), QueryBytes("example.com.", LDNS_RR_TYPE_A, 9))).rcode, LDNS_RCODE_REFUSED)
      << "no recursor";

  TcpClient tcp(f.tcp_port());
  ASSERT_TRUE(tcp.connected());
  // Three queries in one write, the last split across two more.
  const std::string third = TcpClient::Frame(QueryBytes("n1.node.consul.", LDNS_RR_TYPE_A, 3));
  tcp.SendRaw(TcpClient::Frame(QueryBytes("web.service.consul.", LDNS_RR_TYPE_A, 1)) +
              TcpClient::Frame(QueryBytes("web.service.consul.", LDNS_RR_TYPE_SRV, 2)) + third.substr(0, 5));
  tcp.SendRaw(third.substr(5));
  std::set<uint16_t> ids;
  for (int i = 0; i < 3; ++i) {
    Answer t = Read(tcp.Receive());
    ASSERT_TRUE(t.ok) << i;
    EXPECT_EQ(t.answers, 1u);
    ids.insert(t.id);
  }
  EXPECT_EQ(ids, (std::set<uint16_t>{1, 2, 3}));
  f.Stop();
  EXPECT_EQ(f.stats().queries, 5u);
}

// Stale by default (Consul's allow_stale); an answer from a server whose last contact with its
// leader is past max_stale is asked again in the default mode; allow_stale off never asks stale.
TEST(DnsServer, StaleReadsAndMaxStale) {
  {
    DnsServerOptions options;
    options.config.max_stale = absl::Seconds(5);
    Fixture f(options, /*stale_contact_ms=*/6000);
    UdpClient udp;
    EXPECT_EQ(Read(udp.Ask(f.port(), QueryBytes("web.service.consul.", LDNS_RR_TYPE_A, 1))).first_a, "10.0.0.1");
    f.Stop();
    EXPECT_EQ(f.consistencies(), (std::vector<std::string>{"stale", ""}));
  }
  {
    Fixture f({}, /*stale_contact_ms=*/6000);  // Consul's max_stale: ten years
    UdpClient udp;
    EXPECT_EQ(Read(udp.Ask(f.port(), QueryBytes("web.service.consul.", LDNS_RR_TYPE_A, 2))).first_a, "10.0.0.1");
    f.Stop();
    EXPECT_EQ(f.consistencies(), (std::vector<std::string>{"stale"}));
  }
  {
    DnsServerOptions options;
    options.config.allow_stale = false;
    Fixture f(options);
    UdpClient udp;
    EXPECT_EQ(Read(udp.Ask(f.port(), QueryBytes("web.service.consul.", LDNS_RR_TYPE_A, 3))).first_a, "10.0.0.1");
    f.Stop();
    EXPECT_EQ(f.consistencies(), (std::vector<std::string>{""}));
  }
}

TEST(DnsServer, TcpIdleConnectionsAndBrokenFramingAreClosed) {
  DnsServerOptions options;
  options.tcp_idle_timeout = absl::Milliseconds(200);
  Fixture f(options);
  TcpClient idle(f.tcp_port());
  ASSERT_TRUE(idle.connected());
  EXPECT_TRUE(idle.Closed(3000)) << "closed after the idle timeout";
  TcpClient empty(f.tcp_port());
  empty.SendRaw(std::string(2, '\0'));  // a zero-length message
  EXPECT_TRUE(empty.Closed(1000));
  TcpClient fine(f.tcp_port());
  fine.SendRaw(TcpClient::Frame(QueryBytes("web.service.consul.", LDNS_RR_TYPE_A, 5)));
  EXPECT_EQ(Read(fine.Receive()).id, 5);
}

TEST(DnsServer, RecursorsAreTriedInTurnAndAnswersRelayedUnderTheClientsId) {
  // The first recursor never answers; the second answers every query with one A record.
  UdpClient silent;
  UdpClient answering;
  sockaddr_in bind = Loopback(0);
  ASSERT_EQ(::bind(silent.fd(), reinterpret_cast<sockaddr*>(&bind), sizeof(bind)), 0);
  ASSERT_EQ(::bind(answering.fd(), reinterpret_cast<sockaddr*>(&bind), sizeof(bind)), 0);
  auto port_of = [](int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
  };
  DnsServerOptions options;
  options.recursors = {"127.0.0.1:" + std::to_string(port_of(silent.fd())),
                       "127.0.0.1:" + std::to_string(port_of(answering.fd()))};
  options.config.recursor_timeout = absl::Milliseconds(200);
  Fixture f(options);
  std::atomic<bool> done{false};
  std::thread upstream([&] {
    while (!done) {
      pollfd p{answering.fd(), POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      const ssize_t n = recvfrom(answering.fd(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
      ldns_pkt* q = nullptr;
      if (n <= 0 || ldns_wire2pkt(&q, reinterpret_cast<uint8_t*>(buf), n) != LDNS_STATUS_OK) continue;
      ldns_pkt_set_qr(q, true);
      ldns_rr* rr = nullptr;
      ldns_rr_new_frm_str(&rr, "www.example.com. 60 IN A 192.0.2.1", 0, nullptr, nullptr);
      ldns_pkt_push_rr(q, LDNS_SECTION_ANSWER, rr);
      uint8_t* wire = nullptr;
      size_t size = 0;
      ldns_pkt2wire(&wire, q, &size);
      sendto(answering.fd(), wire, size, 0, reinterpret_cast<sockaddr*>(&from), len);
      free(wire);
      ldns_pkt_free(q);
    }
  });
  UdpClient client;
  Answer a = Read(client.Ask(f.port(), QueryBytes("www.example.com.", LDNS_RR_TYPE_A, 77), 3000));
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.id, 77);
  EXPECT_EQ(a.first_a, "192.0.2.1");
  EXPECT_FALSE(silent.Receive(0).empty()) << "the first recursor was asked first";
  done = true;
  upstream.join();
  // Now neither answers: SERVFAIL once both have had their turn.
  Answer failed = Read(client.Ask(f.port(), QueryBytes("www.example.org.", LDNS_RR_TYPE_A, 78), 3000));
  EXPECT_EQ(failed.rcode, LDNS_RCODE_SERVFAIL);
  EXPECT_EQ(failed.id, 78);
  f.Stop();
  EXPECT_EQ(f.stats().recursor_failures, 1u);
}

// Seeded garbage, every cut and random flips of valid queries, pointer loops, over UDP and
// as TCP streams: the server never crashes, every UDP reply is a response, and afterwards it
// still answers.
TEST(DnsServerFuzz, GarbageNeverStopsTheServer) {
  Fixture f({});
  Rng rng(1512);
  UdpClient udp;
  const std::string valid = QueryBytes("web.service.consul.", LDNS_RR_TYPE_A, 99);
  std::vector<std::string> inputs;
  for (int i = 0; i < 1500; ++i) {
    std::string g(rng.Uniform(700), '\0');
    for (char& c : g) c = static_cast<char>(rng.Uniform(256));
    inputs.push_back(std::move(g));
  }
  for (size_t cut = 0; cut < valid.size(); ++cut) inputs.push_back(valid.substr(0, cut));
  for (int i = 0; i < 1500; ++i) {
    std::string m = valid;
    m[rng.Uniform(m.size())] = static_cast<char>(rng.Uniform(256));
    inputs.push_back(std::move(m));
  }
  inputs.push_back(valid.substr(0, 12) + std::string("\xc0\x0c\x00\x01\x00\x01", 6));
  size_t replies = 0;
  for (const std::string& in : inputs) {
    udp.Send(f.port(), in);
    for (std::string r = udp.Receive(0); !r.empty(); r = udp.Receive(0)) {
      ++replies;
      EXPECT_TRUE(Read(r).ok) << "a reply that is not a well-formed response";
    }
  }
  for (std::string r = udp.Receive(300); !r.empty(); r = udp.Receive(300)) ++replies;
  EXPECT_GT(replies, 100u);
  for (int i = 0; i < 50; ++i) {
    TcpClient tcp(f.tcp_port());
    std::string stream(rng.Uniform(3000), '\0');
    for (char& c : stream) c = static_cast<char>(rng.Uniform(256));
    tcp.SendRaw(stream);
  }
  UdpClient after;
  Answer a = Read(after.Ask(f.port(), valid));
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.first_a, "10.0.0.1");
  TcpClient tcp(f.tcp_port());
  tcp.SendRaw(TcpClient::Frame(valid));
  EXPECT_EQ(Read(tcp.Receive()).first_a, "10.0.0.1");
  f.Stop();
  EXPECT_GT(f.stats().malformed, 500u);
}

}  // namespace
}  // namespace muster::io::dns
