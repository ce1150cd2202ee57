#include "sim/effect_executor.h"

#include <algorithm>

#include "core/base/check.h"
#include "core/seam/channel.h"

namespace muster::sim {

void EffectExecutor::Execute(Effects effects) {
  for (StorageWrite& write : effects.writes) {
    MUSTER_CHECK_LT(last_write_id_, write.id, ToString(node_), ": write ids must increase (core/seam/effects.h rule 1)");
    last_write_id_ = write.id;
    disk_.Apply(write);
    if (!write.sync) continue;
    last_sync_id_ = write.id;
    if (sinks_.sync) sinks_.sync(write.id);
  }
  for (OutboundMessage& message : effects.messages) {
    MUSTER_CHECK(message.channel != Channel::kDatagram || message.payload.size() <= kDatagramPayloadBytesMax,
                 "oversized datagram from ", ToString(node_), ": ", message.payload.size(), " bytes > ",
                 kDatagramPayloadBytesMax, " (core/seam/channel.h)");
    if (message.after_write_id > durable_through_ || !gated_messages_.empty()) {
      gated_messages_.push_back(std::move(message));
    } else if (sinks_.send) {
      sinks_.send(std::move(message));
    }
  }
  for (const ProcessStart& process : effects.processes) {
    if (sinks_.start_process) sinks_.start_process(process);
  }
  for (Response& response : effects.responses) {
    if (response.after_write_id > durable_through_ || !gated_responses_.empty()) {
      gated_responses_.push_back(std::move(response));
    } else if (sinks_.respond) {
      sinks_.respond(std::move(response));
    }
  }
  if (effects.wake_at.has_value()) wake_at_ = effects.wake_at;
}

void EffectExecutor::Synced(uint64_t write_id) {
  disk_.SyncThrough(write_id);
  durable_through_ = std::max(durable_through_, write_id);
  Release();
}

uint64_t EffectExecutor::SyncAll() {
  disk_.SyncThrough(last_write_id_);
  durable_through_ = std::max(durable_through_, last_write_id_);
  Release();
  return last_sync_id_ > 0 && last_sync_id_ <= durable_through_ ? std::exchange(last_sync_id_, 0) : 0;
}

void EffectExecutor::Release() {
  while (!gated_messages_.empty() && gated_messages_.front().after_write_id <= durable_through_) {
    OutboundMessage message = std::move(gated_messages_.front());
    gated_messages_.pop_front();
    if (sinks_.send) sinks_.send(std::move(message));
  }
  while (!gated_responses_.empty() && gated_responses_.front().after_write_id <= durable_through_) {
    Response response = std::move(gated_responses_.front());
    gated_responses_.pop_front();
    if (sinks_.respond) sinks_.respond(std::move(response));
  }
}

void EffectExecutor::Crash(Rng& rng, bool torn) {
  disk_.Crash(rng, torn);
  gated_messages_.clear();
  gated_responses_.clear();
  wake_at_.reset();
  last_write_id_ = 0;
  last_sync_id_ = 0;
  durable_through_ = 0;
}

void EffectExecutor::Wipe() { disk_.Wipe(); }

}  // namespace muster::sim
