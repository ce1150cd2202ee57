// Randomized differential test: thousands of random KV, lock, session, health and
// transaction commands go through the FSM (as serialized log entries) and through a small,
// obviously-correct reference model written straight from Consul's documented rules. After
// every command the results, every key (all fields) and the prefix and table indexes must
// agree. Every so often the store is replaced by restore(snapshot(store)).
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "absl/strings/str_join.h"
#include "core/base/rng.h"
#include "core/state/fsm.h"
#include "core/state/test_util.h"

namespace muster::state {
namespace {

using proto::state::KVRequest;
using proto::state::SessionRequest;
using testing::KV;
using testing::MakeCheck;
using testing::MakeSession;
using testing::NodeReq;
using testing::T;

const std::vector<std::string> kKeys = {"a", "a/b", "a/c", "ab", "b", "b/a/x", "c"};
const std::vector<std::string> kPrefixes = {"", "a", "a/", "b", "b/a/", "c", "d"};

// ---- the reference model: plain maps, one function per documented rule.
struct Model {
  struct Sess {
    SessionBehavior behavior;
    Duration lock_delay;
    bool uses_serf;
    Duration ttl;
    Time deadline;  // docs: the TTL is a minimum; the session goes at 2x TTL without renewal
  };
  std::map<std::string, KVEntry> kv;
  std::map<std::string, uint64_t> deleted_at;  // every delete ever, never forgotten
  std::map<std::string, Sess> sessions;
  std::map<std::string, Time> delay_until;
  bool serf_critical = false;
  uint64_t kv_index = 0;

  void Put(uint64_t idx, KVEntry e) {
    e.modify_index = idx;
    kv[e.key] = e;
    kv_index = idx;
  }
  void Del(uint64_t idx, const std::string& k) {
    if (kv.erase(k) == 0) return;
    deleted_at[k] = idx;
    kv_index = idx;
  }
  bool Set(uint64_t idx, KVEntry e) {
    auto it = kv.find(e.key);
    e.create_index = it == kv.end() ? idx : it->second.create_index;
    e.lock_index = it == kv.end() ? 0 : it->second.lock_index;
    e.session = it == kv.end() ? "" : it->second.session;
    Put(idx, e);
    return true;
  }
  bool Cas(uint64_t idx, KVEntry e, uint64_t cas) {
    auto it = kv.find(e.key);
    if (cas == 0 ? it != kv.end() : (it == kv.end() || it->second.modify_index != cas)) return false;
    return Set(idx, e);
  }
  bool DeleteCas(uint64_t idx, const std::string& k, uint64_t cas) {
    auto it = kv.find(k);
    if (it == kv.end()) return true;
    if (it->second.modify_index != cas) return false;
    Del(idx, k);
    return true;
  }
  void DeleteTree(uint64_t idx, const std::string& prefix) {
    std::vector<std::string> doomed;
    for (const auto& [k, e] : kv) {
      if (k.compare(0, prefix.size(), prefix) == 0) doomed.push_back(k);
    }
    for (const auto& k : doomed) Del(idx, k);
  }
  // nullopt: an error (unknown session).
  std::optional<bool> Lock(uint64_t idx, Time now, KVEntry e) {
    if (!sessions.contains(e.session)) return std::nullopt;
    if (delay_until.contains(e.key) && now < delay_until[e.key]) return false;
    auto it = kv.find(e.key);
    if (it == kv.end()) {
      e.create_index = idx;
      e.lock_index = 1;
    } else if (it->second.session == e.session) {
      e.create_index = it->second.create_index;
      e.lock_index = it->second.lock_index;
    } else if (!it->second.session.empty()) {
      return false;
    } else {
      e.create_index = it->second.create_index;
      e.lock_index = it->second.lock_index + 1;
    }
    Put(idx, e);
    return true;
  }
  bool Unlock(uint64_t idx, KVEntry e) {
    auto it = kv.find(e.key);
    if (it == kv.end() || it->second.session.empty() || it->second.session != e.session) return false;
    e.create_index = it->second.create_index;
    e.lock_index = it->second.lock_index;
    e.session = "";
    Put(idx, e);
    return true;
  }
  void Invalidate(uint64_t idx, Time now, const std::string& id) {
    auto s = sessions.find(id);
    if (s == sessions.end()) return;
    Sess sess = s->second;
    sessions.erase(s);
    std::vector<std::string> held;
    for (const auto& [k, e] : kv) {
      if (e.session == id) held.push_back(k);
    }
    for (const std::string& k : held) {
      if (sess.behavior == SessionBehavior::kRelease) {
        KVEntry e = kv[k];
        e.session = "";
        Put(idx, e);
      } else {
        Del(idx, k);
      }
      if (sess.lock_delay > absl::ZeroDuration()) delay_until[k] = now + sess.lock_delay;
    }
  }
  uint64_t PrefixIndex(const std::string& prefix) const {
    uint64_t m = 0;
    for (const auto& [k, e] : kv) {
      if (k.compare(0, prefix.size(), prefix) == 0) m = std::max(m, e.modify_index);
    }
    for (const auto& [k, i] : deleted_at) {
      if (k.compare(0, prefix.size(), prefix) == 0) m = std::max(m, i);
    }
    return m;
  }
};

class Harness {
 public:
  explicit Harness(uint64_t seed) : rng_(seed), fsm_(std::make_unique<Fsm>()) {}

