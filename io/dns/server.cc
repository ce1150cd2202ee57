#include "io/dns/server.h"

#include <ldns/ldns.h>

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/agent/dns_resolve.h"
#include "proto/agent.pb.h"

namespace muster::io::dns {

namespace rr = ::muster::agent::dns;

namespace {

// libuv's recvmmsg reads up to 20 datagrams of at most 64 KiB per call into one buffer this
// big (libuv 1.44 unix/udp.c: UV__MMSG_MAXWIDTH x UV__UDP_DGRAM_MAXSIZE).
constexpr size_t kDatagramBytesMax = 64 * 1024;
constexpr size_t kDatagramsPerRead = 20;
constexpr size_t kTcpReadBytes = 64 * 1024;
// A TCP connection holds at most one partial message and one read beyond it.
constexpr size_t kTcpBufferedBytesMax = 2 + kTcpMessageBytesMax + kTcpReadBytes;
constexpr uint64_t kForwardSweepMs = 100;
constexpr size_t kUdpReceiveBufferBytes = 1 << 20;
// UDP answers sent in one sendmmsg at most (and flushed at once when this many wait).
constexpr size_t kUdpBatchMax = 64;

uint64_t Millis(absl::Duration d) { return static_cast<uint64_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d))); }

int PortOf(const sockaddr_storage& s) {
  if (s.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(s).sin_port);
  if (s.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(s).sin6_port);
  return 0;
}

struct UdpSend {
  uv_udp_send_t request;
  std::string bytes;
};

struct TcpWrite {
  uv_write_t request;
  std::string bytes;
};

}  // namespace

struct DnsServer::Connection {
  uv_tcp_t handle{};
  uv_timer_t idle{};
  DnsServer* server = nullptr;
  uint64_t id = 0;
  std::string in;        // received, not yet framed
  size_t unsent = 0;     // answer bytes queued to the socket
  bool closing = false;
  int handles_open = 0;  // of handle and idle, until both are released
};

struct DnsServer::Forward {
  Target target;
  std::shared_ptr<Query> query;
  std::string bytes;      // the client's query under our ID
  size_t recursor = 0;    // the one asked now
  uint64_t deadline_ms = 0;  // uv_now's
};

DnsServer::DnsServer(uv_loop_t* loop, DnsServerOptions options, DnsAgentRequester agent)
    : loop_(loop), options_(std::move(options)), agent_(std::move(agent)) {}

DnsServer::~DnsServer() {
  for (auto& [id, c] : connections_) c->server = nullptr;
}

