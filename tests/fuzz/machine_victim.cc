#include "tests/fuzz/machine_victim.h"

#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "core/seam/channel.h"

namespace muster::fuzz {
namespace {

// One input may legitimately answer with a push-pull of the whole member table or a batch
// of raft entries, but never with more than this: more means a length taken from the input.
constexpr uint64_t kEffectBytesPerInputMax = 8 << 20;

}  // namespace

MachineVictim::MachineVictim(MachineFactory factory, Address address, uint64_t seed,
                             std::function<void(Machine&)> after_step)
    : after_step_(std::move(after_step)), now_(SimEpoch()) {
  MachineContext ctx;
  ctx.id = NodeId{1};
  ctx.address = std::move(address);
  ctx.seed = seed;
  ctx.now = now_;
  ctx.storage = &store_;
  machine_ = factory(ctx);
  Run(TickInput{});
}

void MachineVictim::Deliver(const Address& from, Channel channel, std::string payload) {
  // 1-20 ms between inputs; timers fire on the way.
  now_ += absl::Milliseconds(1 + static_cast<int64_t>(step_++ % 20));
  if (wake_at_.has_value() && *wake_at_ <= now_) {
    wake_at_.reset();
    Run(TickInput{});
  }
  Effects fx;
  machine_->Step(Input{now_, MessageInput{from, channel, std::move(payload)}}, &fx);
  if (after_step_) after_step_(*machine_);
  if (!fx.messages.empty()) ++inputs_answered_;
  Carry(fx, 0);
}

void MachineVictim::Run(InputEvent what) {
  Effects fx;
  machine_->Step(Input{now_, std::move(what)}, &fx);
  if (after_step_) after_step_(*machine_);
  Carry(fx, 0);
}

void MachineVictim::Carry(Effects& fx, int depth) {
  uint64_t bytes = 0;
  for (const OutboundMessage& m : fx.messages) {
    bytes += m.payload.size();
    if (m.channel == Channel::kDatagram) {
      MUSTER_CHECK_LE(m.payload.size(), kDatagramPayloadBytesMax, "oversized datagram to ", m.to);
    }
  }
  uint64_t last_sync = 0;
  for (const StorageWrite& w : fx.writes) {
    for (const StorageOp& op : w.ops) bytes += op.key.size() + op.value.size();
    MUSTER_CHECK(store_.Apply(w).ok());
    if (w.sync) last_sync = w.id;
  }
  effect_bytes_max_ = std::max(effect_bytes_max_, bytes);
  MUSTER_CHECK_LE(bytes, kEffectBytesPerInputMax, "one input produced this many bytes of effects");
  if (fx.wake_at.has_value()) wake_at_ = fx.wake_at;
  // Durability comes back at once; a bounded depth, as a host's loop would interleave it.
  if (last_sync != 0 && depth < 4) {
    Effects more;
    machine_->Step(Input{now_, WriteDurableInput{last_sync}}, &more);
    if (after_step_) after_step_(*machine_);
    Carry(more, depth + 1);
  }
}

}  // namespace muster::fuzz
