#include "io/transport.h"

#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "io/socket_address.h"

namespace muster::io {

struct Transport::Connection {
  Transport* owner = nullptr;
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  Address peer;  // set for outgoing connections; an incoming one's from the frames it carried
  bool outgoing = false;  // else accepted, counted in incoming_connections_
  bool connected = false;
  bool closing = false;
  std::deque<std::string> pending;  // frames waiting for the connection to open
  size_t queued_bytes = 0;          // pending + written but not yet completed
  StreamFrameReader reader;
  char read_buffer[65536];
};

namespace {
struct WriteRequest {
  uv_write_t req;
  std::string bytes;
  size_t size;
};
}  // namespace

Transport::Transport(uv_loop_t* loop, Options options, Receiver receiver)
    : loop_(loop), options_(std::move(options)), receiver_(std::move(receiver)) {
  udp_.data = nullptr;  // marks "never initialised" for Close() after a failed Bind()
  listener_.data = nullptr;
  if (options_.advertise.empty()) options_.advertise = options_.bind;
}

Transport::~Transport() {
  MUSTER_CHECK(handles_open_ == 0, "destroy a Transport only after Close() has finished");
}

absl::StatusOr<std::unique_ptr<Transport>> Transport::Start(uv_loop_t* loop, Options options, Receiver receiver) {
  std::unique_ptr<Transport> t(new Transport(loop, std::move(options), std::move(receiver)));
  absl::Status status = t->Bind();
  if (!status.ok()) {
    // uv_close closes the sockets at once, so the port is free for a retry now; the loop
    // releases the handles later (never run re-entrantly here: Start may be called from a
    // callback of that very loop).
    CloseAndDelete(std::move(t));
    return status;
  }
  return t;
}

void Transport::CloseAndDelete(std::unique_ptr<Transport> transport) {
  Transport* raw = transport.release();
  raw->Close([raw] { delete raw; });  // the last thing MaybeClosed does: nothing touches it after
}

size_t Transport::queued_bytes_to(const Address& peer) const {
  auto it = outgoing_.find(peer);
  return it == outgoing_.end() ? 0 : it->second->queued_bytes;
}

absl::Status Transport::Bind() {
  absl::StatusOr<SocketAddress> addr = ParseSocketAddress(options_.bind);
  if (!addr.ok()) return addr.status();
  uv_udp_init(loop_, &udp_);
  udp_.data = this;
  ++handles_open_;
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  ++handles_open_;
  const sockaddr* sa = addr->get();
  // No UV_UDP_REUSEADDR: on Linux it lets a second process bind the same UDP port and take
  // part of our datagrams, where a clear "address already in use" is wanted. (UDP has no
  // TIME_WAIT, so a restart on the same port needs no reuse flag; libuv sets SO_REUSEADDR on
  // TCP itself, for the listener's TIME_WAIT.)
  if (int rc = uv_udp_bind(&udp_, sa, 0); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot bind UDP ", options_.bind, ": ", uv_strerror(rc)));
  }
  if (int rc = uv_tcp_bind(&listener_, sa, 0); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot bind TCP ", options_.bind, ": ", uv_strerror(rc)));
  }
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 128, &Transport::OnConnection); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on TCP ", options_.bind, ": ", uv_strerror(rc)));
  }
  if (int rc = uv_udp_recv_start(&udp_, &Transport::OnUdpAlloc, &Transport::OnUdpRecv); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot receive on UDP ", options_.bind, ": ", uv_strerror(rc)));
  }
  return absl::OkStatus();
}

void Transport::Send(const OutboundMessage& message) {
  if (closing_) return;
  if (message.channel == Channel::kDatagram) {
    SendDatagram(message);
    return;
  }
  Connection* conn = OutgoingTo(message.to);
  if (conn == nullptr) {
    ++stats_.dropped;
    return;
  }
  std::string frame = EncodeStreamFrame(options_.advertise, message.payload);
  if (conn->queued_bytes + frame.size() > options_.queued_bytes_max_per_peer) {
    ++stats_.dropped_queue_full;  // a peer that cannot keep up loses messages rather than our memory
    ++stats_.dropped;
    return;
  }
  ++stats_.frames_sent;
  if (!conn->connected) {
    conn->queued_bytes += frame.size();
    conn->pending.push_back(std::move(frame));
    return;
  }
  Write(conn, std::move(frame));
}

