#include "tests/agent_sim/agent_checker.h"

#include <algorithm>

#include "core/raft/log_matching.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/base/hash.h"

namespace muster::agent_sim {

void AgentChecker::OnStep(NodeId id, const Input& input, const Effects& effects, agent::AgentMachine* m, Time now) {
  NodeRec& rec = nodes_[id.value];
  const std::string who = ToString(id);

  // The seam's rule 5: one answer per request, from the node asked.
  if (const auto* req = std::get_if<RequestInput>(&input.what)) {
    if (!requests_.try_emplace(req->request_id, Request{id.value, now, req->method}).second) {
      Fail(now, absl::StrCat("request ", req->request_id, " delivered twice"));
    }
  }
  for (const Response& r : effects.responses) {
    auto it = requests_.find(r.request_id);
    if (it == requests_.end()) {
      Fail(now, absl::StrCat(who, " answered request ", r.request_id,
                             answered_.contains(r.request_id) ? " twice" : " that it never received"));
    } else if (it->second.node != id.value) {
      Fail(now, absl::StrCat(who, " answered request ", r.request_id, " sent to n", it->second.node));
    } else {
      requests_.erase(it);
      answered_.insert(r.request_id);
      answers_++;
    }
  }
  if (m == nullptr || m->raft() == nullptr) return;
  const raft::Raft& r = *m->raft();

  // Raft's per-object invariants, and the change since this life's previous step.
  if (absl::Status s = r.CheckInvariants(); !s.ok()) Fail(now, absl::StrCat(who, ": ", s.message()));
  const raft::RaftInvariantState state = r.InvariantState();
  if (rec.life == &r) {
    if (absl::Status s = raft::Raft::CheckTransition(rec.last_state, state); !s.ok()) {
      Fail(now, absl::StrCat(who, ": ", s.message()));
    }
  }
  rec.life = &r;
  rec.last_state = state;

  // Election safety.
  if (r.role() == raft::Role::kLeader) {
    if (!first_leader_at_.has_value()) first_leader_at_ = now;
    auto [it, inserted] = leaders_.try_emplace(r.term(), id.value);
    if (!inserted && it->second != id.value) {
      Fail(now, absl::StrCat("two leaders in term ", r.term(), ": n", it->second, " and ", who));
    }
  }

  // One applied history across servers and lives.
  const uint64_t snapshot_index = r.log().snapshot_index();
  if (snapshot_index > rec.snapshot_index_seen) {
    rec.snapshot_index_seen = snapshot_index;
    // A snapshot (taken here or installed) only covers what was applied somewhere.
    if (!history_.empty() && snapshot_index > history_.rbegin()->first &&
        m->fsm().store().last_index() < snapshot_index) {
      Fail(now, absl::StrCat(who, " holds a snapshot at ", snapshot_index, " beyond anything applied"));
    }
  }
  std::set<uint64_t> applied_now;
  for (const raft::pb::Entry& e : m->TakeApplied()) {
    applied_now.insert(e.index());
    const uint64_t h = StableHash(e.data(), static_cast<uint64_t>(e.type()));
    // The entry's bytes are copied only by the first server to apply it.
    auto it = history_.find(e.index());
    if (it == history_.end()) {
      history_.emplace(e.index(), Hist{e.term(), h, e.type() == raft::pb::ENTRY_NORMAL ? e.data() : std::string()});
    } else if (it->second.term != e.term() || it->second.hash != h) {
      Fail(now, absl::StrCat(who, " applied ", e.term(), "/", e.index(), " but index ", e.index(),
                             " was applied elsewhere with term ", it->second.term,
                             it->second.term == e.term() ? " and other bytes" : ""));
    }
  }

  // State-hash agreement, keyed by the store's index (the last command applied).
  const state::Store& store = m->fsm().store();
  if (!rec.sampled || store.last_index() != rec.store_index_sampled) {
    if (rec.sampled && store.last_index() < rec.store_index_sampled) {
      Fail(now, absl::StrCat(who, "'s store went back from index ", rec.store_index_sampled, " to ",
                             store.last_index(), " within one life"));
    }
    // The store moved to an index this step applied no entry at: a snapshot was installed.
    // (One that starts a life, restored before the first step, counts as a recovery.)
    if (store.last_index() > 0 && !applied_now.contains(store.last_index())) {
      (rec.sampled ? snapshot_installs_ : snapshot_recoveries_)++;
    }
    rec.sampled = true;
    rec.store_index_sampled = store.last_index();
    // A hash costs a pass over the whole store: with a record interval, one is recorded
    // only that often per node, but a node reaching an index recorded elsewhere always
    // compares.
    auto recorded = hash_at_.find(store.last_index());
    const bool record = hash_record_interval_ == absl::ZeroDuration() || !rec.hash_recorded_at.has_value() ||
                        now - *rec.hash_recorded_at >= hash_record_interval_;
    if (store.last_index() > 0 && (recorded != hash_at_.end() || record)) {
      const uint64_t hash = m->fsm().ContentHash();
      if (recorded == hash_at_.end()) {
        hash_at_.emplace(store.last_index(), std::make_pair(hash, id.value));
        rec.hash_recorded_at = now;
      } else {
        hashes_compared_++;
        if (recorded->second.first != hash) {
          Fail(now, absl::StrCat("state hash: ", who, " and n", recorded->second.second, " differ at store index ",
                                 store.last_index()));
        }
      }
    }
  }
}

void AgentChecker::OnCrash(NodeId id) {
  for (auto it = requests_.begin(); it != requests_.end();) {
    it = it->second.node == id.value ? requests_.erase(it) : std::next(it);
  }
  log_matching_.Forget(id.value);
  NodeRec& rec = nodes_[id.value];
  rec.life = nullptr;
  rec.sampled = false;  // the next life's store starts from its snapshot
  rec.snapshot_index_seen = 0;
}

void AgentChecker::OnAcknowledgedPut(const std::string& key, const std::string& value, uint64_t index, Time now) {
  auto [it, inserted] = acked_.try_emplace(key, Acked{value, index});
  if (!inserted) Fail(now, absl::StrCat("key ", key, " acknowledged twice (the workload writes each key once)"));
  auto h = history_.find(index);
  if (index == 0 || h == history_.end()) {
    Fail(now, absl::StrCat("acknowledged put of ", key, " at index ", index, " was applied nowhere"));
  } else if (h->second.data.find(key) == std::string::npos || h->second.data.find(value) == std::string::npos) {
    // The command's bytes hold the key and the value (proto strings are stored as they are).
    Fail(now, absl::StrCat("acknowledged put of ", key, "=", value, " names index ", index,
                           ", where another command was applied"));
  }
}

void AgentChecker::CheckAcknowledgedPresent(
    const std::vector<std::pair<NodeId, const agent::AgentMachine*>>& servers, Time now) {
  for (const auto& [id, m] : servers) {
    const state::Store& store = m->fsm().store();
    for (const auto& [key, a] : acked_) {
      state::Indexed<std::optional<state::KVEntry>> got = store.KVGet(key);
      if (!got.value.has_value()) {
        Fail(now, absl::StrCat("acknowledged put of ", key, " (index ", a.index, ") is missing on ", ToString(id),
                               " (store at ", store.last_index(), ")"));
        return;
      }
      if (got.value->value != a.value) {
        Fail(now, absl::StrCat("acknowledged put of ", key, "=", a.value, " reads ", got.value->value, " on ",
                               ToString(id)));
        return;
      }
    }
  }
}

std::optional<std::string> LogMatchingTracker::Check(const std::vector<Server>& servers) {
  for (size_t i = 0; i < servers.size(); ++i) {
    for (size_t j = i + 1; j < servers.size(); ++j) {
      const Server& a = servers[i].node < servers[j].node ? servers[i] : servers[j];
      const Server& b = servers[i].node < servers[j].node ? servers[j] : servers[i];
      PairRec& rec = pairs_[{a.node, b.node}];
      if (rec.life_a != a.life || rec.life_b != b.life) rec = PairRec{a.life, b.life};
      const bool full = rec.checks++ % kLogMatchingFullPassEvery == 0;
      const uint64_t from = full ? 0 : rec.agreed_committed + 1;
      const uint64_t lo = std::max({a.log->first_index(), b.log->first_index(), from});
      const uint64_t hi = std::min(a.log->last_index(), b.log->last_index());
      if (hi >= lo) entries_compared_ += hi - lo + 1;
      if (std::optional<std::string> why = raft::LogMatchingViolation(*a.log, *b.log, from)) {
        return absl::StrCat("n", a.node, " and n", b.node, " ", *why);
      }
      // Up to the highest index both hold with one term, they agree; what both had committed
      // of it is not compared again until the next full pass.
      uint64_t top = hi;
      while (top >= lo && top > 0 && a.log->At(top).term() != b.log->At(top).term()) --top;
      rec.agreed_committed = std::max(rec.agreed_committed, std::min({top, a.commit, b.commit}));
    }
  }
  return std::nullopt;
}

void LogMatchingTracker::Forget(uint64_t node) {
  for (auto it = pairs_.begin(); it != pairs_.end();) {
    it = it->first.first == node || it->first.second == node ? pairs_.erase(it) : std::next(it);
  }
}

void AgentChecker::CheckLogMatching(const std::vector<std::pair<NodeId, const agent::AgentMachine*>>& servers,
                                    Time now) {
  std::vector<LogMatchingTracker::Server> logs;
  for (const auto& [id, m] : servers) logs.push_back({id.value, m->raft(), &m->raft()->log(), m->raft()->commit()});
  if (std::optional<std::string> why = log_matching_.Check(logs)) Fail(now, absl::StrCat("log matching: ", *why));
}

void AgentChecker::CheckRequestsAnswered(const std::vector<NodeId>& nodes, Duration age_max, Time now) {
  for (const auto& [request_id, req] : requests_) {
    if (std::find(nodes.begin(), nodes.end(), NodeId{req.node}) == nodes.end()) continue;
    if (now - req.at <= age_max) continue;
    Fail(now, absl::StrCat("request ", request_id, " (", req.method, ") to n", req.node, " unanswered since t=",
                           absl::FormatDuration(req.at - SimEpoch())));
    return;
  }
}

}  // namespace muster::agent_sim
