#include "sim/chatter_machine.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/check.h"

namespace muster::sim {

ChatterMachine::ChatterMachine(const MachineContext& ctx, ChatterConfig config)
    : ctx_(ctx), config_(std::move(config)), rng_(ctx.seed), next_send_(ctx.now + config_.period) {
  if (ctx.storage != nullptr) {
    if (auto v = ctx.storage->Get("chatter/seq"); v.has_value()) {
      MUSTER_CHECK(absl::SimpleAtoi(*v, &recovered_seq_), "corrupt counter ", *v);
      seq_ = recovered_seq_;
    }
  }
}

void ChatterMachine::SendRound(Time now, Effects* out) {
  if (seq_ >= config_.messages_max) return;
  ++seq_;
  uint64_t after = 0;
  if (config_.persist_before_send) {
    StorageWrite w;
    w.id = next_write_id_++;
    w.sync = true;
    w.Put("chatter/seq", absl::StrCat(seq_));
    after = w.id;
    out->writes.push_back(std::move(w));
  }
  for (const Address& peer : config_.peers) {
    if (peer == ctx_.address) continue;
    out->messages.push_back({peer, config_.channel, absl::StrCat(seq_), after});
  }
  // A little jitter so rounds of different nodes interleave differently per seed.
  next_send_ = now + config_.period + rng_.UniformDuration(absl::ZeroDuration(), config_.period / 10);
}

void ChatterMachine::Step(const Input& input, Effects* out) {
  if (std::holds_alternative<TickInput>(input.what)) {
    if (input.now >= next_send_) SendRound(input.now, out);
  } else if (const auto* m = std::get_if<MessageInput>(&input.what)) {
    uint64_t seq = 0;
    MUSTER_CHECK(absl::SimpleAtoi(m->payload, &seq), "bad payload");
    received_.push_back({m->from, seq, input.now});
  } else if (const auto* w = std::get_if<WriteDurableInput>(&input.what)) {
    durable_acks_.push_back(w->write_id);
  } else if (const auto* r = std::get_if<RequestInput>(&input.what)) {
    ++requests_served_;
    if (r->method == "exec") {
      out->processes.push_back(ProcessStart{.id = r->request_id, .command = r->body, .timeout = absl::Seconds(1)});
    } else {
      out->responses.push_back({r->request_id, absl::OkStatus(), absl::StrCat("seq=", seq_)});
    }
  } else if (const auto* p = std::get_if<ProcessExitedInput>(&input.what)) {
    out->responses.push_back({p->process_id, absl::OkStatus(), absl::StrCat("exit=", p->exit_code, " ", p->output)});
  }
  if (seq_ < config_.messages_max) out->WakeAt(next_send_);
}

MachineFactory ChatterMachine::Factory(ChatterConfig config, std::vector<ChatterMachine*>* live) {
  return [config, live](const MachineContext& ctx) {
    auto machine = std::make_unique<ChatterMachine>(ctx, config);
    if (live != nullptr) {
      if (live->size() < ctx.id.value) live->resize(ctx.id.value, nullptr);
      (*live)[ctx.id.value - 1] = machine.get();
    }
    return machine;
  };
}

}  // namespace muster::sim