  void Run(int steps) {
    Submit(commands::Register(now_, ServeReq(HealthStatus::kPassing)));
    for (int step = 0; step < steps; ++step) {
      now_ += absl::Milliseconds(rng_.Uniform(3000));
      Step();
      CompareAll();
      if (::testing::Test::HasFatalFailure() || ::testing::Test::HasNonfatalFailure()) {
        FAIL() << "diverged at step " << step << " (index " << index_ << ")";
      }
      if (step % 500 == 499) RoundTrip();
    }
  }

  struct Stats {
    int expired = 0, locked = 0, lock_delayed = 0, txn_ok = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  RegisterRequest ServeReq(HealthStatus serf) {
    RegisterRequest r = NodeReq("n1");
    r.checks.push_back(MakeCheck(std::string(kSerfCheckId), serf));
    return r;
  }
  std::string Pick(const std::vector<std::string>& v) { return v[rng_.Uniform(v.size())]; }
  std::string PickSession() {
    // Mostly a live one, sometimes a dead or unknown one.
    if (!model_.sessions.empty() && rng_.Bernoulli(0.8)) {
      auto it = model_.sessions.begin();
      std::advance(it, rng_.Uniform(model_.sessions.size()));
      return it->first;
    }
    return absl::StrCat("s", rng_.Uniform(next_session_ + 1));
  }
  uint64_t PickIndex(const std::string& key) {
    switch (rng_.Uniform(3)) {
      case 0: return 0;
      case 1: return model_.kv.contains(key) ? model_.kv[key].modify_index : 1;
      default: return rng_.Uniform(index_ + 2);
    }
  }
  KVEntry RandomEntry(const std::string& key, std::string session = "") {
    return KV(key, absl::StrCat("v", rng_.Uniform(5)), std::move(session), rng_.Uniform(3));
  }

  ApplyResult Submit(const proto::state::Command& c) {
    ++index_;
    ApplyResult r = fsm_->Apply(index_, c.SerializeAsString());
    EXPECT_EQ(r.index, index_);
    return r;
  }

