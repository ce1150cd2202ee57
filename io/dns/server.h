// The agent's DNS interface (issue 15): a UDP and a TCP listener on libuv (Consul's 8600, on
// the -client address), on the agent's loop, with no thread per query. A query for the domain
// (or the alt domain, or a PTR) becomes the read "dns.query" to the agent machine
// (core/agent/dns_resolve.h), stale by default as Consul's DNS, asked again in the default mode
// when the answering server's last contact with its leader is older than max_stale. The answer
// is encoded by io/dns/codec.h: over UDP cut to 512 bytes (or the query's EDNS0 size, and
// udp_answer_limit records without EDNS0) with TC set; complete over TCP.
//
// Names outside the domain go to the -recursor addresses over UDP, one after another on
// recursor_timeout (Consul's order), under an ID of our own; their answer is relayed with the
// client's ID; none answering is SERVFAIL; no recursor is REFUSED. A PTR the catalog does not
// know goes to them too.
//
// TCP (RFC 7766): length-prefixed messages, several per connection and answered as they come
// back; a connection idle past tcp_idle_timeout is closed, one whose unsent answers pass
// tcp_unsent_bytes_max or that breaks the framing is closed at once, and past
// tcp_connections_max a new connection is closed on accept. Every buffer is bounded.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/agent/dns_config.h"
#include "core/seam/effects.h"
#include "io/dns/codec.h"
#include "io/socket_address.h"

namespace muster::io::dns {

struct DnsServerOptions {
  std::string datacenter = "dc1";
  std::string domain = "consul.";  // lowercased, with the final dot (as io/config keeps it)
  std::string alt_domain;
  std::vector<std::string> recursors;  // "ip" or "ip:port" (53)
  agent::DnsConfig config;
  size_t tcp_connections_max = 1024;
  absl::Duration tcp_idle_timeout = absl::Seconds(8);  // miekg/dns's idle timeout, as Consul's
  size_t tcp_unsent_bytes_max = 1 << 20;
  size_t forwards_max = 4096;  // queries waiting on a recursor
};

struct DnsServerStats {
  uint64_t queries = 0;        // answered from the catalog (UDP and TCP)
  uint64_t truncated = 0;      // UDP answers cut, TC set
  uint64_t malformed = 0;      // FORMERR, or dropped unanswered
  uint64_t forwarded = 0;      // sent to a recursor
  uint64_t recursor_failures = 0;  // SERVFAIL: no recursor answered
  uint64_t tcp_connections = 0;    // accepted
  uint64_t tcp_refused = 0;        // closed on accept (past tcp_connections_max)
};

// What the DNS server asks of the agent: Host::Request's shape.
using DnsAgentRequester = std::function<void(std::string method, std::string body,
                                             std::function<void(const ::muster::Response&)> on_response)>;

class DnsServer {
 public:
  DnsServer(uv_loop_t* loop, DnsServerOptions options, DnsAgentRequester agent);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Binds UDP and TCP on "host:port" (port 0: the kernel picks one, the same for both is not
  // promised; udp_port() and tcp_port() say). A bad recursor address is refused here.
  absl::Status Listen(const std::string& address);
  // Closes every handle; `on_stopped` runs once libuv has released them.
  void Stop(std::function<void()> on_stopped);

  int udp_port() const;
  int tcp_port() const;
  const DnsServerStats& stats() const { return stats_; }
  size_t tcp_connections_open() const { return connections_.size(); }

 private:
  struct Connection;
  struct Forward;
  // Where an answer goes: a UDP peer, or a TCP connection by its id (it may be gone by then).
  struct Target {
    bool tcp = false;
    SocketAddress peer;           // UDP
    uint64_t connection_id = 0;  // TCP
  };

  void OnDatagram(const char* data, size_t size, const sockaddr* peer);
  void OnTcpMessage(Connection* c, std::string_view message);
  void Handle(std::string_view bytes, const Target& target);
  // Questions for the agent wait for the end of the datagrams one recvmmsg read (or the next
  // loop turn, or kDnsBatchQuestionsMax of them) and go as one dns.query batch: one request,
  // one machine step and one store state for all, where one each cost more than the answer.
  struct PendingQuestion {
    std::shared_ptr<Query> query;
    Target target;
  };
  void Resolve(std::shared_ptr<Query> query, const Target& target, bool stale);
  void FlushQuestions(bool stale);
  void AnswerFromAgent(std::vector<PendingQuestion>& batch, const ::muster::Response& response, bool stale);
  void Answer(const std::shared_ptr<Query>& query, const Target& target, const proto::dns::DnsAnswer& answer,
              const AnswerRecords& records, absl::Span<const uint32_t> order);
  // Starts the idle handle that flushes waiting questions and answers on the next loop turn.
  void StartFlush();
  void Send(const Target& target, std::string bytes);
  void SendUdp(uv_udp_t* socket, const sockaddr* to, std::string bytes);
  // UDP answers wait for the next loop turn (or kUdpBatchMax of them) and leave in one
  // sendmmsg: one system call for a batch, where one each was a third of a query's CPU. An
  // idle handle, active only while answers wait, keeps the loop from blocking on them.
  void FlushUdp();
  void SendTcp(Connection* c, std::string bytes);

  // Recursors.
  void StartForward(std::string_view bytes, const Target& target, std::shared_ptr<Query> query);
  void SendForward(uint16_t id);
  void OnRecursorDatagram(const char* data, size_t size, const sockaddr* peer);
  void SweepForwards();
  void FailForward(uint16_t id);

  // TCP.
  void OnConnection(int status);
  void OnRead(Connection* c, ssize_t nread, const uv_buf_t* buf);
  void Close(Connection* c);
  void MaybeStopped();

  uv_loop_t* loop_;
  const DnsServerOptions options_;
  const DnsAgentRequester agent_;
  std::vector<SocketAddress> recursors_;
  uv_udp_t udp_{};
  uv_tcp_t tcp_{};
  uv_udp_t forward_udp_{};
  uv_idle_t flush_{};  // active while answers wait: runs FlushUdp on the next loop turn
  bool flush_open_ = false;
  struct PendingDatagram {
    SocketAddress to;
    std::string bytes;
  };
  std::vector<PendingDatagram> udp_out_;
  std::vector<PendingQuestion> pending_questions_[2];  // [0] default mode, [1] stale
  uv_timer_t forward_timer_{};
  bool udp_open_ = false, tcp_open_ = false, forward_open_ = false, timer_open_ = false;
  bool stopping_ = false;
  int handles_open_ = 0;
  std::function<void()> on_stopped_;
  // One receive buffer for every datagram: each is parsed before the next is read. Left
  // uninitialized (not a zero-filled vector): only the pages datagrams land in become resident.
  std::unique_ptr<char[]> datagram_buffer_;
  absl::btree_map<uint64_t, Connection*> connections_;
  uint64_t next_connection_id_ = 1;
  absl::btree_map<uint16_t, std::unique_ptr<Forward>> forwards_;
  std::mt19937 forward_ids_{std::random_device{}()};  // io, not core: the OS's randomness is fine
  DnsServerStats stats_;
  // Connections whose handles are being released, and those released: Stop ends after both.
  uint64_t closing_connections_ = 0;
  uint64_t closing_connections_done_ = 0;
  // Answers the agent gives after Stop (or after this server is gone) find it expired.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace muster::io::dns