absl::Status DnsServer::Listen(const std::string& address) {
  absl::StatusOr<SocketAddress> bind = ParseSocketAddress(address);
  if (!bind.ok()) return bind.status();
  for (const std::string& r : options_.recursors) {
    absl::StatusOr<SocketAddress> a = ParseSocketAddress(r.find(':') == std::string::npos ? absl::StrCat(r, ":53") : r);
    if (!a.ok()) a = ParseSocketAddress(JoinHostPort(r, 53));  // a bare IPv6 address
    if (!a.ok()) return absl::InvalidArgumentError(absl::StrCat("recursor \"", r, "\": ", a.status().message()));
    if (!recursors_.empty() && recursors_[0].ipv6() != a->ipv6()) {
      return absl::InvalidArgumentError("recursors: all IPv4 or all IPv6");
    }
    recursors_.push_back(*a);
  }
  if (datagram_buffer_ == nullptr) datagram_buffer_.reset(new char[kDatagramBytesMax * kDatagramsPerRead]);
  const unsigned family = bind->ipv6() ? AF_INET6 : AF_INET;

  uv_udp_init_ex(loop_, &udp_, family | UV_UDP_RECVMMSG);
  udp_.data = this;
  udp_open_ = true;
  ++handles_open_;
  if (int rc = uv_udp_bind(&udp_, bind->get(), 0); rc != 0) {
    return absl::UnavailableError(absl::StrCat("DNS (udp) on ", address, ": ", uv_strerror(rc)));
  }
  // A receive queue for bursts (NSD's so-rcvbuf, 1 MiB): at the kernel's default (~208 KiB,
  // about 200 small datagrams as the kernel counts them) a burst arriving while the loop is
  // busy elsewhere is dropped before we see it. Past rmem_max only with CAP_NET_ADMIN
  // (SO_RCVBUFFORCE), else as much as SO_RCVBUF allows; the kernel takes the memory only
  // while datagrams wait.
  if (uv_os_fd_t fd = -1; uv_fileno(reinterpret_cast<uv_handle_t*>(&udp_), &fd) == 0) {
    int bytes = static_cast<int>(kUdpReceiveBufferBytes);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
    }
  }
  uv_udp_recv_start(
      &udp_,
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<DnsServer*>(h->data);
        *buf = uv_buf_init(self->datagram_buffer_.get(), kDatagramBytesMax * kDatagramsPerRead);
      },
      [](uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* peer, unsigned flags) {
        auto* self = static_cast<DnsServer*>(h->data);
        // The end of one recvmmsg's datagrams: what they asked goes to the agent as one batch.
        if ((flags & UV_UDP_MMSG_FREE) != 0) return self->FlushQuestions(self->options_.config.allow_stale);
        if (nread <= 0 || peer == nullptr) return;  // nothing more to read, or an error
        self->OnDatagram(buf->base, static_cast<size_t>(nread), peer);
      });

  uv_idle_init(loop_, &flush_);
  flush_.data = this;
  flush_open_ = true;
  ++handles_open_;

  uv_tcp_init(loop_, &tcp_);
  tcp_.data = this;
  tcp_open_ = true;
  ++handles_open_;
  sockaddr_storage tcp_bind = bind->storage;
  if (PortOf(bind->storage) == 0) {
    // Port 0: TCP on the port the kernel gave UDP when it is free, so one port serves both.
    const uint16_t port = htons(static_cast<uint16_t>(udp_port()));
    if (bind->ipv6()) {
      reinterpret_cast<sockaddr_in6&>(tcp_bind).sin6_port = port;
    } else {
      reinterpret_cast<sockaddr_in&>(tcp_bind).sin_port = port;
    }
  }
  auto bind_and_listen = [&](const sockaddr* at) {
    // libuv reports a port in use for TCP at uv_listen, not at bind.
    int rc = uv_tcp_bind(&tcp_, at, 0);
    if (rc == 0) {
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 128,
                     [](uv_stream_t* s, int status) { static_cast<DnsServer*>(s->data)->OnConnection(status); });
    }
    return rc;
  };
  int rc = bind_and_listen(reinterpret_cast<const sockaddr*>(&tcp_bind));
  if (rc != 0 && PortOf(bind->storage) == 0) rc = bind_and_listen(bind->get());  // UDP's port is taken for TCP
  if (rc != 0) return absl::UnavailableError(absl::StrCat("DNS (tcp) on ", address, ": ", uv_strerror(rc)));

  if (!recursors_.empty()) {
    uv_udp_init(loop_, &forward_udp_);
    forward_udp_.data = this;
    forward_open_ = true;
    ++handles_open_;
    absl::StatusOr<SocketAddress> any = ParseSocketAddress(recursors_[0].ipv6() ? "[::]:0" : "0.0.0.0:0");
    if (int rc = uv_udp_bind(&forward_udp_, any->get(), 0); rc != 0) {
      return absl::UnavailableError(absl::StrCat("DNS recursor socket: ", uv_strerror(rc)));
    }
    uv_udp_recv_start(
        &forward_udp_,
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* self = static_cast<DnsServer*>(h->data);
          *buf = uv_buf_init(self->datagram_buffer_.get(), kDatagramBytesMax);
        },
        [](uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* peer, unsigned) {
          if (nread <= 0 || peer == nullptr) return;
          static_cast<DnsServer*>(h->data)->OnRecursorDatagram(buf->base, static_cast<size_t>(nread), peer);
        });
    uv_timer_init(loop_, &forward_timer_);
    forward_timer_.data = this;
    timer_open_ = true;
    ++handles_open_;
  }
  return absl::OkStatus();
}

int DnsServer::udp_port() const {
  sockaddr_storage s{};
  int len = sizeof(s);
  if (!udp_open_ || uv_udp_getsockname(&udp_, reinterpret_cast<sockaddr*>(&s), &len) != 0) return 0;
  return PortOf(s);
}

int DnsServer::tcp_port() const {
  sockaddr_storage s{};
  int len = sizeof(s);
  if (!tcp_open_ || uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&s), &len) != 0) return 0;
  return PortOf(s);
}

// ---- queries