  void Step() {
    const std::string key = Pick(kKeys);
    switch (rng_.Uniform(15)) {
      case 12: {  // renew
        std::string id = PickSession();
        ApplyResult r = Submit(commands::SessionOp(now_, SessionRequest::RENEW, id));
        auto it = model_.sessions.find(id);
        EXPECT_EQ(r.status.ok(), it != model_.sessions.end()) << r.status;
        if (it != model_.sessions.end() && it->second.ttl > absl::ZeroDuration()) {
          it->second.deadline = now_ + 2 * it->second.ttl;
        }
        break;
      }
      case 13: {  // the leader's TTL sweep: ask which expired, propose each expiry
        std::vector<std::string> want;
        for (const auto& [id, sess] : model_.sessions) {
          if (sess.ttl > absl::ZeroDuration() && sess.deadline <= now_) want.push_back(id);
        }
        EXPECT_EQ(fsm_->store().SessionsExpiredAt(now_), want);
        if (want.empty()) {
          ++index_;  // an entry of another kind (a Raft no-op, say) takes this index
          break;
        }
        for (const std::string& id : want) {
          ApplyResult r = Submit(commands::SessionOp(now_, SessionRequest::EXPIRE, id));
          EXPECT_TRUE(r.ok);
          model_.Invalidate(index_, now_, id);
          ++stats_.expired;
        }
        break;
      }
      case 14: {  // the leader's tombstone GC
        uint64_t up_to = rng_.Uniform(index_ + 1);
        ApplyResult r = Submit(commands::ReapTombstones(now_, up_to));
        EXPECT_TRUE(r.status.ok());
        std::erase_if(model_.deleted_at, [&](const auto& kv) { return kv.second <= up_to; });
        break;
      }
      case 0:
      case 1: {
        KVEntry e = RandomEntry(key);
        ApplyResult r = Submit(commands::KV(now_, KVRequest::SET, e));
        EXPECT_TRUE(r.ok);
        model_.Set(index_, e);
        break;
      }
      case 2: {
        KVEntry e = RandomEntry(key);
        uint64_t cas = PickIndex(key);
        ApplyResult r = Submit(commands::KV(now_, KVRequest::CAS, e, cas));
        EXPECT_EQ(r.ok, model_.Cas(index_, e, cas)) << "cas " << key << " " << cas;
        break;
      }
      case 3: {
        ApplyResult r = Submit(commands::KV(now_, KVRequest::DELETE, KV(key)));
        EXPECT_TRUE(r.ok);
        model_.Del(index_, key);
        break;
      }
      case 4: {
        uint64_t cas = PickIndex(key);
        ApplyResult r = Submit(commands::KV(now_, KVRequest::DELETE_CAS, KV(key), cas));
        EXPECT_EQ(r.ok, model_.DeleteCas(index_, key, cas));
        break;
      }
      case 5: {
        if (!rng_.Bernoulli(0.2)) return Step();  // recursive deletes are rarer
        std::string prefix = Pick(kPrefixes);
        ApplyResult r = Submit(commands::KV(now_, KVRequest::DELETE_TREE, KV(prefix)));
        EXPECT_TRUE(r.ok);
        model_.DeleteTree(index_, prefix);
        break;
      }
      case 6: {
        KVEntry e = RandomEntry(key, PickSession());
        ApplyResult r = Submit(commands::KV(now_, KVRequest::LOCK, e));
        std::optional<bool> want = model_.Lock(index_, now_, e);
        stats_.locked += want.value_or(false);
        stats_.lock_delayed += model_.delay_until.contains(key) && now_ < model_.delay_until[key];
        EXPECT_EQ(r.status.ok(), want.has_value()) << r.status;
        if (want.has_value()) {
          EXPECT_EQ(r.ok, *want);
        }
        break;
      }
      case 7: {
        KVEntry e = RandomEntry(key, PickSession());
        ApplyResult r = Submit(commands::KV(now_, KVRequest::UNLOCK, e));
        EXPECT_EQ(r.ok, model_.Unlock(index_, e));
        break;
      }
      case 8: {
        std::string id = absl::StrCat("s", ++next_session_);
        bool serf = rng_.Bernoulli(0.7);
        Duration ttl = absl::Seconds(10 * rng_.Uniform(3));
        Session s = MakeSession(id, "n1", ttl,
                                rng_.Bernoulli(0.5) ? SessionBehavior::kRelease : SessionBehavior::kDelete,
                                absl::Seconds(rng_.Uniform(3) * 5));
        ApplyResult r = Submit(commands::SessionCreate(now_, s, serf));
        bool want_ok = !(serf && model_.serf_critical);
        EXPECT_EQ(r.status.ok(), want_ok) << r.status;
        if (want_ok) model_.sessions[id] = Model::Sess{s.behavior, s.lock_delay, serf, ttl, now_ + 2 * ttl};
        break;
      }
      case 9: {
        std::string id = PickSession();
        ApplyResult r = Submit(commands::SessionOp(now_, SessionRequest::DESTROY, id));
        EXPECT_TRUE(r.status.ok());
        model_.Invalidate(index_, now_, id);
        break;
      }
      case 10: {
        bool critical = rng_.Bernoulli(0.5);
        ApplyResult r = Submit(commands::Register(now_, ServeReq(critical ? HealthStatus::kCritical
                                                                          : HealthStatus::kPassing)));
        EXPECT_TRUE(r.status.ok());
        if (critical) {
          std::vector<std::string> doomed;
          for (const auto& [id, s] : model_.sessions) {
            if (s.uses_serf) doomed.push_back(id);
          }
          for (const auto& id : doomed) model_.Invalidate(index_, now_, id);
        }
        model_.serf_critical = critical;
        break;
      }
      case 11: RandomTxn(); break;
    }
  }

