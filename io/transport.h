// Moves core messages over real sockets for one endpoint: datagrams over UDP, streams over
// TCP, both bound to one host:port, IPv4 or IPv6 (as Consul's gossip port serves UDP and TCP).
//
// Streams: one outgoing TCP connection per peer address, opened on first use and reused for
// every later frame to that peer. A connection that fails (refused, reset, closed by the
// peer) is dropped with what it was carrying, and the next frame to that peer opens a new
// one, so a peer that restarts is reached again; the core treats streams as "in order or not
// at all" and retries itself. Each connection that breaks (a connect refused or failed, a
// reset or EOF, a failed write, a malformed frame) is reported once through on_stream_broken,
// an outgoing one with the address it was opened to, an incoming one with the address its
// frames named (one that carried no frame is not reported); closing the Transport reports none. Each peer's unsent bytes (waiting for the connection to open
// or for the kernel to take them) are bounded by queued_bytes_max_per_peer: a frame that
// would pass the bound is dropped, so a stalled peer costs a bounded amount of memory.
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
  uint64_t frames_sent = 0;  // accepted for sending (a broken connection may still lose them)
  uint64_t frames_received = 0;
  uint64_t connections_opened = 0;    // outgoing connections started
  uint64_t connections_accepted = 0;  // incoming connections taken
  uint64_t streams_broken = 0;        // connections reported through on_stream_broken
  uint64_t dropped_queue_full = 0;    // frames refused by queued_bytes_max_per_peer
  uint64_t dropped = 0;  // everything lost, the queue-full drops included: unparseable input,
                         // unreachable peers, broken connections, full queues and buffers
};

class Transport {
 public:
  using Receiver = std::function<void(MessageInput)>;

  struct Options {
    Address bind;       // host:port or [host]:port to listen on, UDP and TCP
    Address advertise;  // how peers name us (every frame carries it); defaults to `bind`
    size_t queued_bytes_max_per_peer = 64u << 20;  // beyond this a peer's frames drop
    int incoming_connections_max = 1024;           // beyond this new connections are refused
    // Called for each datagram or stream that breaks our framing (dropped, and a stream
    // closed), with the peer's socket address and why, so the owner can log it.
    std::function<void(const std::string& peer, const std::string& why)> on_malformed;
    // Called once per broken connection (see the header), with whether frames given to it
    // were not all written (`unsent`), so the owner can tell its machine (StreamBrokenInput).
    std::function<void(const Address& peer, bool unsent)> on_stream_broken;
  };

  // Binds both sockets and starts receiving; every message that arrives goes to `receiver`
  // (its `endpoint` left for the owner to set). On an error nothing stays bound: the sockets
  // are closed at once and their memory is released on a later turn of the loop.
  static absl::StatusOr<std::unique_ptr<Transport>> Start(uv_loop_t* loop, Options options, Receiver receiver);
  ~Transport();

  void Send(const OutboundMessage& message);
  // Closes every handle; the loop must run afterwards for libuv to release them. The
  // Transport may be destroyed once `on_closed` has run.
  void Close(std::function<void()> on_closed);
  // Closes and frees itself once libuv has released its handles; the caller lets go of it.
  static void CloseAndDelete(std::unique_ptr<Transport> transport);

  const Address& advertise() const { return options_.advertise; }
  const TransportStats& stats() const { return stats_; }
  // Bytes queued toward `peer` on its outgoing connection (0 with none), and how many
  // outgoing connections are open or opening.
  size_t queued_bytes_to(const Address& peer) const;
  size_t outgoing_connections() const { return outgoing_.size(); }

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
  // Looked up by peer, never iterated into an output.
  absl::flat_hash_map<Address, Connection*> outgoing_;
  absl::flat_hash_map<Connection*, std::unique_ptr<Connection>> connections_;
  int incoming_connections_ = 0;
  int handles_open_ = 0;
  bool closing_ = false;
  std::function<void()> on_closed_;
  TransportStats stats_;
};

}  // namespace muster::io
