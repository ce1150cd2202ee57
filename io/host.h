// The libuv host: drives one core Machine with real time, sockets, storage and processes,
// carrying out its Effects by the seam's rules (core/seam/effects.h). Inputs are queued and
// run one at a time from the loop, never re-entrantly from inside a Step.
//
// Durability by group commit (rules 1-3, as sim/effect_executor.h carries them out):
//  - every StorageWrite is applied to the DurableStore on the loop thread when the machine
//    issues it, so reads see it at once (rule 3);
//  - syncs run on a libuv worker thread, one at a time. A sync covers every write applied
//    before it started; sync writes issued while one runs wait, and the next single sync
//    covers them all (one fsync for many writes), so none waits longer than the sync in
//    progress plus one more;
//  - when a sync completes, the machine gets WriteDurableInput{the last write it covers}
//    through the inbox like any other input, and the messages and responses gated on the
//    writes it covers leave, in the order they were issued (rule 2). Nothing overtakes a
//    gated one, and nothing gated leaves before its write is durable;
//  - a storage error (Apply or Sync) stops the machine: it is reported by
//    last_storage_error(), nothing gated leaves and no input runs after it.
// The loop keeps serving timers, sockets and requests while a sync runs. Stop() waits for a
// sync in flight to finish before it reports the host stopped.
//
// Endpoints (core/seam/channel.h): one Transport (a UDP and TCP socket pair) per endpoint the
// options open, LAN, RPC and WAN as Consul's 8301, 8300 and 8302. A message leaves through the
// transport of its OutboundMessage::endpoint (one for an endpoint not opened is dropped and
// counted), arrives tagged with the endpoint it came in on, and MachineContext::endpoints holds
// each opened endpoint's advertised address.
#pragma once

#include <uv.h>

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <string_view>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "core/base/log_throttle.h"
#include "core/seam/machine.h"
#include "io/durable_store.h"
#include "io/inbox.h"
#include "io/process_runner.h"
#include "io/transport.h"

namespace muster::io {

// The host's own key in the store (machines keep to their prefixes: raft/, ...).
inline constexpr std::string_view kIncarnationKey = "host/incarnation";

class Host {
 public:
  // One endpoint's addresses: "host:port" or "[v6 host]:port" (io/socket_address.h).
  struct EndpointAddresses {
    Address bind;       // where it listens, UDP and TCP; empty: the endpoint is not opened
    Address advertise;  // how peers name it (frames carry it); defaults to bind
  };

  struct Options {
    NodeId id{1};
    // The kLan endpoint (the one a single-endpoint machine uses); both empty: no LAN network.
    Address bind;
    Address advertise;  // defaults to bind
    uint64_t seed = 0;  // the machine's Rng seed; 0 draws one from the OS
    LogSink* log = nullptr;
    DurableStore* store = nullptr;  // required; outlives the Host
    EndpointAddresses rpc;  // kRpc: server RPC (Consul's 8300)
    EndpointAddresses wan;  // kWan: WAN gossip (Consul's 8302, servers only)
    size_t queued_bytes_max_per_peer = 64u << 20;  // each transport's bound (io/transport.h)

    EndpointAddresses endpoint(Endpoint e) const;  // kLan's from bind/advertise
  };

  Host(uv_loop_t* loop, Options options, MachineFactory factory);
  ~Host();

  // Binds every endpoint's transport and starts the machine. Errors (a port in use, a bad
  // address) are returned naming the endpoint and address, never thrown or crashed on; then
  // nothing stays bound and no machine runs (Stop is still fine to call).
  absl::Status Start();

  // A client request (from the HTTP API, the CLI, a test). `on_response` runs on the loop.
  using ResponseHandler = std::function<void(const Response&)>;
  uint64_t Request(std::string method, std::string body, ResponseHandler on_response);

  // Stops the machine, kills its processes and closes every handle; `on_stopped` runs when
  // libuv has released them (keep running the loop until then).
  void Stop(std::function<void()> on_stopped);