  void RandomTxn() {
    std::vector<TxnOp> ops;
    const size_t n = 1 + rng_.Uniform(5);
    for (size_t i = 0; i < n; ++i) {
      std::string key = Pick(kKeys);
      TxnVerb verb = static_cast<TxnVerb>(rng_.Uniform(static_cast<uint64_t>(TxnVerb::kDeleteTree) + 1));
      if (verb == TxnVerb::kDeleteTree || verb == TxnVerb::kGetTree) key = Pick(kPrefixes);
      bool with_session = verb == TxnVerb::kLock || verb == TxnVerb::kUnlock || verb == TxnVerb::kCheckSession;
      ops.push_back(TxnOp{verb, RandomEntry(key, with_session ? PickSession() : ""), PickIndex(key)});
    }
    ApplyResult r = Submit(commands::Txn(now_, ops));
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_TRUE(r.txn.has_value());

    Model m = model_;  // the model runs the ops on a copy and keeps it only if all succeed
    std::vector<size_t> failed;
    size_t results = 0;
    for (size_t i = 0; i < ops.size(); ++i) {
      const TxnOp& op = ops[i];
      const std::string& k = op.entry.key;
      bool ok = true;
      switch (op.verb) {
        case TxnVerb::kSet: m.Set(index_, op.entry); ++results; break;
        case TxnVerb::kCas: ok = m.Cas(index_, op.entry, op.index); results += ok; break;
        case TxnVerb::kLock: {
          std::optional<bool> l = m.Lock(index_, now_, op.entry);
          ok = l.has_value() && *l;
          results += ok;
          break;
        }
        case TxnVerb::kUnlock: ok = m.Unlock(index_, op.entry); results += ok; break;
        case TxnVerb::kGet: ok = m.kv.contains(k); results += ok; break;
        case TxnVerb::kGetTree:
          for (const auto& [key, e] : m.kv) results += key.compare(0, k.size(), k) == 0;
          break;
        case TxnVerb::kCheckIndex: ok = m.kv.contains(k) && m.kv[k].modify_index == op.index; results += ok; break;
        case TxnVerb::kCheckSession: ok = m.kv.contains(k) && m.kv[k].session == op.entry.session; results += ok; break;
        case TxnVerb::kCheckNotExists: ok = !m.kv.contains(k); break;
        case TxnVerb::kDelete: m.Del(index_, k); break;
        case TxnVerb::kDeleteCas: ok = m.DeleteCas(index_, k, op.index); break;
        case TxnVerb::kDeleteTree: m.DeleteTree(index_, k); break;
      }
      if (!ok) failed.push_back(i);
    }
    std::vector<size_t> got_failed;
    for (const TxnError& e : r.txn->errors) got_failed.push_back(e.op_index);
    EXPECT_EQ(got_failed, failed);
    if (failed.empty()) {
      ++stats_.txn_ok;
      EXPECT_EQ(r.txn->results.size(), results);
      model_ = std::move(m);
    } else {
      EXPECT_TRUE(r.txn->results.empty());
    }
  }

  void CompareAll() {
    const Store& s = fsm_->store();
    for (const std::string& k : kKeys) {
      auto got = s.KVGet(k);
      auto want = model_.kv.find(k);
      ASSERT_EQ(got.value.has_value(), want != model_.kv.end()) << k;
      uint64_t want_index = want != model_.kv.end()          ? want->second.modify_index
                            : model_.deleted_at.contains(k) ? model_.deleted_at.at(k)
                                                             : std::max<uint64_t>(model_.kv_index, 1);
      EXPECT_EQ(got.index, want_index) << "get index " << k;
      if (got.value.has_value()) {
        ASSERT_EQ(*got.value, want->second) << k;
      }
    }
    EXPECT_EQ(s.kv_count(), model_.kv.size());
    for (const std::string& p : kPrefixes) {
      EXPECT_EQ(s.KVPrefixIndex(p), model_.PrefixIndex(p)) << "prefix " << p;
      uint64_t want_index = model_.PrefixIndex(p) != 0 ? model_.PrefixIndex(p) : std::max<uint64_t>(model_.kv_index, 1);
      EXPECT_EQ(s.KVList(p).index, want_index) << "prefix " << p;
    }
    EXPECT_EQ(s.TableIndex(kTableKVs), model_.kv_index);
    for (const std::string& p : kPrefixes) {
      std::vector<std::string> want;
      for (const auto& [k, e] : model_.kv) {
        if (k.compare(0, p.size(), p) != 0) continue;
        size_t slash = k.find('/', p.size());
        std::string cut = slash == std::string::npos ? k : k.substr(0, slash + 1);
        if (want.empty() || want.back() != cut) want.push_back(cut);
      }
      EXPECT_EQ(s.KVKeys(p, "/").value, want) << "keys " << p;
    }
    std::vector<std::string> want_sessions, got_sessions;
    for (const auto& [id, sess] : model_.sessions) want_sessions.push_back(id);
    for (const Session& sess : s.SessionList().value) got_sessions.push_back(sess.id);
    EXPECT_EQ(got_sessions, want_sessions);
  }