void DnsServer::OnDatagram(const char* data, size_t size, const sockaddr* peer) {
  Target t;
  t.peer.storage = {};
  memcpy(&t.peer.storage, peer, peer->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  Handle(std::string_view(data, size), t);
}

void DnsServer::OnTcpMessage(Connection* c, std::string_view message) {
  Target t;
  t.tcp = true;
  t.connection_id = c->id;
  Handle(message, t);
}

void DnsServer::Handle(std::string_view bytes, const Target& target) {
  if (stopping_) return;
  Parsed parsed = ParseQuery(bytes);
  if (!parsed.query.has_value()) {
    ++stats_.malformed;
    if (!parsed.reply.empty()) Send(target, std::move(parsed.reply));
    return;
  }
  auto query = std::make_shared<Query>(std::move(*parsed.query));
  switch (agent::ZoneOf(query->name, options_.domain, options_.alt_domain)) {
    case agent::DnsZone::kOutside:
      if (recursors_.empty()) return Send(target, ErrorReply(*query, rr::kRcodeRefused));
      return StartForward(bytes, target, query);
    case agent::DnsZone::kReverse:
      // Kept for the recursors, should the catalog not know the address.
      if (!recursors_.empty()) query->raw = std::string(bytes);
      return Resolve(std::move(query), target, options_.config.allow_stale);
    case agent::DnsZone::kDomain:
      return Resolve(std::move(query), target, options_.config.allow_stale);
  }
}

void DnsServer::Resolve(std::shared_ptr<Query> query, const Target& target, bool stale) {
  std::vector<PendingQuestion>& pending = pending_questions_[stale ? 1 : 0];
  pending.push_back({std::move(query), target});
  if (pending.size() >= agent::kDnsBatchQuestionsMax) return FlushQuestions(stale);
  StartFlush();
}

void DnsServer::FlushQuestions(bool stale) {
  std::vector<PendingQuestion>& pending = pending_questions_[stale ? 1 : 0];
  if (pending.empty()) return;
  auto batch = std::make_shared<std::vector<PendingQuestion>>();
  batch->swap(pending);
  proto::agent::Call call;
  proto::dns::DnsBatch* b = call.mutable_dns_batch();
  proto::dns::DnsQuestion* q = b->mutable_settings();
  q->set_domain(options_.domain);
  q->set_alt_domain(options_.alt_domain);
  q->set_datacenter(options_.datacenter);
  q->set_node_ttl_s(static_cast<uint32_t>(absl::ToInt64Seconds(options_.config.node_ttl)));
  for (const auto& [service, ttl] : options_.config.service_ttl) {
    proto::dns::ServiceTtl* t = q->add_service_ttl();
    t->set_service(service);
    t->set_ttl_s(static_cast<uint32_t>(absl::ToInt64Seconds(ttl)));
  }
  q->set_only_passing(options_.config.only_passing);
  for (const PendingQuestion& p : *batch) {
    proto::dns::DnsAsk* ask = b->add_asks();
    ask->set_name(p.query->name);
    ask->set_type(p.query->type);
  }
  if (stale) call.set_consistency("stale");
  agent_(std::string(agent::kDnsQueryMethod), call.SerializeAsString(),
         [this, alive = std::weak_ptr<bool>(alive_), batch, stale](const ::muster::Response& response) {
           if (alive.expired()) return;
           AnswerFromAgent(*batch, response, stale);
         });
}

void DnsServer::AnswerFromAgent(std::vector<PendingQuestion>& batch, const ::muster::Response& response, bool stale) {
  if (stopping_) return;
  proto::agent::Reply reply;
  proto::dns::DnsAnswers answers;
  if (!response.status.ok() || !reply.ParseFromString(response.body) || !answers.ParseFromString(reply.body()) ||
      static_cast<size_t>(answers.asks_size()) != batch.size()) {
    for (const PendingQuestion& p : batch) Send(p.target, ErrorReply(*p.query, rr::kRcodeServFail));
    return;
  }
  if (stale && absl::Milliseconds(reply.last_contact_ms()) > options_.config.max_stale) {
    // Too old: the leader answers (Consul's max_stale).
    for (PendingQuestion& p : batch) Resolve(std::move(p.query), p.target, /*stale=*/false);
    return;
  }
  // Each distinct answer's records are built once, for every ask that shares them.
  std::vector<std::unique_ptr<AnswerRecords>> records(static_cast<size_t>(answers.answers_size()));
  for (size_t i = 0; i < batch.size(); ++i) {
    const proto::dns::DnsAskAnswer& ask = answers.asks(static_cast<int>(i));
    if (ask.answer() >= records.size()) {
      Send(batch[i].target, ErrorReply(*batch[i].query, rr::kRcodeServFail));
      continue;
    }
    const proto::dns::DnsAnswer& answer = answers.answers(static_cast<int>(ask.answer()));
    if (records[ask.answer()] == nullptr) records[ask.answer()] = std::make_unique<AnswerRecords>(answer);
    Answer(batch[i].query, batch[i].target, answer, *records[ask.answer()],
           absl::MakeConstSpan(ask.order().data(), static_cast<size_t>(ask.order_size())));
  }
}

void DnsServer::Answer(const std::shared_ptr<Query>& asked, const Target& target, const proto::dns::DnsAnswer& answer,
                       const AnswerRecords& records, absl::Span<const uint32_t> order) {
  const Query& query = *asked;
  if (!query.raw.empty() && answer.rcode() == rr::kRcodeNxDomain) {
    return StartForward(query.raw, target, asked);  // a PTR the catalog does not know
  }
  ++stats_.queries;
  const size_t size_max = target.tcp ? kTcpMessageBytesMax : query.udp_size;
  const size_t answers_max =
      target.tcp || query.edns ? 0 : static_cast<size_t>(std::max(1, options_.config.udp_answer_limit));
  bool truncated = false;
  std::string wire = records.Encode(query, size_max, answers_max, order, &truncated);
  if (truncated && !target.tcp) ++stats_.truncated;
  Send(target, std::move(wire));
}

void DnsServer::StartFlush() {
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&flush_))) return;
  uv_idle_start(&flush_, [](uv_idle_t* i) {
    auto* self = static_cast<DnsServer*>(i->data);
    uv_idle_stop(i);
    self->FlushQuestions(true);
    self->FlushQuestions(false);
    self->FlushUdp();
  });
}

