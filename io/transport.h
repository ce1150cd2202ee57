// Moves core messages over real sockets: datagrams over UDP, streams over TCP, both bound
// to one advertised host:port (as Consul's gossip port serves UDP and TCP). One outgoing TCP
// connection per peer, opened on first use; a connection that fails drops what it was
// carrying — the core treats streams as "in order or not at all" and retries itself.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/seam/effects.h"
#include "core/seam/input.h"
#include "io/frame.h"

namespace muster::io {

struct TransportStats {
  uint64_t datagrams_sent = 0;
  uint64_t datagrams_received = 0;
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  uint64_t dropped = 0;  // unparseable input, unreachable peers, full queues
};

class Transport {
 public:
  using Receiver = std::function<void(MessageInput)>;

  struct Options {
    Address bind;       // host:port to listen on, UDP and TCP
    Address advertise;  // how peers name us; defaults to `bind`
    size_t queued_bytes_max_per_peer = 64u << 20;  // beyond this a peer's messages drop
  };

  // Binds both sockets and starts receiving; every message that arrives goes to `receiver`.
  static absl::StatusOr<std::unique_ptr<Transport>> Start(uv_loop_t* loop, Options options, Receiver receiver);
  ~Transport();

  void Send(const OutboundMessage& message);
  // Closes every handle; the loop must run afterwards for libuv to release them. The
  // Transport may be destroyed once `on_closed` has run.
  void Close(std::function<void()> on_closed);

  const Address& advertise() const { return options_.advertise; }
  const TransportStats& stats() const { return stats_; }

 private:
  struct Connection;
  Transport(uv_loop_t* loop, Options options, Receiver receiver);
  absl::Status Bind();
  Connection* OutgoingTo(const Address& to);
  void SendDatagram(const OutboundMessage& message);
  void StartRead(Connection* conn);
  void Write(Connection* conn, std::string bytes);
  void CloseConnection(Connection* conn);
  void MaybeClosed();

  static void OnUdpAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnUdpRecv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned flags);
  static void OnConnection(uv_stream_t* server, int status);
  static void OnConnect(uv_connect_t* req, int status);
  static void OnStreamAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnStreamRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);

  uv_loop_t* loop_;
  Options options_;
  Receiver receiver_;
  uv_udp_t udp_;
  uv_tcp_t listener_;
  char udp_buffer_[65536];
  absl::flat_hash_map<Address, Connection*> outgoing_;
  absl::flat_hash_map<Connection*, std::unique_ptr<Connection>> connections_;
  int handles_open_ = 0;
  bool closing_ = false;
  std::function<void()> on_closed_;
  TransportStats stats_;
};

}  // namespace muster::io