  void RoundTrip() {
    auto restored = std::make_unique<Fsm>();
    ASSERT_TRUE(restored->Restore(fsm_->Snapshot()).ok());
    ASSERT_EQ(restored->ContentHash(), fsm_->ContentHash());
    fsm_ = std::move(restored);
  }

  Rng rng_;
  std::unique_ptr<Fsm> fsm_;
  Model model_;
  Time now_ = T(0);
  uint64_t index_ = 0;
  uint64_t next_session_ = 0;
  Stats stats_;
};

// ---- catalog: the reference keeps plain maps and derives every index by comparing what a
// query would show before and after each command (an index moves iff its view changed).
struct CatModel {
  using K2 = std::pair<std::string, std::string>;
  struct Svc {
    std::string name;
    std::vector<std::string> tags;
    bool operator==(const Svc&) const = default;
  };
  struct Chk {
    HealthStatus status;
    std::string service_id;
    bool operator==(const Chk&) const = default;
  };
  std::map<std::string, std::string> nodes;  // name -> address
  std::map<K2, Svc> svcs;
  std::map<K2, Chk> checks;

  // What /v1/health/state/any shows: checks with their service's current name and tags.
  std::string ChecksView() const {
    std::string out;
    for (const auto& [k, c] : checks) {
      absl::StrAppend(&out, k.first, "/", k.second, "=", static_cast<int>(c.status), ":", c.service_id);
      if (!c.service_id.empty()) {
        const Svc& svc = svcs.at({k.first, c.service_id});
        absl::StrAppend(&out, ":", svc.name, "[", absl::StrJoin(svc.tags, ","), "]");
      }
      out += ";";
    }
    return out;
  }

  // What /v1/health/service/<name> shows, as text.
  std::string View(const std::string& name) const {
    std::string out;
    for (const auto& [k, svc] : svcs) {
      if (svc.name != name) continue;
      absl::StrAppend(&out, k.first, "@", nodes.at(k.first), "/", k.second, "[", absl::StrJoin(svc.tags, ","), "]:");
      for (const auto& [ck, c] : checks) {
        if (ck.first == k.first && c.service_id.empty()) absl::StrAppend(&out, ck.second, "=", static_cast<int>(c.status), "/,");
      }
      for (const auto& [ck, c] : checks) {
        if (ck.first == k.first && c.service_id == k.second) {
          absl::StrAppend(&out, ck.second, "=", static_cast<int>(c.status), "/", c.service_id, ",");
        }
      }
      out += ";";
    }
    return out;
  }
};

const std::vector<std::string> kCatNodes = {"n2", "n3"};
const std::vector<std::string> kServiceNames = {"web", "db"};

class CatalogHarness {
 public:
  explicit CatalogHarness(uint64_t seed) : rng_(seed), fsm_(std::make_unique<Fsm>()) {}

  void Run(int steps) {
    for (int step = 0; step < steps; ++step) {
      Step();
      Compare();
      if (::testing::Test::HasFailure()) {
        FAIL() << "diverged at step " << step << " (index " << index_ << ") after " << last_command_;
      }
      if (step % 700 == 699) {
        auto restored = std::make_unique<Fsm>();
        ASSERT_TRUE(restored->Restore(fsm_->Snapshot()).ok());
        ASSERT_EQ(restored->ContentHash(), fsm_->ContentHash());
        fsm_ = std::move(restored);
      }
    }
  }

 private:
  std::string Pick(const std::vector<std::string>& v) { return v[rng_.Uniform(v.size())]; }

