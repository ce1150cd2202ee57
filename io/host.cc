#include "io/host.h"

#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/check.h"

namespace muster::io {
namespace {
// Inputs run per loop turn before the loop polls sockets again, so a busy machine cannot
// starve the network.
constexpr int kInputsPerTurnMax = 1024;
// Messages and responses waiting for a sync. Past this the host stops running inputs until
// a sync completes (a slow disk pushes back on the inbox, whose own bound then drops
// network messages and refuses requests), so a stalled disk cannot grow memory without end.
constexpr size_t kGatedEffectsMax = 65536;
}  // namespace

Host::EndpointAddresses Host::Options::endpoint(Endpoint e) const {
  switch (e) {
    case Endpoint::kLan:
      return {bind, advertise};
    case Endpoint::kRpc:
      return rpc;
    case Endpoint::kWan:
      return wan;
  }
  return {};
}

Host::Host(uv_loop_t* loop, Options options, MachineFactory factory)
    : loop_(loop), options_(std::move(options)), factory_(std::move(factory)), processes_(loop) {
  MUSTER_CHECK(options_.store != nullptr, "a Host needs a DurableStore");
  for (int i = 0; i < kEndpointCount; ++i) {
    const EndpointAddresses e = options_.endpoint(static_cast<Endpoint>(i));
    if (!e.bind.empty()) endpoint_addresses_[i] = e.advertise.empty() ? e.bind : e.advertise;
  }
  advertise_ = endpoint_addresses_[Index(Endpoint::kLan)];
  if (advertise_.empty()) advertise_ = ToString(options_.id);
}

Host::~Host() {
  MUSTER_CHECK(handles_open_ == 0 && transports_open_ == 0 && !sync_in_flight_,
               "destroy a Host only after Stop() has finished");
}

Time Host::Now() { return absl::Now(); }  // io/ is the one place a clock is read

absl::Status Host::Start() {
  MUSTER_CHECK(options_.store != nullptr, "a Host needs a store");
  // MachineContext::incarnation: how many times this node was started before, counted in the
  // store under a key of the host's own (as the simulator counts restarts), so a machine can
  // tell one life from the next. Synced before the machine starts (on the loop: nothing
  // else runs yet), so a crash right after still counts the start.
  // The endpoints are bound first, so a start that fails on a port in use is not counted.
  uint64_t incarnation = 0;
  absl::Status status = OpenTransports();
  if (status.ok()) {
    if (std::optional<std::string> v = options_.store->Get(kIncarnationKey)) {
      if (!absl::SimpleAtoi(*v, &incarnation)) {
        status = absl::DataLossError(
            absl::StrCat("host: unreadable ", std::string(kIncarnationKey), " in the data dir: '", *v, "'"));
      }
    }
  }
  if (status.ok()) {
    StorageWrite count;
    count.sync = true;
    count.Put(std::string(kIncarnationKey), absl::StrCat(incarnation + 1));
    status = options_.store->Apply(count);
    if (status.ok()) status = options_.store->Sync();
  }
  if (!status.ok()) {
    CloseTransportsAfterFailedStart();
    return status;
  }
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  uv_idle_init(loop_, &pump_);
  pump_.data = this;
  handles_open_ = 2;

  MachineContext ctx;
  ctx.id = options_.id;
  ctx.incarnation = incarnation;
  ctx.address = advertise_;
  ctx.endpoints = endpoint_addresses_;
  ctx.seed = options_.seed != 0 ? options_.seed : (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  ctx.now = Now();
  ctx.log = options_.log;
  ctx.storage = options_.store;
  machine_ = factory_(ctx);
  MUSTER_CHECK(machine_ != nullptr, "factory returned no machine");
  Enqueue(TickInput{});
  return absl::OkStatus();
}

void Host::LogMalformed(Endpoint endpoint, const std::string& peer, const std::string& why) {
  ++frames_malformed_;
  const Time now = Now();
  // Strangers' bytes: one line a second at most, so a flood cannot flood the log.
  std::string note;
  if (options_.log == nullptr || !malformed_log_.Allow(now, &note)) return;
  options_.log->Write(now, LogLevel::kWarn, "agent.host",
                      absl::StrCat("dropping ", why, " on the ", EndpointName(endpoint), " endpoint from ", peer, note));
}

absl::Status Host::OpenTransports() {
  for (int i = 0; i < kEndpointCount; ++i) {
    const Endpoint endpoint = static_cast<Endpoint>(i);
    const EndpointAddresses addresses = options_.endpoint(endpoint);
    if (addresses.bind.empty()) continue;
    Transport::Options topts;
    topts.bind = addresses.bind;
    topts.advertise = endpoint_addresses_[i];
    topts.queued_bytes_max_per_peer = options_.queued_bytes_max_per_peer;
    topts.on_malformed = [this, endpoint](const std::string& peer, const std::string& why) {
      LogMalformed(endpoint, peer, why);
    };
    topts.on_stream_broken = [this, endpoint](const Address& peer, bool unsent) {
      Enqueue(StreamBrokenInput{endpoint, peer, unsent});
    };
    auto transport = Transport::Start(loop_, topts, [this, endpoint](MessageInput m) {
      m.endpoint = endpoint;
      Enqueue(std::move(m));
    });
    if (!transport.ok()) {
      return absl::Status(transport.status().code(),
                          absl::StrCat("the ", EndpointName(endpoint), " endpoint (", addresses.bind,
                                       "): ", transport.status().message()));
    }
    transports_[i] = std::move(*transport);
    ++transports_open_;
  }
  return absl::OkStatus();
}

void Host::CloseTransportsAfterFailedStart() {
  // Their sockets close at once (the ports are free for a retry); libuv frees the handles on
  // a later turn of the loop, after this Host may be gone, so each transport owns itself.
  for (std::unique_ptr<Transport>& transport : transports_) {
    if (transport == nullptr) continue;
    Transport::CloseAndDelete(std::move(transport));
    --transports_open_;
  }
}

uint64_t Host::Request(std::string method, std::string body, ResponseHandler on_response) {
  const uint64_t id = next_request_id_++;
  if (!storage_error_.ok()) {
    on_response(Response{id, absl::UnavailableError(absl::StrCat("agent stopped on a storage error: ", storage_error_.message())), "", 0});
    return id;
  }
  if (stopping_) {
    on_response(Response{id, absl::UnavailableError("agent is shutting down"), "", 0});
    return id;
  }
  if (inbox_.full()) {
    on_response(Response{id, absl::UnavailableError("agent is overloaded; retry"), "", 0});
    return id;
  }
  pending_requests_[id] = std::move(on_response);
  Enqueue(RequestInput{id, std::move(method), std::move(body)});
  return id;
}

void Host::Enqueue(InputEvent event) {
  if (stopping_ || machine_ == nullptr) return;  // not started (or a failed Start)
  if (!inbox_.Push(std::move(event))) return;  // a message past kInboxMessagesMax: dropped
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&pump_))) {
    uv_idle_start(&pump_, [](uv_idle_t* idle) { static_cast<Host*>(idle->data)->Pump(); });
  }
}

