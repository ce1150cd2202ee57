// The libuv host: drives one core Machine with real time, sockets, storage and processes,
// carrying out its Effects by the seam's rules (core/seam/effects.h). Inputs are queued and
// run one at a time from the loop, never re-entrantly from inside a Step.
//
// Durability: each StorageWrite is applied through the DurableStore before anything after
// it runs, so a message or response gated on a write always leaves after the write is
// durable. Sync is on the loop thread for now; group commit on a worker is a later change
// that the seam already allows (WriteDurableInput arrives asynchronously).
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <string_view>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
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
  struct Options {
    NodeId id{1};
    Address bind;       // host:port for the machine's transport; empty: no network
    Address advertise;  // defaults to bind
    uint64_t seed = 0;  // the machine's Rng seed; 0 draws one from the OS
    LogSink* log = nullptr;
    DurableStore* store = nullptr;  // required; outlives the Host
  };

  Host(uv_loop_t* loop, Options options, MachineFactory factory);
  ~Host();

  // Binds the transport and starts the machine. Errors (a port in use, a bad address) are
  // returned, never thrown or crashed on.
  absl::Status Start();

  // A client request (from the HTTP API, the CLI, a test). `on_response` runs on the loop.
  using ResponseHandler = std::function<void(const Response&)>;
  uint64_t Request(std::string method, std::string body, ResponseHandler on_response);

  // Stops the machine, kills its processes and closes every handle; `on_stopped` runs when
  // libuv has released them (keep running the loop until then).
  void Stop(std::function<void()> on_stopped);

  Machine* machine() { return machine_.get(); }
  const Transport* transport() const { return transport_.get(); }
  const Address& address() const { return advertise_; }
  absl::Status last_storage_error() const { return storage_error_; }
  // Messages dropped because the inbox held kInboxMessagesMax of them (the machine fell behind).
  uint64_t messages_dropped() const { return inbox_.messages_dropped(); }

 private:
  void Enqueue(InputEvent event);
  void MaybeStopped();
  void Pump();
  void Execute(Effects effects);
  void ArmTimer(Time when);
  static Time Now();

  uv_loop_t* loop_;
  Options options_;
  MachineFactory factory_;
  Address advertise_;
  std::unique_ptr<Machine> machine_;
  std::unique_ptr<Transport> transport_;
  ProcessRunner processes_;
  uv_timer_t timer_;
  uv_idle_t pump_;  // runs queued inputs on the next loop turn
  Inbox inbox_;
  std::function<void()> on_stopped_;
  bool transport_closed_ = true;
  bool pumping_ = false;
  bool stopping_ = false;
  absl::btree_map<uint64_t, ResponseHandler> pending_requests_;
  uint64_t next_request_id_ = 1;
  absl::Status storage_error_;
  int handles_open_ = 0;
};

}  // namespace muster::io
