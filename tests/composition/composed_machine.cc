#include "tests/composition/composed_machine.h"

#include "absl/strings/match.h"
#include "core/base/check.h"

namespace muster::composition_test {

ComposedMachine::ComposedMachine(const MachineContext& ctx, const ComposedOptions& options) {
  MUSTER_CHECK_EQ(composition_.Add("raft"), 0u);
  MUSTER_CHECK_EQ(composition_.Add("serf"), 1u);
  MUSTER_CHECK_EQ(composition_.Add("chatter"), 2u);
  // Each component gets its own seed from the machine's, and the same storage view (each
  // owns a key prefix).
  MachineContext raft_ctx = ctx, serf_ctx = ctx, chatter_ctx = ctx;
  raft_ctx.seed = ctx.seed ^ 0x1;
  serf_ctx.seed = ctx.seed ^ 0x2;
  chatter_ctx.seed = ctx.seed ^ 0x3;
  raft_ = std::make_unique<raft::KvMachine>(raft_ctx, options.raft);
  serf_ = std::make_unique<gossip::SerfMachine>(serf_ctx, gossip::SerfConfig::Lan(ctx.address), options.serf_seeds);
  sim::ChatterConfig chatter = options.chatter;
  chatter.persist_before_send = true;
  chatter_ = std::make_unique<sim::ChatterMachine>(chatter_ctx, chatter);
}

Machine* ComposedMachine::Child(Composition::ComponentId c) {
  switch (c) {
    case 0: return raft_.get();
    case 1: return serf_.get();
    default: return chatter_.get();
  }
}

void ComposedMachine::StepChild(Composition::ComponentId c, const Input& input, Effects* out) {
  Effects batch;
  Child(c)->Step(input, &batch);
  for (OutboundMessage& m : batch.messages) m.payload.insert(m.payload.begin(), kTags[c]);
  composition_.Merge(c, std::move(batch), out);
}

void ComposedMachine::Step(const Input& input, Effects* out) {
  if (std::holds_alternative<TickInput>(input.what)) {
    // Every component runs what is due; one that has nothing due does nothing.
    for (Composition::ComponentId c = 0; c < kComponents; ++c) StepChild(c, input, out);
  } else if (const auto* m = std::get_if<MessageInput>(&input.what)) {
    if (m->payload.empty()) return;  // untrusted: no tag, nobody's message
    for (Composition::ComponentId c = 0; c < kComponents; ++c) {
      if (m->payload[0] != kTags[c]) continue;
      StepChild(c, Input{input.now, MessageInput{m->from, m->channel, m->payload.substr(1)}}, out);
      return;
    }
  } else if (const auto* w = std::get_if<WriteDurableInput>(&input.what)) {
    for (const Composition::Durable& d : composition_.OnDurable(w->write_id)) {
      StepChild(d.component, Input{input.now, WriteDurableInput{d.write_id}}, out);
    }
  } else if (const auto* p = std::get_if<ProcessExitedInput>(&input.what)) {
    if (auto starter = composition_.OnProcessExited(p->process_id)) {
      ProcessExitedInput own = *p;
      own.process_id = starter->process_id;
      StepChild(starter->component, Input{input.now, own}, out);
    }
  } else if (const auto* r = std::get_if<RequestInput>(&input.what)) {
    RequestInput own = *r;
    if (absl::StartsWith(r->method, "raft.")) {
      own.method = r->method.substr(5);
      StepChild(0, Input{input.now, own}, out);
    } else if (absl::StartsWith(r->method, "serf.")) {
      own.method = r->method.substr(5);
      StepChild(1, Input{input.now, own}, out);
    } else if (absl::StartsWith(r->method, "chatter.")) {
      own.method = r->method.substr(8);
      StepChild(2, Input{input.now, own}, out);
    } else {
      out->responses.push_back(Response{r->request_id, absl::InvalidArgumentError("unknown method " + r->method), "", 0});
    }
  }
}

MachineFactory ComposedMachine::Factory(ComposedOptions options) {
  return [options](const MachineContext& ctx) { return std::make_unique<ComposedMachine>(ctx, options); };
}

}  // namespace muster::composition_test