void Host::Pump() {
  MUSTER_CHECK(!pumping_, "Pump is not re-entrant");
  pumping_ = true;
  for (int i = 0; i < kInputsPerTurnMax && !inbox_.empty() && !stopping_ && gated() < kGatedEffectsMax; ++i) {
    Input input{Now(), inbox_.Pop()};
    Effects effects;
    machine_->Step(input, &effects);
    Execute(std::move(effects));
  }
  pumping_ = false;
  // Paused on a full gate, the pump restarts when a sync completes (OnSyncDone enqueues).
  if (inbox_.empty() || stopping_ || gated() >= kGatedEffectsMax) uv_idle_stop(&pump_);
}

void Host::Execute(Effects effects) {
  for (const StorageWrite& write : effects.writes) {
    MUSTER_CHECK_LT(last_write_id_, write.id, "write ids must increase (core/seam/effects.h rule 1)");
    if (absl::Status status = options_.store->Apply(write); !status.ok()) {
      StopOnStorageError(std::move(status), "storage write failed");
      return;
    }
    last_write_id_ = write.id;
    if (write.sync) ++sync_writes_waiting_;
  }
  for (OutboundMessage& message : effects.messages) {
    MUSTER_CHECK_LE(message.after_write_id, last_write_id_, "a message gated on a write never issued");
    if (message.after_write_id > durable_write_id_ || !gated_messages_.empty()) {
      gated_messages_.push_back(std::move(message));
    } else {
      Send(message);
    }
  }
  for (const ProcessStart& process : effects.processes) {
    processes_.Start(process, [this](ProcessExitedInput result) {
      Enqueue(std::move(result));
      MaybeStopped();
    });
  }
  for (Response& response : effects.responses) {
    MUSTER_CHECK_LE(response.after_write_id, last_write_id_, "a response gated on a write never issued");
    if (response.after_write_id > durable_write_id_ || !gated_responses_.empty()) {
      gated_responses_.push_back(std::move(response));
    } else {
      Respond(response);  // may run a client's handler, which may call Stop()
    }
  }
  if (effects.wake_at.has_value() && !stopping_) ArmTimer(*effects.wake_at);
  MaybeStartSync();
}

void Host::Send(const OutboundMessage& message) {
  MUSTER_CHECK_LT(Index(message.endpoint), kEndpointCount, "no such endpoint");
  Transport* transport = transports_[Index(message.endpoint)].get();
  if (transport == nullptr) {
    // A machine's mistake, or a host run without network as tests do: said once, counted always.
    if (messages_dropped_no_endpoint_++ == 0 && options_.log != nullptr) {
      options_.log->Write(Now(), LogLevel::kWarn, "agent.host",
                          absl::StrCat("dropping messages sent from the ", EndpointName(message.endpoint),
                                       " endpoint, which this agent did not open (to ", message.to, ")"));
    }
    return;
  }
  transport->Send(message);
}

void Host::Respond(const Response& response) {
  auto it = pending_requests_.find(response.request_id);
  if (it == pending_requests_.end()) return;
  ResponseHandler handler = std::move(it->second);
  pending_requests_.erase(it);
  handler(response);
}