  Machine* machine() { return machine_.get(); }
  // An endpoint's transport, null for one not opened; transport() is kLan's.
  const Transport* transport(Endpoint e = Endpoint::kLan) const { return transports_[Index(e)].get(); }
  // What MachineContext::address was: kLan's advertised address (the node's name without one).
  const Address& address() const { return advertise_; }
  // An endpoint's advertised address, "" for one not opened (as MachineContext::endpoints).
  const Address& endpoint_address(Endpoint e) const { return endpoint_addresses_[Index(e)]; }
  // Messages a machine sent from an endpoint this host did not open: dropped.
  uint64_t messages_dropped_no_endpoint() const { return messages_dropped_no_endpoint_; }
  // Datagrams and streams that broke our framing, over all endpoints (each logged, at most
  // one line a second with the count since).
  uint64_t frames_malformed() const { return frames_malformed_; }
  absl::Status last_storage_error() const { return storage_error_; }

  // Group commit, for tests and benchmarks.
  struct SyncStats {
    uint64_t syncs = 0;        // syncs completed
    uint64_t sync_writes = 0;  // sync writes those syncs made durable
  };
  const SyncStats& sync_stats() const { return sync_stats_; }
  bool sync_in_flight() const { return sync_in_flight_; }
  // The last machine write found durable (what the latest WriteDurableInput carries).
  uint64_t durable_write_id() const { return durable_write_id_; }
  // Messages and responses waiting for a sync (bounded: kGatedEffectsMax, host.cc).
  size_t gated() const { return gated_messages_.size() + gated_responses_.size(); }
  // Messages dropped because the inbox held kInboxMessagesMax of them (the machine fell behind).
  uint64_t messages_dropped() const { return inbox_.messages_dropped(); }

 private:
  void Enqueue(InputEvent event);
  void MaybeStopped();
  void Pump();
  void Execute(Effects effects);
  void Send(const OutboundMessage& message);
  void Respond(const Response& response);
  void ArmTimer(Time when);
  static Time Now();
  static int Index(Endpoint e) { return static_cast<int>(e); }

  absl::Status OpenTransports();
  void CloseTransportsAfterFailedStart();

  // Group commit: start a sync when one is wanted and none runs; its end on the loop.
  void MaybeStartSync();
  void OnSyncDone();
  void Release();
  // Fail-stop on a storage error: nothing gated leaves, no input runs.
  void StopOnStorageError(absl::Status status, std::string_view what);

  // One sync on the worker thread. The worker touches only this: the store (thread-safe
  // for Sync by DurableStore's contract) and `result`, which the loop reads once libuv has
  // called OnSyncDone (uv_queue_work orders the two).
  struct SyncJob {
    uv_work_t request;
    DurableStore* store = nullptr;
    absl::Status result;
    uint64_t covers_write_id = 0;     // the last write applied when it started
    uint64_t covers_sync_writes = 0;  // how many sync writes it makes durable
  };

  uv_loop_t* loop_;
  Options options_;
  MachineFactory factory_;
  Address advertise_;
  std::unique_ptr<Machine> machine_;
  std::array<std::unique_ptr<Transport>, kEndpointCount> transports_;  // by Endpoint; null: not opened
  std::array<Address, kEndpointCount> endpoint_addresses_;              // advertised; "": not opened
  int transports_open_ = 0;  // opened and not yet released by Close
  uint64_t messages_dropped_no_endpoint_ = 0;
  void LogMalformed(Endpoint endpoint, const std::string& peer, const std::string& why);
  uint64_t frames_malformed_ = 0;
  LogThrottle malformed_log_;
  ProcessRunner processes_;
  uv_timer_t timer_;
  uv_idle_t pump_;  // runs queued inputs on the next loop turn
  Inbox inbox_;
  std::function<void()> on_stopped_;
  bool pumping_ = false;
  bool stopping_ = false;
  absl::btree_map<uint64_t, ResponseHandler> pending_requests_;
  uint64_t next_request_id_ = 1;
  absl::Status storage_error_;
  int handles_open_ = 0;

  SyncJob sync_job_;
  bool sync_in_flight_ = false;
  uint64_t last_write_id_ = 0;        // the last write applied (ids increase: rule 1)
  uint64_t durable_write_id_ = 0;     // the last write a completed sync covered
  uint64_t sync_writes_waiting_ = 0;  // sync writes applied that no sync has taken yet
  std::deque<OutboundMessage> gated_messages_;  // in issue order, waiting on after_write_id
  std::deque<Response> gated_responses_;
  SyncStats sync_stats_;
};

}  // namespace muster::io
