#include "io/host.h"

#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/check.h"

namespace muster::io {
namespace {
// Inputs run per loop turn before the loop polls sockets again, so a busy machine cannot
// starve the network.
constexpr int kInputsPerTurnMax = 1024;
}  // namespace

Host::Host(uv_loop_t* loop, Options options, MachineFactory factory)
    : loop_(loop), options_(std::move(options)), factory_(std::move(factory)), processes_(loop) {
  MUSTER_CHECK(options_.store != nullptr, "a Host needs a DurableStore");
  advertise_ = options_.advertise.empty() ? options_.bind : options_.advertise;
  if (advertise_.empty()) advertise_ = ToString(options_.id);
}

Host::~Host() {
  MUSTER_CHECK(handles_open_ == 0 && transport_ == nullptr, "destroy a Host only after Stop() has finished");
}

Time Host::Now() { return absl::Now(); }  // io/ is the one place a clock is read

absl::Status Host::Start() {
  MUSTER_CHECK(options_.store != nullptr, "a Host needs a store");
  // MachineContext::incarnation: how many times this node was started before, counted in the
  // store under a key of the host's own (as the simulator counts restarts), so a machine can
  // tell one life from the next. Synced before the machine starts: a crash right after still
  // counts the start.
  uint64_t incarnation = 0;
  if (std::optional<std::string> v = options_.store->Get(kIncarnationKey)) {
    if (!absl::SimpleAtoi(*v, &incarnation)) {
      return absl::DataLossError(absl::StrCat("host: unreadable ", std::string(kIncarnationKey), " in the data dir: '", *v, "'"));
    }
  }
  StorageWrite count;
  count.sync = true;
  count.Put(std::string(kIncarnationKey), absl::StrCat(incarnation + 1));
  if (absl::Status s = options_.store->Apply(count); !s.ok()) return s;
  if (absl::Status s = options_.store->Sync(); !s.ok()) return s;

  if (!options_.bind.empty()) {
    Transport::Options topts;
    topts.bind = options_.bind;
    topts.advertise = advertise_;
    auto transport = Transport::Start(loop_, topts, [this](MessageInput m) { Enqueue(std::move(m)); });
    if (!transport.ok()) return transport.status();
    transport_ = std::move(*transport);
    transport_closed_ = false;
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
  ctx.seed = options_.seed != 0 ? options_.seed : (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  ctx.now = Now();
  ctx.log = options_.log;
  ctx.storage = options_.store;
  machine_ = factory_(ctx);
  MUSTER_CHECK(machine_ != nullptr, "factory returned no machine");
  Enqueue(TickInput{});
  return absl::OkStatus();
}

uint64_t Host::Request(std::string method, std::string body, ResponseHandler on_response) {
  const uint64_t id = next_request_id_++;
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
  if (stopping_) return;
  if (!inbox_.Push(std::move(event))) return;  // a message past kInboxMessagesMax: dropped
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&pump_))) {
    uv_idle_start(&pump_, [](uv_idle_t* idle) { static_cast<Host*>(idle->data)->Pump(); });
  }
}

void Host::Pump() {
  MUSTER_CHECK(!pumping_, "Pump is not re-entrant");
  pumping_ = true;
  for (int i = 0; i < kInputsPerTurnMax && !inbox_.empty() && !stopping_; ++i) {
    Input input{Now(), inbox_.Pop()};
    Effects effects;
    machine_->Step(input, &effects);
    Execute(std::move(effects));
  }
  pumping_ = false;
  if (inbox_.empty() || stopping_) uv_idle_stop(&pump_);
}

void Host::Execute(Effects effects) {
  for (const StorageWrite& write : effects.writes) {
    absl::Status status = options_.store->Apply(write);
    if (status.ok() && write.sync) status = options_.store->Sync();
    if (!status.ok()) {
      // Fail-stop: a write the machine believes durable is not, so nothing that depends on
      // it (or anything after it) may leave this process.
      storage_error_ = status;
      if (options_.log != nullptr) {
        options_.log->Write(Now(), LogLevel::kError, "agent.host",
                            absl::StrCat("storage write failed, stopping: ", status.ToString()));
      }
      stopping_ = true;
      return;
    }
    if (write.sync) inbox_.Push(WriteDurableInput{write.id});
  }
  for (const OutboundMessage& message : effects.messages) {
    if (transport_ != nullptr) transport_->Send(message);
  }
  for (const ProcessStart& process : effects.processes) {
    processes_.Start(process, [this](ProcessExitedInput result) {
      Enqueue(std::move(result));
      MaybeStopped();
    });
  }
  for (Response& response : effects.responses) {
    auto it = pending_requests_.find(response.request_id);
    if (it == pending_requests_.end()) continue;
    ResponseHandler handler = std::move(it->second);
    pending_requests_.erase(it);
    handler(response);
  }
  if (effects.wake_at.has_value()) ArmTimer(*effects.wake_at);
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
  for (auto& [id, handler] : pending_requests_) {
    handler(Response{id, absl::UnavailableError("agent is shutting down"), "", 0});
  }
  pending_requests_.clear();
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
  if (transport_ != nullptr) {
    transport_->Close([this] {
      transport_closed_ = true;
      MaybeStopped();
    });
  }
  MaybeStopped();
}

void Host::MaybeStopped() {
  if (!stopping_ || !on_stopped_ || handles_open_ > 0 || !transport_closed_ || processes_.running() > 0) return;
  transport_.reset();
  machine_.reset();
  auto done = std::move(on_stopped_);
  on_stopped_ = nullptr;
  done();
}

}  // namespace muster::io
