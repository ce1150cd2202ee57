#include "tests/agent_sim/workload_lock.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "proto/agent.pb.h"
#include "tests/agent_sim/agent_run.h"

namespace muster::agent_sim {

namespace pba = ::muster::proto::agent;

LockWorkload::LockWorkload(AgentRun& run) : run_(run) {
  run_.AddObserver([this](NodeId id, const Input&, const Effects&) { OnStep(id); });
}

void LockWorkload::Tick(int index) {
  Locker& l = lockers_[index];
  if (l.busy) return;
  if (!orphans_.empty() && run_.rng().Bernoulli(0.3)) {
    const std::string session = orphans_.back();
    orphans_.pop_back();
    return Destroy(index, session);
  }
  if (!l.session.empty() && !watched_.contains(l.session)) {
    // The servers invalidated it (its node was found failed, a partition maybe): start over.
    l.session.clear();
    l.held.clear();
  }
  if (l.session.empty()) return Create(index, l);
  if (run_.rng().Bernoulli(0.05)) {
    // The locker is done with its session: destroyed, its locks released with lock-delay.
    const std::string session = l.session;
    l.session.clear();
    l.held.clear();
    return Destroy(index, session);
  }
  const std::string key = absl::StrCat("l/", run_.rng().Uniform(kLockKeys));
  const double draw = run_.rng().UniformDouble();
  if (l.held.contains(key)) {
    return draw < 0.5 ? Release(index, l, key) : Read(index, l, key);
  }
  return draw < 0.7 ? Acquire(index, l, key) : Read(index, l, key);
}

void LockWorkload::Create(int index, Locker& l) {
  if (watched_.size() >= kLockSessionsWatchedMax) return;
  pba::Call call;
  call.set_json(absl::StrCat(R"({"Name": "sim-lock", "Node": ")", NodeName(index), R"(", "LockDelay": ")",
                             absl::ToInt64Seconds(kLockDelay), R"(s"})"));
  l.busy = true;
  const uint64_t life = l.life;
  run_.sim().Request(run_.node(index), "session.create", call.SerializeAsString(), [this, index, life](const Response& resp) {
    Locker& l = lockers_[index];
    if (l.life != life) return;
    l.busy = false;
    if (!resp.status.ok()) return;  // no node in the catalog yet, no leader: a later tick
    pba::Reply reply;
    reply.ParseFromString(resp.body);
    const nlohmann::json j = nlohmann::json::parse(reply.body(), nullptr, false);
    if (!j.is_object() || !j.contains("ID") || !j["ID"].is_string()) return;
    l.session = j["ID"].get<std::string>();
    watched_[l.session] = true;
    sessions_++;
  });
}

void LockWorkload::Destroy(int index, const std::string& session) {
  pba::Call call;
  call.set_key(session);
  destroys_++;
  // Its answer does not matter: the invalidation is seen in the servers' stores.
  run_.sim().Request(run_.node(index), "session.destroy", call.SerializeAsString(), [](const Response&) {});
}

void LockWorkload::Acquire(int index, Locker& l, const std::string& key) {
  pba::Call call;
  call.set_key(key);
  call.set_value(absl::StrCat("held-", next_value_++));
  call.set_acquire(l.session);
  l.busy = true;
  l.op = history_.InvokeAcquire(index, key, l.session, run_.sim().now());
  acquires_++;
  const uint64_t life = l.life;
  run_.sim().Request(run_.node(index), "kv.put", call.SerializeAsString(), [this, index, life, key](const Response& resp) {
    Locker& l = lockers_[index];
    if (l.life != life) return;
    l.busy = false;
    const sim::checkers::LockOpId op = *l.op;
    l.op.reset();
    if (!resp.status.ok()) return history_.Unknown(op);
    pba::Reply reply;
    reply.ParseFromString(resp.body);
    const bool ok = reply.body() == "true";
    history_.CompleteAcquire(op, run_.sim().now(), ok);
    if (!ok) return;
    acquired_++;
    // Held unless the session was meanwhile given up (destroyed by this locker).
    if (history_.ops()[op].session == l.session) l.held.insert(key);
  });
}

void LockWorkload::Release(int index, Locker& l, const std::string& key) {
  pba::Call call;
  call.set_key(key);
  call.set_value("released");
  call.set_release(l.session);
  l.busy = true;
  l.held.erase(key);  // no longer surely held from the call on, whatever the answer
  l.op = history_.InvokeRelease(index, key, l.session, run_.sim().now());
  releases_++;
  const uint64_t life = l.life;
  run_.sim().Request(run_.node(index), "kv.put", call.SerializeAsString(), [this, index, life](const Response& resp) {
    Locker& l = lockers_[index];
    if (l.life != life) return;
    l.busy = false;
    const sim::checkers::LockOpId op = *l.op;
    l.op.reset();
    if (!resp.status.ok()) return history_.Unknown(op);
    pba::Reply reply;
    reply.ParseFromString(resp.body);
    history_.CompleteRelease(op, run_.sim().now(), reply.body() == "true");
  });
}