  void Step() {
    CatModel next = m_;
    proto::state::Command cmd;
    bool want_ok = true;
    const std::string node = Pick(kCatNodes);
    switch (rng_.Uniform(6)) {
      case 0:
      case 1:
      case 2: {  // register: the node, maybe a service, 0-2 checks
        RegisterRequest req = NodeReq(node, rng_.Bernoulli(0.8) ? "10.0.0.1" : "10.0.0.9");
        next.nodes[node] = req.node.address;
        if (rng_.Bernoulli(0.6)) {
          Service svc;
          svc.id = rng_.Bernoulli(0.5) ? "a" : "b";
          svc.name = Pick(kServiceNames);
          if (rng_.Bernoulli(0.5)) svc.tags.push_back("v1");
          if (rng_.Bernoulli(0.3)) svc.tags.push_back("prod");
          next.svcs[{node, svc.id}] = CatModel::Svc{svc.name, svc.tags};
          req.service = svc;
        }
        const size_t n_checks = rng_.Uniform(3);
        for (size_t i = 0; i < n_checks; ++i) {
          std::string sid = rng_.Bernoulli(0.5) ? "" : (rng_.Bernoulli(0.5) ? "a" : "b");
          HealthStatus st = static_cast<HealthStatus>(rng_.Uniform(3));
          // Distinct IDs within a request: a duplicate would change a check twice at one index.
          std::string cid = n_checks == 2 ? absl::StrCat("c", i + 1) : (rng_.Bernoulli(0.5) ? "c1" : "c2");
          req.checks.push_back(MakeCheck(cid, st, sid));
          auto svc = next.svcs.find({node, sid});
          if (!sid.empty() && svc == next.svcs.end()) {
            want_ok = false;  // a check for a service not on the node
            continue;
          }
          next.checks[{node, cid}] = CatModel::Chk{st, sid};
        }
        cmd = commands::Register(T(0), req);
        break;
      }
      case 3: {
        next.nodes.erase(node);
        std::erase_if(next.svcs, [&](const auto& kv) { return kv.first.first == node; });
        std::erase_if(next.checks, [&](const auto& kv) { return kv.first.first == node; });
        cmd = commands::Deregister(T(0), node);
        break;
      }
      case 4: {
        std::string sid = rng_.Bernoulli(0.5) ? "a" : "b";
        next.svcs.erase({node, sid});
        std::erase_if(next.checks, [&](const auto& kv) { return kv.first.first == node && kv.second.service_id == sid; });
        cmd = commands::Deregister(T(0), node, sid);
        break;
      }
      case 5: {
        std::string cid = rng_.Bernoulli(0.5) ? "c1" : "c2";
        next.checks.erase({node, cid});
        cmd = commands::Deregister(T(0), node, "", cid);
        break;
      }
    }
    last_command_ = cmd.ShortDebugString() + "\nbefore db: " + m_.View("db") + " web: " + m_.View("web") +
                    " checks: " + m_.ChecksView();
    ApplyResult r = fsm_->Apply(++index_, cmd.SerializeAsString());
    ASSERT_EQ(r.status.ok(), want_ok) << r.status;
    if (!want_ok) return;
    if (next.nodes != m_.nodes) nodes_index_ = index_;
    if (next.svcs != m_.svcs) services_index_ = index_;
    if (next.ChecksView() != m_.ChecksView()) checks_index_ = index_;
    for (const std::string& name : kServiceNames) {
      if (next.View(name) != m_.View(name)) service_index_[name] = index_;
    }
    m_ = std::move(next);
  }