void DnsServer::Send(const Target& target, std::string bytes) {
  if (bytes.empty()) return;
  if (!target.tcp) {
    udp_out_.push_back({target.peer, std::move(bytes)});
    if (udp_out_.size() >= kUdpBatchMax) return FlushUdp();
    return StartFlush();
  }
  auto it = connections_.find(target.connection_id);
  if (it == connections_.end()) return;  // closed meanwhile: nobody to answer
  SendTcp(it->second, std::move(bytes));
}

void DnsServer::FlushUdp() {
  if (udp_out_.empty() || !udp_open_) return;
  size_t sent = 0;
  uv_os_fd_t fd = -1;
  // With libuv's own queue non-empty, order is kept by queueing behind it.
  if (uv_udp_get_send_queue_count(&udp_) == 0 && uv_fileno(reinterpret_cast<uv_handle_t*>(&udp_), &fd) == 0) {
    mmsghdr messages[kUdpBatchMax] = {};
    iovec parts[kUdpBatchMax];
    const size_t n = std::min(udp_out_.size(), kUdpBatchMax);
    for (size_t i = 0; i < n; ++i) {
      parts[i] = {udp_out_[i].bytes.data(), udp_out_[i].bytes.size()};
      messages[i].msg_hdr.msg_name = const_cast<sockaddr*>(udp_out_[i].to.get());
      messages[i].msg_hdr.msg_namelen = udp_out_[i].to.ipv6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
      messages[i].msg_hdr.msg_iov = &parts[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    const int rc = sendmmsg(fd, messages, static_cast<unsigned>(n), MSG_DONTWAIT);
    if (rc > 0) sent = static_cast<size_t>(rc);
  }
  // What sendmmsg did not take (a full socket buffer, or past the batch) goes through libuv.
  for (size_t i = sent; i < udp_out_.size(); ++i) SendUdp(&udp_, udp_out_[i].to.get(), std::move(udp_out_[i].bytes));
  udp_out_.clear();
}

void DnsServer::SendUdp(uv_udp_t* socket, const sockaddr* to, std::string bytes) {
  uv_buf_t buf = uv_buf_init(bytes.data(), bytes.size());
  const int rc = uv_udp_try_send(socket, &buf, 1, to);
  if (rc >= 0 || rc != UV_EAGAIN) return;  // sent, or an error UDP does not retry
  auto* send = new UdpSend{{}, std::move(bytes)};
  buf = uv_buf_init(send->bytes.data(), send->bytes.size());
  send->request.data = send;
  if (uv_udp_send(&send->request, socket, &buf, 1, to,
                  [](uv_udp_send_t* r, int) { delete static_cast<UdpSend*>(r->data); }) != 0) {
    delete send;
  }
}

// ---- recursors

void DnsServer::StartForward(std::string_view bytes, const Target& target, std::shared_ptr<Query> query) {
  if (forwards_.size() >= options_.forwards_max || forwards_.size() >= 65536) {
    ++stats_.recursor_failures;
    return Send(target, ErrorReply(*query, rr::kRcodeServFail));
  }
  // A random free ID (an upstream answer is taken only from the recursor asked, under the ID
  // it was asked with): a predictable one would make forging its answer easy.
  uint16_t id = static_cast<uint16_t>(forward_ids_());
  while (forwards_.contains(id)) id = static_cast<uint16_t>(forward_ids_());
  auto f = std::make_unique<Forward>();
  f->target = target;
  f->query = std::move(query);
  f->bytes = std::string(bytes);
  SetMessageId(f->bytes, id);
  forwards_[id] = std::move(f);
  SendForward(id);
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&forward_timer_))) {
    uv_timer_start(
        &forward_timer_, [](uv_timer_t* t) { static_cast<DnsServer*>(t->data)->SweepForwards(); }, kForwardSweepMs,
        kForwardSweepMs);
  }
}

