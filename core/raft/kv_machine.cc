#include "core/raft/kv_machine.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/check.h"

namespace muster::raft {

KvMachine::KvMachine(const MachineContext& ctx, KvMachineOptions options)
    : options_(std::move(options)), bootstrap_(ctx.storage, options_.bootstrap) {
  options_.raft.id = ctx.id;
  options_.raft.address = ctx.address;
  if (!options_.raft.validate_snapshot) {
    options_.raft.validate_snapshot = [](const pb::SnapshotMeta& meta, std::string_view data) {
      return KvFsm::IsSnapshotAt(data, meta.index())
                 ? absl::OkStatus()
                 : absl::InvalidArgumentError("not a KvFsm snapshot at the meta's index");
    };
  }
  raft_ = std::make_unique<Raft>(options_.raft, ctx.storage, ctx.seed, ctx.now,
                                 Logger(ctx.log, absl::StrCat(ToString(ctx.id), ".raft")));
}

MachineFactory KvMachineFactory(KvMachineOptions options) {
  return [options](const MachineContext& ctx) { return std::make_unique<KvMachine>(ctx, options); };
}

KvMachine::Applied KvMachine::TakeApplied() {
  Applied out = std::move(applied_);
  applied_ = Applied();
  return out;
}

void KvMachine::Step(const Input& input, Effects* out) {
  Ready ready;
  const Time now = input.now;
  if (bootstrap_.Run(*raft_, now, &ready)) {
    Carry(now, ready, out);
    ready = Ready();
  }
  if (!raft_->HandleInput(input, &ready)) {
    if (const auto* r = std::get_if<RequestInput>(&input.what)) HandleRequest(now, *r, &ready, out);
  }
  Carry(now, ready, out);
  if (options_.snapshot_every > 0 && fsm_.applied() >= raft_->log().snapshot_index() + options_.snapshot_every) {
    Ready snap;
    MUSTER_CHECK(raft_->Compact(now, fsm_.applied(), fsm_.Snapshot(), &snap).ok());
    Carry(now, snap, out);
  }
}

Response KvMachine::Unavailable(uint64_t request_id, const absl::Status& s) const {
  Response resp;
  resp.request_id = request_id;
  resp.status = s;
  const NodeId leader = raft_->leader();
  for (const pb::Server& srv : raft_->configuration().servers()) {
    if (srv.id() == leader.value) resp.body = absl::StrCat("leader=", srv.address());
  }
  return resp;
}

void KvMachine::HandleRequest(Time now, const RequestInput& r, Ready* ready, Effects* out) {
  if (r.method == "put") {
    absl::StatusOr<uint64_t> index = raft_->Propose(now, r.body, ready);
    if (!index.ok()) {
      out->responses.push_back(Unavailable(r.request_id, index.status()));
      return;
    }
    if (auto old = puts_.find(*index); old != puts_.end()) {
      // Our earlier entry at this index was overwritten while we were not leading.
      out->responses.push_back({old->second.request_id,
                                absl::UnavailableError("entry was overwritten by another leader"), "", 0});
    }
    puts_[*index] = {r.request_id, raft_->term()};
  } else if (r.method == "get") {
    absl::Status s = raft_->ReadIndex(now, r.request_id, ready);
    if (!s.ok()) {
      out->responses.push_back(Unavailable(r.request_id, s));
      return;
    }
    gets_[r.request_id] = {r.request_id, r.body, 0, raft_->term()};
  } else if (r.method == "lease-get") {
    absl::StatusOr<uint64_t> index = raft_->LeaseRead(now);
    if (!index.ok()) {
      out->responses.push_back(Unavailable(r.request_id, index.status()));
      return;
    }
    gets_[r.request_id] = {r.request_id, r.body, std::max<uint64_t>(*index, 1), raft_->term()};
  } else if (r.method == "add-voter" || r.method == "add-nonvoter" || r.method == "promote" ||
             r.method == "remove" || r.method == "transfer") {
    std::vector<std::string> parts = absl::StrSplit(r.body, ' ');
    uint64_t id = 0;
    absl::Status s;
    if (parts.empty() || !absl::SimpleAtoi(parts[0], &id)) {
      s = absl::InvalidArgumentError("body: <id> [address]");
    } else if (r.method == "transfer") {
      s = raft_->TransferLeadership(now, NodeId{id}, ready);
    } else {
      ConfChange c = r.method == "add-voter" ? ConfChange::kAddVoter
                     : r.method == "add-nonvoter" ? ConfChange::kAddNonVoter
                     : r.method == "promote" ? ConfChange::kPromote
                                               : ConfChange::kRemove;
      s = raft_->ChangeMembership(now, c, NodeId{id}, parts.size() > 1 ? parts[1] : "", ready);
    }
    Response resp = s.ok() ? Response{r.request_id, absl::OkStatus(), "", 0} : Unavailable(r.request_id, s);
    out->responses.push_back(std::move(resp));
  } else {
    out->responses.push_back({r.request_id, absl::InvalidArgumentError("unknown method"), "", 0});
  }
}

void KvMachine::Carry(Time now, Ready& ready, Effects* out) {
  if (ready.restore.has_value()) {
    // Received snapshots passed validate_snapshot; our own disk's we trust as the log.
    MUSTER_CHECK(fsm_.Restore(raft_->log().snapshot_data()), "snapshot data does not parse");
    MUSTER_CHECK_EQ(fsm_.applied(), ready.restore->index(), "snapshot data and meta disagree");
    applied_.entries.clear();
    applied_.restored = *ready.restore;
    // Puts at or below the snapshot: whether our entry is in it (committed) or was
    // overwritten, the snapshot cannot tell. Erasing them left the clients waiting forever
    // (issue 10 item 4). Since puts are answered when leadership is lost (below) and only
    // a follower installs a snapshot, none should be left here; if one is, it still gets
    // its one answer.
    const auto covered_end = puts_.upper_bound(ready.restore->index());
    for (auto it = puts_.begin(); it != covered_end; ++it) {
      out->responses.push_back({it->second.request_id,
                                absl::UnavailableError("outcome unknown: the entry is covered by a snapshot"), "", 0});
    }
    puts_.erase(puts_.begin(), covered_end);
  }
  for (const pb::Entry* entry : ready.committed) {
    const pb::Entry& e = *entry;
    if (e.index() <= fsm_.applied()) continue;  // already in the restored snapshot
    fsm_.Apply(e);
    auto it = puts_.find(e.index());
    if (it != puts_.end()) {
      Response resp{it->second.request_id, absl::OkStatus(), absl::StrCat(e.index()), 0};
      if (e.term() != it->second.term) {
        resp.status = absl::UnavailableError("entry was overwritten by another leader");
        resp.body.clear();
      }
      out->responses.push_back(std::move(resp));
      puts_.erase(it);
    }
    applied_.entries.push_back(e);
  }
  // Entries proposed here but overwritten before commit never reach apply at this index
  // with our term: fail them once the applied index passes them.
  while (!puts_.empty() && puts_.begin()->first <= fsm_.applied()) {
    out->responses.push_back({puts_.begin()->second.request_id,
                              absl::UnavailableError("entry was overwritten by another leader"), "", 0});
    puts_.erase(puts_.begin());
  }
  for (const ReadState& rs : ready.reads) {
    auto it = gets_.find(rs.context);
    if (it != gets_.end()) it->second.index = std::max<uint64_t>(rs.index, 1);
  }
  // Losing leadership ends what this node can promise. Its uncommitted entries may still
  // commit under the next leader, or be overwritten, maybe only by a write that never comes
  // (sim seed 42: a deposed leader's entry past the new leader's log end); the host cannot
  // wait for that. So the puts of a term we no longer lead get UNAVAILABLE "leadership
  // lost", as hashicorp/raft fails in-flight applies with ErrLeadershipLost (Consul's
  // clients retry them). Raft also drops its pending ReadIndex rounds then (BecomeFollower,
  // BecomeLeader): those reads would wait forever.
  const bool leads = raft_->role() == Role::kLeader;
  for (auto it = puts_.begin(); it != puts_.end();) {
    if (!leads || raft_->term() != it->second.term) {
      out->responses.push_back(
          Unavailable(it->second.request_id, absl::UnavailableError("leadership lost: outcome unknown")));
      it = puts_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = gets_.begin(); it != gets_.end();) {
    if (it->second.index == 0 && (!leads || raft_->term() != it->second.term)) {
      out->responses.push_back(Unavailable(it->second.request_id, absl::UnavailableError("leadership lost")));
      it = gets_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = gets_.begin(); it != gets_.end();) {
    if (it->second.index != 0 && it->second.index <= fsm_.applied()) {
      auto kv = fsm_.kv().find(it->second.key);
      out->responses.push_back({it->second.request_id, absl::OkStatus(),
                                kv == fsm_.kv().end() ? "" : kv->second, 0});
      it = gets_.erase(it);
    } else {
      ++it;
    }
  }
  out->Append(std::move(ready.effects));
}

}  // namespace muster::raft
