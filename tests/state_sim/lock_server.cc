#include "tests/state_sim/lock_server.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/base/check.h"

namespace muster::state_sim {

namespace pbs = ::muster::proto::state;

LockServer::LockServer(const MachineContext& ctx, LockServerOptions options)
    : options_(std::move(options)), rng_(ctx.seed ^ 0x5e55), bootstrap_(ctx.storage, options_.bootstrap) {
  options_.raft.id = ctx.id;
  options_.raft.address = ctx.address;
  raft_ = std::make_unique<raft::Raft>(options_.raft, ctx.storage, ctx.seed, ctx.now,
                                       Logger(ctx.log, absl::StrCat(ToString(ctx.id), ".raft")));
}

MachineFactory LockServerFactory(LockServerOptions options) {
  return [options](const MachineContext& ctx) { return std::make_unique<LockServer>(ctx, options); };
}

void LockServer::Step(const Input& input, Effects* out) {
  raft::Ready ready;
  const Time now = input.now;
  if (bootstrap_.Run(*raft_, now, &ready)) {
    Carry(now, ready, out);
    ready = raft::Ready();
  }
  const uint64_t term_before = raft_->term();
  const bool led_before = raft_->role() == raft::Role::kLeader;
  if (!raft_->HandleInput(input, &ready)) {
    if (const auto* r = std::get_if<RequestInput>(&input.what)) HandleRequest(now, *r, &ready, out);
  }
  Carry(now, ready, out);
  // A leader that lost its term will not apply its own pending entries with its term; the
  // ones that still commit (under the next leader) would be answered, but the client cannot
  // wait on a node that may never learn it: answer now, the client retries.
  if (led_before && (raft_->role() != raft::Role::kLeader || raft_->term() != term_before)) {
    FailAll("leadership lost", out);
  }
}

bool LockServer::MayPropose() const {
  // Stamp only once an entry of this leader's own term (its no-op) has been applied here:
  // by then every committed stamp has been observed, so the clock cannot start from a stale
  // or (after a restart) empty observation and jump to this server's wall clock.
  return raft_->role() == raft::Role::kLeader && term_applied_ == raft_->term();
}

Time LockServer::StampFor(Time now) {
  if (options_.unsafe_stamp_with_local_clock) return now;
  return clock_.Stamp(now, raft_->term());
}

void LockServer::HandleRequest(Time now, const RequestInput& r, raft::Ready* ready, Effects* out) {
  auto fail = [&](absl::Status s) { out->responses.push_back({r.request_id, std::move(s), "", 0}); };
  if (!MayPropose()) {
    fail(absl::UnavailableError("not the leader (or not yet settled)"));
    return;
  }
  const Time stamp = StampFor(now);
  std::vector<std::string> parts = absl::StrSplit(r.body, ' ');
  if (r.method == "register" && parts.size() == 1) {
    state::RegisterRequest reg;
    reg.node.name = parts[0];
    reg.node.address = "10.0.0.1";
    Propose(now, r.request_id, state::commands::Register(stamp, reg), ready, out);
  } else if (r.method == "session.create" && parts.size() == 2) {
    int64_t delay_ms = 0;
    if (!absl::SimpleAtoi(parts[1], &delay_ms)) return fail(absl::InvalidArgumentError("lock delay"));
    state::Session s;
    s.id = absl::StrFormat("%016x-%016x", rng_.Next(), rng_.Next());
    s.node = parts[0];
    s.lock_delay = absl::Milliseconds(delay_ms);
    Propose(now, r.request_id, state::commands::SessionCreate(stamp, s, /*default_node_checks=*/false), ready,
            out);
    if (!pending_.empty() && pending_.rbegin()->second.request_id == r.request_id) {
      pending_.rbegin()->second.session_id = s.id;
    }
  } else if (r.method == "session.destroy" && parts.size() == 1) {
    Propose(now, r.request_id, state::commands::SessionOp(stamp, pbs::SessionRequest::DESTROY, parts[0]),
            ready, out);
  } else if (r.method == "lock" && parts.size() == 2) {
    state::KVEntry e;
    e.key = parts[0];
    e.session = parts[1];
    Propose(now, r.request_id, state::commands::KV(stamp, pbs::KVRequest::LOCK, e), ready, out);
  } else {
    fail(absl::InvalidArgumentError(absl::StrCat("unknown request ", r.method, " '", r.body, "'")));
  }
}

void LockServer::Propose(Time now, uint64_t request_id, const pbs::Command& c, raft::Ready* ready,
                         Effects* out) {
  absl::StatusOr<uint64_t> index = raft_->Propose(now, c.SerializeAsString(), ready);
  if (!index.ok()) {
    out->responses.push_back({request_id, absl::UnavailableError(index.status().message()), "", 0});
    return;
  }
  MUSTER_CHECK(!pending_.contains(*index), "a pending entry's index was reused while leading");
  pending_[*index] = Pending{request_id, raft_->term(), ""};
}

void LockServer::FailAll(std::string_view why, Effects* out) {
  for (const auto& [index, p] : pending_) {
    out->responses.push_back({p.request_id, absl::UnavailableError(absl::string_view(why.data(), why.size())), "", 0});
  }
  pending_.clear();
}

void LockServer::Carry(Time now, raft::Ready& ready, Effects* out) {
  if (ready.restore.has_value()) {
    MUSTER_CHECK(fsm_.Restore(raft_->log().snapshot_data()).ok());
    clock_.Observe(fsm_.store().last_stamp(), now);
    FailAll("covered by a snapshot", out);
  }
  for (const raft::pb::Entry* entry : ready.committed) {
    const raft::pb::Entry& e = *entry;
    if (e.index() <= fsm_.store().last_index()) continue;
    term_applied_ = e.term();
    if (e.type() == raft::pb::ENTRY_NORMAL) {
      state::ApplyResult r = fsm_.Apply(e.index(), e.data());
      clock_.Observe(fsm_.store().last_stamp(), now);
      auto it = pending_.find(e.index());
      if (it != pending_.end()) {
        Response resp{it->second.request_id, absl::OkStatus(), "", 0};
        if (e.term() != it->second.term) {
          resp.status = absl::UnavailableError("entry was overwritten by another leader");
        } else if (!r.status.ok()) {
          resp.status = r.status;
        } else if (!it->second.session_id.empty()) {
          resp.body = it->second.session_id;
        } else {
          resp.body = r.ok ? "true" : "false";
        }
        out->responses.push_back(std::move(resp));
        pending_.erase(it);
      }
    }
  }
  // Entries proposed here but overwritten never reach apply at their index with our term.
  while (!pending_.empty() && pending_.begin()->first <= fsm_.store().last_index()) {
    out->responses.push_back({pending_.begin()->second.request_id,
                              absl::UnavailableError("entry was overwritten by another leader"), "", 0});
    pending_.erase(pending_.begin());
  }
  out->Append(std::move(ready.effects));
}

}  // namespace muster::state_sim