void DnsServer::SendForward(uint16_t id) {
  Forward& f = *forwards_.at(id);
  f.deadline_ms = uv_now(loop_) + Millis(options_.config.recursor_timeout);
  ++stats_.forwarded;
  SendUdp(&forward_udp_, recursors_[f.recursor].get(), f.bytes);
}

void DnsServer::OnRecursorDatagram(const char* data, size_t size, const sockaddr* peer) {
  const std::optional<uint16_t> id = MessageId(std::string_view(data, size));
  if (!id.has_value()) return;
  auto it = forwards_.find(*id);
  if (it == forwards_.end()) return;
  // Only the recursor asked may answer (a forged answer from elsewhere is dropped).
  if (FormatSocketAddress(peer) != FormatSocketAddress(recursors_[it->second->recursor].get())) return;
  std::unique_ptr<Forward> f = std::move(it->second);
  forwards_.erase(it);
  std::string answer(data, size);
  SetMessageId(answer, f->query->id);
  Send(f->target, std::move(answer));
}

void DnsServer::SweepForwards() {
  const uint64_t now = uv_now(loop_);
  std::vector<uint16_t> late;
  for (const auto& [id, f] : forwards_) {
    if (f->deadline_ms <= now) late.push_back(id);
  }
  for (uint16_t id : late) {
    Forward& f = *forwards_.at(id);
    if (++f.recursor < recursors_.size()) {
      SendForward(id);
    } else {
      FailForward(id);
    }
  }
  if (forwards_.empty()) uv_timer_stop(&forward_timer_);
}

void DnsServer::FailForward(uint16_t id) {
  std::unique_ptr<Forward> f = std::move(forwards_.at(id));
  forwards_.erase(id);
  ++stats_.recursor_failures;
  Send(f->target, ErrorReply(*f->query, rr::kRcodeServFail));
}

// ---- TCP

void DnsServer::OnConnection(int status) {
  if (status != 0 || stopping_) return;
  auto* c = new Connection();
  c->server = this;
  c->id = next_connection_id_++;
  uv_tcp_init(loop_, &c->handle);
  uv_timer_init(loop_, &c->idle);
  c->handle.data = c;
  c->idle.data = c;
  c->handles_open = 2;
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&tcp_), reinterpret_cast<uv_stream_t*>(&c->handle)) != 0 ||
      connections_.size() >= options_.tcp_connections_max) {
    ++stats_.tcp_refused;
    connections_[c->id] = c;
    return Close(c);
  }
  ++stats_.tcp_connections;
  connections_[c->id] = c;
  uv_timer_start(
      &c->idle, [](uv_timer_t* t) { auto* c = static_cast<Connection*>(t->data); if (c->server) c->server->Close(c); },
      Millis(options_.tcp_idle_timeout), 0);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->handle),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        // One scratch buffer for every connection: each read is consumed before the next.
        static thread_local std::vector<char> scratch(kTcpReadBytes);
        *buf = uv_buf_init(scratch.data(), scratch.size());
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* c = static_cast<Connection*>(s->data);
        if (c->server != nullptr) c->server->OnRead(c, nread, buf);
      });
}

