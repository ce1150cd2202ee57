#include "tests/raft_sim/checker.h"

#include <algorithm>

#include "core/raft/log_matching.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/base/hash.h"
#include "core/raft/kv_fsm.h"
#include "core/raft/log.h"

namespace muster::raft_sim {

using raft::pb::Entry;

void Checker::OnStep(NodeId id, const Input& input, const Effects& effects, raft::KvMachine* m, Time now) {
  NodeRec& rec = nodes_[id.value];
  // Per-node invariants of the Raft object itself, after every step.
  if (m != nullptr) {
    const raft::Raft& r = m->raft();
    const raft::RaftInvariantState state = r.InvariantState();
    if (absl::Status s = r.CheckInvariants(); !s.ok()) Fail(now, std::string(s.message()));
    if (rec.life == &r) {
      if (absl::Status s = raft::Raft::CheckTransition(rec.last_state, state); !s.ok()) {
        Fail(now, absl::StrCat("n", id.value, ": ", s.message()));
      }
    }
    rec.life = &r;
    rec.last_state = state;
  }
  // Durable hard state: what the node wrote, once a sync covering it completed.
  if (const auto* w = std::get_if<WriteDurableInput>(&input.what)) {
    auto& p = rec.pending_hard;
    size_t k = 0;
    while (k < p.size() && p[k].first <= w->write_id) rec.durable = p[k++].second;
    p.erase(p.begin(), p.begin() + k);
  }
  for (const StorageWrite& w : effects.writes) {
    for (const StorageOp& op : w.ops) {
      if (op.kind == StorageOp::Kind::kPut && op.key == raft::kHardStateKey) {
        raft::pb::HardState hs;
        hs.ParseFromString(op.value);
        rec.pending_hard.push_back({w.id, hs});
      }
    }
  }
  // Votes that arrived: a voter must never have granted two candidates in one term.
  if (const auto* msg = std::get_if<MessageInput>(&input.what)) {
    raft::pb::Message pm;
    const bool parsed = pm.ParseFromString(msg->payload);
    // A grant names its candidate; a vote request names its sender, who voted for itself.
    uint64_t candidate = 0;
    if (parsed && pm.type() == raft::pb::MSG_VOTE_RESP && !pm.reject()) candidate = pm.to();
    if (parsed && pm.type() == raft::pb::MSG_VOTE) candidate = pm.from();
    if (candidate != 0) {
      auto [it, inserted] = grants_.try_emplace({pm.from(), pm.term()}, candidate);
      if (!inserted && it->second != candidate) {
        Fail(now, absl::StrCat("n", pm.from(), " voted for both n", it->second, " and n", candidate, " in term ",
                               pm.term()));
      }
    }
  }
  // The seam's rule 5: every request gets exactly one response.
  if (const auto* req = std::get_if<RequestInput>(&input.what)) {
    if (!requests_.try_emplace(req->request_id, Request{id.value, now, req->method}).second) {
      Fail(now, absl::StrCat("request ", req->request_id, " delivered twice"));
    }
  }
  for (const Response& r : effects.responses) {
    auto it = requests_.find(r.request_id);
    if (it == requests_.end()) {
      Fail(now, absl::StrCat(ToString(id), " answered request ", r.request_id,
                             answered_.count(r.request_id) > 0 ? " twice" : " that it never received"));
    } else if (it->second.node != id.value) {
      Fail(now, absl::StrCat(ToString(id), " answered request ", r.request_id, " sent to n", it->second.node));
    } else {
      requests_.erase(it);
      answered_.insert(r.request_id);
    }
  }
  step_is_message_ = std::holds_alternative<MessageInput>(input.what);
  if (m != nullptr) CheckState(id, m, now);
  step_is_message_ = false;
}

void Checker::CheckState(NodeId id, raft::KvMachine* m, Time now) {
  NodeRec& rec = nodes_[id.value];
  const raft::Raft& r = m->raft();
  const std::string who = ToString(id);
  if (rec.seen) {
    if (r.term() < rec.term) Fail(now, absl::StrCat(who, " term went back from ", rec.term, " to ", r.term()));
    if (r.term() == rec.term && rec.vote != 0 && r.vote().value != rec.vote) {
      Fail(now, absl::StrCat(who, " changed its vote in term ", r.term(), " from n", rec.vote, " to n", r.vote().value));
    }
    if (r.commit() < rec.commit) Fail(now, absl::StrCat(who, " commit went back from ", rec.commit, " to ", r.commit()));
  }
  rec.seen = true;
  rec.term = r.term();
  rec.vote = r.vote().value;
  rec.commit = r.commit();

  // Election safety and leader completeness.
  const bool leader = r.role() == raft::Role::kLeader;
  if (leader) {
    auto [it, inserted] = leaders_.try_emplace(r.term(), id.value);
    if (!inserted && it->second != id.value) {
      Fail(now, absl::StrCat("two leaders in term ", r.term(), ": n", it->second, " and ", who));
    }
    if (!rec.was_leader || rec.leader_term != r.term()) {
      const raft::RaftLog& log = r.log();
      for (uint64_t i = log.first_index(); i <= history_.size(); ++i) {
        // Only leaders of later terms than the one that committed an entry must hold it.
        if (r.term() <= history_[i - 1].commit_term) continue;
        if (i > log.last_index() || log.At(i).term() != history_[i - 1].term) {
          Fail(now, absl::StrCat("leader completeness: new leader ", who, " (term ", r.term(),
                                 ") lacks applied entry ", i, " of term ", history_[i - 1].term));
          break;
        }
      }
      if (log.snapshot_index() > history_.size()) {  // snapshots only cover applied entries
        Fail(now, absl::StrCat(who, " holds a snapshot beyond anything applied"));
      }
    }
  }
  rec.was_leader = leader;
  rec.leader_term = r.term();

  // One global applied history.
  raft::KvMachine::Applied applied = m->TakeApplied();
  if (applied.restored.has_value()) {
    const uint64_t s = applied.restored->index();
    // A restore inside a life, on a message, is a snapshot sent by a leader (a restart's
    // restore happens on the first tick).
    if (step_is_message_) snapshots_installed_++;
    if (s > history_.size()) {
      Fail(now, absl::StrCat(who, " restored a snapshot at ", s, " beyond the applied history ", history_.size()));
    } else if (s > 0 && history_[s - 1].chain != m->fsm().chain() && applied.entries.empty()) {
      Fail(now, absl::StrCat(who, " restored a snapshot at ", s, " whose state differs from the history"));
    }
  }
  for (const Entry& e : applied.entries) {
    const uint64_t h = StableHash(e.data(), e.type());
    if (e.index() <= history_.size()) {
      const Hist& hist = history_[e.index() - 1];
      if (hist.term != e.term() || hist.hash != h) {
        Fail(now, absl::StrCat(who, " applied ", e.term(), "/", e.index(), " '", e.data(), "' but index ", e.index(),
                               " was applied elsewhere as ", hist.term, "/", e.index(), " '", hist.data, "'"));
      }
    } else if (e.index() == history_.size() + 1) {
      const uint64_t prev = history_.empty() ? 0 : history_.back().chain;
      history_.push_back({e.term(), h, raft::ChainHash(prev, e), r.term(), e.data()});
      if (e.type() == raft::pb::ENTRY_NORMAL) index_of_.emplace(e.data(), e.index());
    } else {
      Fail(now, absl::StrCat(who, " applied index ", e.index(), " past the history's end ", history_.size()));
    }
  }
  if (applied.entries.size() > 0 && m->fsm().applied() <= history_.size() &&
      history_[m->fsm().applied() - 1].chain != m->fsm().chain()) {
    Fail(now, absl::StrCat(who, " state diverged from the history at index ", m->fsm().applied()));
  }
}

void Checker::CheckRequestsAnswered(const std::vector<NodeId>& nodes, Duration age_max, Time now) {
  for (const auto& [request_id, req] : requests_) {
    if (std::find(nodes.begin(), nodes.end(), NodeId{req.node}) == nodes.end()) continue;
    if (now - req.at <= age_max) continue;
    Fail(now, absl::StrCat("request ", request_id, " (", req.method, ") to n", req.node, " unanswered since t=",
                           absl::FormatDuration(req.at - SimEpoch())));
    return;
  }
}

void Checker::OnCrash(NodeId id) {
  // A crashed node answers nothing it was asked before (the host drops those requests).
  for (auto it = requests_.begin(); it != requests_.end();) {
    it = it->second.node == id.value ? requests_.erase(it) : std::next(it);
  }
  NodeRec& rec = nodes_[id.value];
  rec.pending_hard.clear();  // unsynced: lost
  rec.seen = false;          // the next life is compared with what was durable (OnRestart)
  rec.life = nullptr;        // a new Raft object may reuse the old one's address
  rec.was_leader = false;
}

void Checker::OnRestart(NodeId id, raft::KvMachine* m, Time now) {
  NodeRec& rec = nodes_[id.value];
  const raft::Raft& r = m->raft();
  const std::string who = ToString(id);
  const raft::pb::HardState& d = rec.durable;
  if (r.term() < d.term()) Fail(now, absl::StrCat(who, " restarted with term ", r.term(), " < durable ", d.term()));
  if (r.term() == d.term() && d.vote() != 0 && r.vote().value != d.vote()) {
    Fail(now, absl::StrCat(who, " restarted with vote n", r.vote().value, " but durably voted n", d.vote()));
  }
  if (r.commit() < d.commit()) Fail(now, absl::StrCat(who, " restarted with commit ", r.commit(), " < durable ", d.commit()));
  // Within the new life, compare against what it recovered.
  rec.term = r.term();
  rec.vote = r.vote().value;
  rec.commit = r.commit();
  rec.seen = true;
}

void Checker::OnAck(uint64_t index, const std::string& data, Time now) {
  if (index == 0 || index > history_.size()) {
    Fail(now, absl::StrCat("acknowledged put '", data, "' at ", index, " is not in the applied history"));
  } else if (history_[index - 1].data != data) {
    Fail(now, absl::StrCat("acknowledged put '", data, "' at ", index, " but the history has '",
                           history_[index - 1].data, "'"));
  }
}

void Checker::CheckLogMatching(const std::vector<std::pair<NodeId, const raft::KvMachine*>>& machines, Time now) {
  for (size_t a = 0; a < machines.size(); ++a) {
    for (size_t b = a + 1; b < machines.size(); ++b) {
      if (std::optional<std::string> why =
              raft::LogMatchingViolation(machines[a].second->raft().log(), machines[b].second->raft().log())) {
        Fail(now, absl::StrCat("log matching: ", ToString(machines[a].first), " and ", ToString(machines[b].first), " ",
                               *why));
        return;
      }
    }
  }
}

void Checker::CheckAcknowledgedHeld(const std::vector<std::pair<NodeId, const raft::KvMachine*>>& machines,
                                    Time now) {
  for (const auto& [leader_id, leader] : machines) {
    const raft::Raft& l = leader->raft();
    if (l.role() != raft::Role::kLeader) continue;
    for (const raft::PeerStatus& p : l.GetStatus().peers) {
      if (p.id == leader_id || p.match == 0) continue;
      for (const auto& [peer_id, peer] : machines) {
        if (peer_id != p.id) continue;
        const raft::Raft& f = peer->raft();
        // (Entries inside either snapshot are committed: the history checks them.)
        if (f.term() != l.term() || p.match <= f.log().snapshot_index() || p.match <= l.log().snapshot_index()) break;
        if (p.match > f.log().last_index() || f.log().Term(p.match) != l.log().Term(p.match)) {
          Fail(now, absl::StrCat(ToString(p.id), " acknowledged entry ", p.match, " to leader ", ToString(leader_id),
                                 " (term ", l.term(), ") but no longer holds it (last ", f.log().last_index(), ")"));
          return;
        }
        break;
      }
    }
  }
}

}  // namespace muster::raft_sim