void Host::MaybeStartSync() {
  if (sync_in_flight_ || stopping_) return;
  if (sync_writes_waiting_ == 0 && gated() == 0) return;
  // Something gated waits on a write no sync has covered yet (the front of each queue is
  // blocked after every Release), so there is a write to cover.
  MUSTER_CHECK_LT(durable_write_id_, last_write_id_, "a sync wanted with nothing to cover");
  sync_in_flight_ = true;
  sync_job_.request.data = this;
  sync_job_.store = options_.store;
  sync_job_.result = absl::OkStatus();
  sync_job_.covers_write_id = last_write_id_;
  sync_job_.covers_sync_writes = std::exchange(sync_writes_waiting_, 0);
  const int rc = uv_queue_work(
      loop_, &sync_job_.request,
      [](uv_work_t* request) {
        // The worker thread: touches only the job (see SyncJob).
        SyncJob& job = static_cast<Host*>(request->data)->sync_job_;
        job.result = job.store->Sync();
      },
      [](uv_work_t* request, int) { static_cast<Host*>(request->data)->OnSyncDone(); });
  MUSTER_CHECK_EQ(rc, 0, "uv_queue_work: ", uv_strerror(rc));
}

void Host::OnSyncDone() {
  sync_in_flight_ = false;
  if (stopping_) {  // Stop() or an earlier storage error: nothing leaves any more
    MaybeStopped();
    return;
  }
  if (!sync_job_.result.ok()) {
    StopOnStorageError(std::move(sync_job_.result), "storage sync failed");
    return;
  }
  durable_write_id_ = sync_job_.covers_write_id;
  ++sync_stats_.syncs;
  sync_stats_.sync_writes += sync_job_.covers_sync_writes;
  Enqueue(WriteDurableInput{durable_write_id_});  // also restarts a pump paused on the gate
  Release();
  MaybeStartSync();
}

void Host::Release() {
  // Each send or answer may run client code that stops the host: re-check every time, and
  // never hold a reference into a queue across one.
  while (!stopping_ && !gated_messages_.empty() && gated_messages_.front().after_write_id <= durable_write_id_) {
    OutboundMessage message = std::move(gated_messages_.front());
    gated_messages_.pop_front();
    Send(message);
  }
  while (!stopping_ && !gated_responses_.empty() && gated_responses_.front().after_write_id <= durable_write_id_) {
    Response response = std::move(gated_responses_.front());
    gated_responses_.pop_front();
    Respond(response);
  }
}

void Host::StopOnStorageError(absl::Status status, std::string_view what) {
  // Fail-stop: a write the machine believes durable may not be, so nothing that depends on
  // it (or anything after it) may leave this process, and the machine takes no more input.
  storage_error_ = std::move(status);
  if (options_.log != nullptr) {
    options_.log->Write(Now(), LogLevel::kError, "agent.host",
                        absl::StrCat(std::string(what), ", stopping: ", storage_error_.ToString()));
  }
  stopping_ = true;
  gated_messages_.clear();
  gated_responses_.clear();
  inbox_.clear();
  MaybeStopped();
}

void Host::ArmTimer(Time when) {
  const Duration delay = when - Now();
  // Round up: waking a millisecond late is allowed, waking early is not (seam rule 4).
  const uint64_t delay_ms = delay <= absl::ZeroDuration()
                                ? 0
                                : static_cast<uint64_t>(absl::ToInt64Microseconds(delay) + 999) / 1000;
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<Host*>(t->data)->Enqueue(TickInput{}); }, delay_ms, 0);
}

void Host::Stop(std::function<void()> on_stopped) {
  stopping_ = true;
  on_stopped_ = std::move(on_stopped);
  inbox_.clear();
  gated_messages_.clear();
  gated_responses_.clear();
  // Handlers may call back into the host (Request answers at once while stopping).
  absl::btree_map<uint64_t, ResponseHandler> pending = std::move(pending_requests_);
  pending_requests_.clear();
  for (auto& [id, handler] : pending) {
    handler(Response{id, absl::UnavailableError("agent is shutting down"), "", 0});
  }
  processes_.KillAll();
  if (handles_open_ > 0) {
    auto on_closed = [](uv_handle_t* h) {
      auto* self = static_cast<Host*>(h->data);
      --self->handles_open_;
      self->MaybeStopped();
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&pump_), on_closed);
  }
  for (std::unique_ptr<Transport>& transport : transports_) {
    if (transport == nullptr) continue;
    transport->Close([this] {
      --transports_open_;
      MaybeStopped();
    });
  }
  MaybeStopped();
}

void Host::MaybeStopped() {
  if (!stopping_ || !on_stopped_ || handles_open_ > 0 || transports_open_ > 0 || processes_.running() > 0 ||
      sync_in_flight_) {
    return;
  }
  for (std::unique_ptr<Transport>& transport : transports_) transport.reset();
  machine_.reset();
  auto done = std::move(on_stopped_);
  on_stopped_ = nullptr;
  done();
}

}  // namespace muster::io