void DnsServer::OnRead(Connection* c, ssize_t nread, const uv_buf_t* buf) {
  if (c->closing) return;
  if (nread < 0) return Close(c);
  if (nread == 0) return;
  c->in.append(buf->base, static_cast<size_t>(nread));
  if (c->in.size() > kTcpBufferedBytesMax) return Close(c);
  uv_timer_start(
      &c->idle, [](uv_timer_t* t) { auto* c = static_cast<Connection*>(t->data); if (c->server) c->server->Close(c); },
      Millis(options_.tcp_idle_timeout), 0);
  size_t at = 0;
  const uint64_t id = c->id;
  while (c->in.size() - at >= 2) {
    const size_t length = ldns_read_uint16(c->in.data() + at);
    if (length == 0) return Close(c);  // no DNS message is empty: the framing is broken
    if (c->in.size() - at < 2 + length) break;
    OnTcpMessage(c, std::string_view(c->in.data() + at + 2, length));
    if (!connections_.contains(id)) return;  // closed while answering (its queue overflowed)
    at += 2 + length;
  }
  c->in.erase(0, at);
}

void DnsServer::SendTcp(Connection* c, std::string bytes) {
  if (c->closing) return;
  if (bytes.size() > kTcpMessageBytesMax || c->unsent + bytes.size() + 2 > options_.tcp_unsent_bytes_max) {
    return Close(c);  // a client that does not read its answers
  }
  auto* w = new TcpWrite{{}, std::string(2, '\0')};
  ldns_write_uint16(w->bytes.data(), static_cast<uint16_t>(bytes.size()));
  w->bytes += bytes;
  w->request.data = w;
  c->unsent += w->bytes.size();
  uv_buf_t buf = uv_buf_init(w->bytes.data(), w->bytes.size());
  if (uv_write(&w->request, reinterpret_cast<uv_stream_t*>(&c->handle), &buf, 1, [](uv_write_t* r, int) {
        auto* w = static_cast<TcpWrite*>(r->data);
        auto* c = static_cast<Connection*>(r->handle->data);
        c->unsent -= w->bytes.size();
        delete w;
      }) != 0) {
    c->unsent -= w->bytes.size();
    delete w;
    Close(c);
  }
}

void DnsServer::Close(Connection* c) {
  if (c->closing) return;
  c->closing = true;
  connections_.erase(c->id);
  auto closed = [](uv_handle_t* h) {
    auto* c = static_cast<Connection*>(h->data);
    if (--c->handles_open > 0) return;
    DnsServer* server = c->server;
    delete c;
    if (server != nullptr) {
      ++server->closing_connections_done_;
      server->MaybeStopped();
    }
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->idle), closed);
  ++closing_connections_;
}

// ---- stopping

void DnsServer::Stop(std::function<void()> on_stopped) {
  if (stopping_) return;
  stopping_ = true;
  on_stopped_ = std::move(on_stopped);
  alive_.reset();
  std::vector<Connection*> open;
  for (auto& [id, c] : connections_) open.push_back(c);
  for (Connection* c : open) Close(c);
  auto released = [](uv_handle_t* h) {
    auto* self = static_cast<DnsServer*>(h->data);
    --self->handles_open_;
    self->MaybeStopped();
  };
  udp_out_.clear();
  if (flush_open_) uv_close(reinterpret_cast<uv_handle_t*>(&flush_), released);
  if (udp_open_) uv_close(reinterpret_cast<uv_handle_t*>(&udp_), released);
  if (tcp_open_) uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), released);
  if (forward_open_) uv_close(reinterpret_cast<uv_handle_t*>(&forward_udp_), released);
  if (timer_open_) uv_close(reinterpret_cast<uv_handle_t*>(&forward_timer_), released);
  udp_open_ = tcp_open_ = forward_open_ = timer_open_ = flush_open_ = false;
  forwards_.clear();
  MaybeStopped();
}

void DnsServer::MaybeStopped() {
  if (!stopping_ || handles_open_ > 0 || closing_connections_done_ < closing_connections_ || !on_stopped_) return;
  auto done = std::move(on_stopped_);
  on_stopped_ = nullptr;
  done();
}

}  // namespace muster::io::dns