void Transport::SendDatagram(const OutboundMessage& message) {
  absl::StatusOr<SocketAddress> addr = ParseSocketAddress(message.to);
  if (!addr.ok()) {
    ++stats_.dropped;
    return;
  }
  std::string bytes = EncodeDatagram(options_.advertise, message.payload);
  uv_buf_t buf = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
  // try_send: UDP is fire-and-forget; if the kernel buffer is full the datagram is lost,
  // which the gossip protocol tolerates by design.
  // (An IPv6 peer from an IPv4 socket, or the reverse, fails here and is counted dropped.)
  int rc = uv_udp_try_send(&udp_, &buf, 1, addr->get());
  if (rc < 0) {
    ++stats_.dropped;
  } else {
    ++stats_.datagrams_sent;
  }
}

Transport::Connection* Transport::OutgoingTo(const Address& to) {
  auto it = outgoing_.find(to);
  if (it != outgoing_.end()) return it->second;
  absl::StatusOr<SocketAddress> addr = ParseSocketAddress(to);
  if (!addr.ok()) return nullptr;
  auto owned = std::make_unique<Connection>();
  Connection* conn = owned.get();
  conn->owner = this;
  conn->peer = to;
  conn->outgoing = true;
  uv_tcp_init(loop_, &conn->tcp);
  conn->tcp.data = conn;
  ++handles_open_;
  uv_tcp_nodelay(&conn->tcp, 1);
  conn->connect_req.data = conn;
  connections_[conn] = std::move(owned);
  outgoing_[to] = conn;
  ++stats_.connections_opened;
  if (int rc = uv_tcp_connect(&conn->connect_req, &conn->tcp, addr->get(), &Transport::OnConnect);
      rc != 0) {
    CloseConnection(conn);
    return nullptr;
  }
  return conn;
}

void Transport::OnConnect(uv_connect_t* req, int status) {
  auto* conn = static_cast<Connection*>(req->data);
  Transport* self = conn->owner;
  if (status != 0 || conn->closing) {
    self->CloseConnection(conn);  // counts the frames it was holding as dropped
    return;
  }
  conn->connected = true;
  self->StartRead(conn);  // to notice the peer closing
  while (!conn->pending.empty()) {
    std::string frame = std::move(conn->pending.front());
    conn->pending.pop_front();
    conn->queued_bytes -= frame.size();
    self->Write(conn, std::move(frame));
  }
}

void Transport::Write(Connection* conn, std::string bytes) {
  auto* wr = new WriteRequest;
  wr->bytes = std::move(bytes);
  wr->size = wr->bytes.size();
  wr->req.data = conn;
  conn->queued_bytes += wr->size;
  uv_buf_t buf = uv_buf_init(wr->bytes.data(), static_cast<unsigned>(wr->bytes.size()));
  if (int rc = uv_write(&wr->req, reinterpret_cast<uv_stream_t*>(&conn->tcp), &buf, 1, &Transport::OnWrite);
      rc != 0) {
    conn->queued_bytes -= wr->size;
    delete wr;
    ++stats_.dropped;
    CloseConnection(conn);
  }
}

void Transport::OnWrite(uv_write_t* req, int status) {
  std::unique_ptr<WriteRequest> wr(reinterpret_cast<WriteRequest*>(req));
  auto* conn = static_cast<Connection*>(req->data);
  conn->queued_bytes -= wr->size;
  if (status != 0) conn->owner->CloseConnection(conn);
}

void Transport::OnConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<Transport*>(server->data);
  if (status != 0 || self->closing_) return;
  auto owned = std::make_unique<Connection>();
  Connection* conn = owned.get();
  conn->owner = self;
  uv_tcp_init(self->loop_, &conn->tcp);
  conn->tcp.data = conn;
  ++self->handles_open_;
  ++self->incoming_connections_;
  self->connections_[conn] = std::move(owned);
  // Accepted even past the bound (libuv has no "refuse"), then closed at once.
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&conn->tcp)) != 0 ||
      self->incoming_connections_ > self->options_.incoming_connections_max) {
    self->CloseConnection(conn);
    return;
  }
  ++self->stats_.connections_accepted;
  uv_tcp_nodelay(&conn->tcp, 1);
  conn->connected = true;
  self->StartRead(conn);
}