void LockWorkload::Read(int index, Locker& l, const std::string& key) {
  pba::Call call;
  call.set_key(key);
  call.set_consistency("consistent");
  l.busy = true;
  l.op = history_.InvokeRead(index, key, run_.sim().now());
  reads_++;
  const uint64_t life = l.life;
  run_.sim().Request(run_.node(index), "kv.get", call.SerializeAsString(), [this, index, life, key](const Response& resp) {
    Locker& l = lockers_[index];
    if (l.life != life) return;
    l.busy = false;
    const sim::checkers::LockOpId op = *l.op;
    l.op.reset();
    if (resp.status.code() == absl::StatusCode::kNotFound) return history_.CompleteRead(op, run_.sim().now(), std::nullopt);
    if (!resp.status.ok()) return history_.Unknown(op);
    pba::Reply reply;
    reply.ParseFromString(resp.body);
    const nlohmann::json entries = nlohmann::json::parse(reply.body(), nullptr, false);
    if (!entries.is_array() || entries.size() != 1 || !entries[0].is_object()) {
      run_.checker().Fail(run_.sim().now(), absl::StrCat("lock workload: kv.get ", key, " through ", NodeName(index),
                                                         " answered an entry that does not parse: ", reply.body()));
      return history_.Unknown(op);
    }
    const std::string holder = entries[0].value("Session", "");
    history_.CompleteRead(op, run_.sim().now(), holder.empty() ? std::nullopt : std::optional<std::string>(holder));
  });
}

void LockWorkload::OnDown(int index) {
  Locker& l = lockers_[index];
  l.life++;
  if (l.op.has_value()) history_.Unknown(*l.op);
  l.op.reset();
  l.busy = false;
  if (!l.session.empty()) orphans_.push_back(l.session);
  l.session.clear();
  l.held.clear();
  if (run_.added(index)) {
    const uint64_t node = run_.node(index).value;
    held_on_.erase(node);  // a restart replays its log (or a wiped one starts empty)
    index_seen_.erase(node);
  }
}

void LockWorkload::OnStep(NodeId id) {
  if (watched_.empty() || judged_) return;
  auto* m = static_cast<agent::AgentMachine*>(run_.sim().machine(id));
  if (m == nullptr || m->raft() == nullptr) return;
  const state::Store& store = m->fsm().store();
  uint64_t& seen = index_seen_[id.value];
  if (store.last_index() == seen) return;
  seen = store.last_index();
  std::set<std::string>& held = held_on_[id.value];
  for (auto it = watched_.begin(); it != watched_.end();) {
    const bool present = store.SessionGet(it->first).value.has_value();
    if (present) {
      held.insert(it->first);
    } else if (held.contains(it->first)) {
      // The first server to apply its invalidation (destroy, or its node's serfHealth critical).
      history_.SessionInvalidated(it->first, run_.sim().now(), kLockDelay);
      invalidations_++;
      for (auto& [node, sessions] : held_on_) sessions.erase(it->first);
      it = watched_.erase(it);
      continue;
    }
    ++it;
  }
}

void LockWorkload::Judge() {
  judged_ = true;
  Duration offsets;
  for (int i : run_.indexes()) offsets += run_.sim().ClockOffset(run_.node(i));
  slack_ = kLockDelaySlack + offsets;
  sim::checkers::LockCheckOptions options;
  options.lock_delay_slack = slack_;
  result_ = sim::checkers::CheckLockSafety(history_, options);
  if (!result_.ok()) {
    run_.checker().Fail(run_.sim().now(), absl::StrCat("lock safety (lock_checker, lock-delay ", absl::FormatDuration(kLockDelay),
                                                       " less ", absl::FormatDuration(slack_), "): ", result_.Report()));
  }
}

std::string LockWorkload::Checked() const {
  return absl::StrCat("lock safety (never two holders, lock-delay ", absl::FormatDuration(kLockDelay), " less ",
                      absl::FormatDuration(slack_), "): ", sessions_, " sessions, ", acquired_, " of ", acquires_,
                      " acquires granted, ", releases_, " releases, ", reads_, " holder reads, ", destroys_,
                      " destroys, ", invalidations_, " invalidations seen; ",
                      judged_ ? (result_.ok() ? std::string("ok") : absl::StrCat(result_.violation_count, " violations"))
                              : std::string("not judged"));
}

}  // namespace muster::agent_sim