  void Compare() {
    const Store& s = fsm_->store();
    for (const std::string& node : kCatNodes) {
      std::optional<Node> n = s.GetNode(node);
      ASSERT_EQ(n.has_value(), m_.nodes.contains(node)) << node;
      if (n.has_value()) {
        ASSERT_EQ(n->address, m_.nodes.at(node));
      }
    }
    for (const std::string& name : kServiceNames) {
      std::string got;
      for (const ServiceHealth& h : s.ServiceHealthQuery(name, {}, false).value) {
        absl::StrAppend(&got, h.node.name, "@", h.node.address, "/", h.service.id, "[", absl::StrJoin(h.service.tags, ","), "]:");
        for (const Check& c : h.checks) {
          absl::StrAppend(&got, c.check_id, "=", static_cast<int>(c.status), "/", c.service_id, ",");
        }
        got += ";";
      }
      ASSERT_EQ(got, m_.View(name)) << name;
      size_t passing = 0;
      for (const auto& [k, svc] : m_.svcs) {
        if (svc.name != name) continue;
        bool ok = true;
        for (const auto& [ck, c] : m_.checks) {
          if (ck.first == k.first && (c.service_id.empty() || c.service_id == k.second)) {
            ok = ok && c.status == HealthStatus::kPassing;
          }
        }
        passing += ok;
      }
      EXPECT_EQ(s.ServiceHealthQuery(name, {}, true).value.size(), passing) << name;
      uint64_t want = service_index_.contains(name) ? service_index_[name] : std::max<uint64_t>(services_index_, 1);
      EXPECT_EQ(s.ServiceIndex(name), want) << name;
    }
    EXPECT_EQ(s.TableIndex(kTableNodes), nodes_index_);
    EXPECT_EQ(s.TableIndex(kTableServices), services_index_);
    EXPECT_EQ(s.TableIndex(kTableChecks), checks_index_);
    EXPECT_EQ(s.check_count(), m_.checks.size());
    std::string checks;
    absl::StatusOr<Indexed<std::vector<Check>>> all = s.ChecksInState("any");
    ASSERT_TRUE(all.ok());
    const std::vector<Check> all_checks = all->value;
    for (const Check& c : all_checks) {
      absl::StrAppend(&checks, c.node, "/", c.check_id, "=", static_cast<int>(c.status), ":", c.service_id);
      if (!c.service_id.empty()) absl::StrAppend(&checks, ":", c.service_name, "[", absl::StrJoin(c.service_tags, ","), "]");
      checks += ";";
    }
    EXPECT_EQ(checks, m_.ChecksView());
    EXPECT_EQ(s.service_count(), m_.svcs.size());
  }

  Rng rng_;
  std::unique_ptr<Fsm> fsm_;
  CatModel m_;
  uint64_t index_ = 0;
  uint64_t nodes_index_ = 0, services_index_ = 0, checks_index_ = 0;
  std::map<std::string, uint64_t> service_index_;
  std::string last_command_;
};

TEST(ModelTest, RandomCatalogOpsAgreeWithReferenceModel) {
  for (uint64_t seed : {11, 12, 13}) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    CatalogHarness h(seed);
    h.Run(3000);
    if (HasFailure()) return;
  }
}

TEST(ModelTest, RandomOpsAgreeWithReferenceModel) {
  Harness::Stats total;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    Harness h(seed);
    h.Run(3000);
    if (HasFailure()) return;
    total.expired += h.stats().expired;
    total.locked += h.stats().locked;
    total.lock_delayed += h.stats().lock_delayed;
    total.txn_ok += h.stats().txn_ok;
  }
  // The runs must have reached the interesting paths, or the agreement means little.
  EXPECT_GT(total.expired, 10);
  EXPECT_GT(total.locked, 100);
  EXPECT_GT(total.lock_delayed, 0);
  EXPECT_GT(total.txn_ok, 100);
  std::printf("expired %d locked %d lock-delayed %d txn-ok %d\n", total.expired, total.locked,
              total.lock_delayed, total.txn_ok);
}

// Same seed, same commands: bit-identical states.
TEST(ModelTest, DeterministicAcrossRuns) {
  auto run = [](uint64_t seed) {
    Rng rng(seed);
    Fsm f;
    uint64_t i = 0;
    f.Apply(++i, commands::Register(T(0), NodeReq("n1")).SerializeAsString());
    for (int n = 0; n < 2000; ++n) {
      std::string key = kKeys[rng.Uniform(kKeys.size())];
      switch (rng.Uniform(3)) {
        case 0: f.Apply(++i, commands::KV(T(n), KVRequest::SET, KV(key, "v")).SerializeAsString()); break;
        case 1: f.Apply(++i, commands::KV(T(n), KVRequest::DELETE, KV(key)).SerializeAsString()); break;
        default:
          f.Apply(++i, commands::SessionCreate(T(n), MakeSession(absl::StrCat("s", n), "n1"), false)
                           .SerializeAsString());
          f.Apply(++i, commands::KV(T(n), KVRequest::LOCK, KV(key, "", absl::StrCat("s", n))).SerializeAsString());
      }
    }
    return f.ContentHash();
  };
  EXPECT_EQ(run(9), run(9));
  EXPECT_NE(run(9), run(10));
}

}  // namespace
}  // namespace muster::state