void Transport::StartRead(Connection* conn) {
  uv_read_start(reinterpret_cast<uv_stream_t*>(&conn->tcp), &Transport::OnStreamAlloc, &Transport::OnStreamRead);
}

void Transport::OnStreamAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* conn = static_cast<Connection*>(handle->data);
  *buf = uv_buf_init(conn->read_buffer, sizeof(conn->read_buffer));
}

void Transport::OnStreamRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* conn = static_cast<Connection*>(stream->data);
  Transport* self = conn->owner;
  if (nread < 0) {
    self->CloseConnection(conn);
    return;
  }
  conn->reader.Append(buf->base, static_cast<size_t>(nread));
  while (auto frame = conn->reader.Next()) {
    ++self->stats_.frames_received;
    if (!conn->outgoing) conn->peer = frame->from;  // who to name if it breaks
    self->receiver_(MessageInput{std::move(frame->from), Channel::kStream, std::move(frame->payload)});
    if (conn->closing) return;
  }
  if (conn->reader.error()) {
    ++self->stats_.dropped;
    if (self->options_.on_malformed) {
      sockaddr_storage peer{};
      int len = sizeof peer;
      std::string who = uv_tcp_getpeername(&conn->tcp, reinterpret_cast<sockaddr*>(&peer), &len) == 0
                            ? FormatSocketAddress(reinterpret_cast<const sockaddr*>(&peer))
                            : "an unknown peer";
      self->options_.on_malformed(who, "a stream frame that is malformed or too large (connection closed)");
    }
    self->CloseConnection(conn);  // a peer that breaks framing gets no second guess
  }
}

void Transport::OnUdpAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<Transport*>(handle->data);
  *buf = uv_buf_init(self->udp_buffer_, sizeof(self->udp_buffer_));
}

void Transport::OnUdpRecv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned) {
  auto* self = static_cast<Transport*>(handle->data);
  if (nread <= 0 || addr == nullptr) return;  // 0 with null addr: nothing more to read
  auto frame = DecodeBody(std::string_view(buf->base, static_cast<size_t>(nread)));
  if (!frame.has_value()) {
    ++self->stats_.dropped;
    if (self->options_.on_malformed) self->options_.on_malformed(FormatSocketAddress(addr), "a malformed datagram");
    return;
  }
  ++self->stats_.datagrams_received;
  self->receiver_(MessageInput{std::move(frame->from), Channel::kDatagram, std::move(frame->payload)});
}

void Transport::CloseConnection(Connection* conn) {
  if (conn->closing) return;
  conn->closing = true;
  if (conn->outgoing) {
    // Forgotten at once, so the next frame to this peer opens a new connection (reconnect).
    auto it = outgoing_.find(conn->peer);
    if (it != outgoing_.end() && it->second == conn) outgoing_.erase(it);
  } else {
    --incoming_connections_;
  }
  // Frames not all written: still queued, or handed to the kernel without completing (or a
  // connection that never opened, whose first frame Send dropped).
  const bool unsent = !conn->pending.empty() || conn->queued_bytes > 0 || (conn->outgoing && !conn->connected);
  stats_.dropped += conn->pending.size();
  conn->pending.clear();
  if (!closing_ && !conn->peer.empty()) {
    ++stats_.streams_broken;
    if (options_.on_stream_broken) options_.on_stream_broken(conn->peer, unsent);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp), [](uv_handle_t* handle) {
    auto* c = static_cast<Connection*>(handle->data);
    Transport* self = c->owner;
    self->connections_.erase(c);
    --self->handles_open_;
    self->MaybeClosed();
  });
}

void Transport::Close(std::function<void()> on_closed) {
  closing_ = true;
  on_closed_ = std::move(on_closed);
  std::vector<Connection*> all;
  for (auto& [conn, owned] : connections_) all.push_back(conn);
  for (Connection* conn : all) CloseConnection(conn);
  auto close_own = [](uv_handle_t* handle) {
    auto* self = static_cast<Transport*>(handle->data);
    --self->handles_open_;
    self->MaybeClosed();
  };
  if (udp_.data == this && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&udp_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&udp_), close_own);
  }
  if (listener_.data == this && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), close_own);
  }
  MaybeClosed();
}

void Transport::MaybeClosed() {
  if (closing_ && handles_open_ == 0 && on_closed_) {
    auto done = std::move(on_closed_);
    on_closed_ = nullptr;
    done();
  }
}

}  // namespace muster::io
