// The lock-safety check: per key, the spans in which a session surely held it (and the
// lock-delay after an invalidation), then every acknowledged acquire and consistent read
// against the other sessions' spans.
#include "sim/checkers/lock_checker.h"

#include <algorithm>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "core/base/check.h"

namespace muster::sim::checkers {

LockOpId LockHistory::Invoke(LockOp op) {
  MUSTER_CHECK(ops_.size() < UINT32_MAX, "lock history full");
  op.answered = false;
  op.ret = op.call;
  ops_.push_back(std::move(op));
  return static_cast<LockOpId>(ops_.size() - 1);
}

LockOpId LockHistory::InvokeAcquire(int32_t client, std::string key, std::string session,
                                    Time call) {
  return Invoke({.client = client,
                 .kind = LockOpKind::kAcquire,
                 .key = std::move(key),
                 .session = std::move(session),
                 .call = call});
}

LockOpId LockHistory::InvokeRelease(int32_t client, std::string key, std::string session,
                                    Time call) {
  return Invoke({.client = client,
                 .kind = LockOpKind::kRelease,
                 .key = std::move(key),
                 .session = std::move(session),
                 .call = call});
}

LockOpId LockHistory::InvokeRead(int32_t client, std::string key, Time call) {
  return Invoke({.client = client, .kind = LockOpKind::kRead, .key = std::move(key), .call = call});
}

LockOp& LockHistory::Pending(LockOpId id, Time ret) {
  MUSTER_CHECK_LT(id, ops_.size());
  LockOp& op = ops_[id];
  MUSTER_CHECK(!op.answered, "lock op ", id, " answered twice");
  MUSTER_CHECK(ret >= op.call, "lock op ", id, " returns before its call");
  return op;
}

void LockHistory::CompleteAcquire(LockOpId id, Time ret, bool ok) {
  LockOp& op = Pending(id, ret);
  MUSTER_CHECK(op.kind == LockOpKind::kAcquire);
  op.ret = ret;
  op.ok = ok;
  op.answered = true;
}

void LockHistory::CompleteRelease(LockOpId id, Time ret, bool ok) {
  LockOp& op = Pending(id, ret);
  MUSTER_CHECK(op.kind == LockOpKind::kRelease);
  op.ret = ret;
  op.ok = ok;
  op.answered = true;
}

void LockHistory::CompleteRead(LockOpId id, Time ret, std::optional<std::string> holder) {
  LockOp& op = Pending(id, ret);
  MUSTER_CHECK(op.kind == LockOpKind::kRead);
  op.ret = ret;
  op.holder = std::move(holder);
  op.answered = true;
}

void LockHistory::Unknown(LockOpId id) { Pending(id, ops_[id].call); }

void LockHistory::SessionInvalidated(std::string session, Time time, Duration lock_delay) {
  invalidations_.push_back({std::move(session), time, lock_delay});
}

namespace {

std::string At(Time t) { return absl::FormatDuration(t - SimEpoch()); }

std::string Describe(const LockOp& op, LockOpId id) {
  std::string what = absl::StrCat("#", id, " c", op.client, " ");
  switch (op.kind) {
    case LockOpKind::kAcquire:
      absl::StrAppend(&what, "acquire ", op.key, " by ", op.session);
      break;
    case LockOpKind::kRelease:
      absl::StrAppend(&what, "release ", op.key, " by ", op.session);
      break;
    case LockOpKind::kRead:
      absl::StrAppend(&what, "read ", op.key);
      break;
  }
  if (!op.answered) return absl::StrCat(what, " [", At(op.call), ", ?] -> unknown");
  absl::StrAppend(&what, " [", At(op.call), ", ", At(op.ret), "] -> ");
  if (op.kind == LockOpKind::kRead) return absl::StrCat(what, op.holder.value_or("no holder"));
  return absl::StrCat(what, op.ok ? "true" : "false");
}

// A span in which `session` surely held the key: from its acquire's return until `end`;
// others stay locked out until `blocked_end` (later than `end` by the lock-delay when the
// session's invalidation ended the span).
struct Hold {
  const std::string* session;
  LockOpId acquire;
  Time start;
  Time end;
  Time blocked_end;
  bool ended_by_invalidation;
};

}  // namespace

CheckResult CheckLockSafety(const LockHistory& history, const LockCheckOptions& options) {
  const std::vector<LockOp>& ops = history.ops();
  // A session's first invalidation is the one that counts: it is gone after it.
  absl::flat_hash_map<std::string, const SessionInvalidation*> invalidated;
  for (const SessionInvalidation& inv : history.invalidations()) {
    auto [it, inserted] = invalidated.try_emplace(inv.session, &inv);
    if (!inserted && inv.time < it->second->time) it->second = &inv;
  }
  auto invalidation = [&](const std::string& session) -> const SessionInvalidation* {
    auto it = invalidated.find(session);
    return it == invalidated.end() ? nullptr : it->second;
  };
  absl::btree_map<std::string, std::vector<LockOpId>> by_key;  // sorted: a stable report
  for (LockOpId id = 0; id < ops.size(); ++id) by_key[ops[id].key].push_back(id);

  CheckResult result;
  for (const auto& [key, ids] : by_key) {
    std::vector<Hold> holds;
    for (LockOpId id : ids) {
      const LockOp& acquire = ops[id];
      if (acquire.kind != LockOpKind::kAcquire || !acquire.answered || !acquire.ok) continue;
      const SessionInvalidation* inv = invalidation(acquire.session);
      if (inv != nullptr && inv->time < acquire.call) {
        result.Add(absl::StrCat(Describe(acquire, id), ": the session was invalidated at ",
                                At(inv->time), ", before the acquire was called"));
        continue;
      }
      Time end = absl::InfiniteFuture();
      for (LockOpId other : ids) {
        const LockOp& release = ops[other];
        if (release.kind == LockOpKind::kRelease && release.session == acquire.session &&
            release.call >= acquire.call) {
          end = std::min(end, release.call);
        }
      }
      bool ended_by_invalidation = false;
      if (inv != nullptr && inv->time < end) {
        end = inv->time;
        ended_by_invalidation = true;
      }
      if (end <= acquire.ret) continue;  // released or dead before it surely held
      const Time blocked_end = ended_by_invalidation
                                   ? std::max(end, end + inv->lock_delay - options.lock_delay_slack)
                                   : end;
      holds.push_back({&acquire.session, id, acquire.ret, end, blocked_end, ended_by_invalidation});
    }

    for (LockOpId id : ids) {
      const LockOp& op = ops[id];
      if (!op.answered) continue;
      if (op.kind == LockOpKind::kAcquire && op.ok) {
        // The latest instant it can have taken effect: its return, or its session's death.
        Time effect_by = op.ret;
        const SessionInvalidation* inv = invalidation(op.session);
        if (inv != nullptr) {
          if (inv->time < op.call) continue;  // reported above
          effect_by = std::min(effect_by, inv->time);
        }
        for (const Hold& hold : holds) {
          if (*hold.session == op.session) continue;
          if (!(hold.start < effect_by && effect_by < hold.blocked_end)) continue;
          if (effect_by < hold.end) {
            result.Add(absl::StrCat(Describe(op, id), ": two holders: ", *hold.session,
                                    " surely held it from ", At(hold.start), " (",
                                    Describe(ops[hold.acquire], hold.acquire), ") until ",
                                    hold.end == absl::InfiniteFuture() ? "the end" : At(hold.end)));
          } else {
            result.Add(absl::StrCat(Describe(op, id), ": within the lock-delay of ", *hold.session,
                                    ", invalidated at ", At(hold.end), " holding it (lock-delay ",
                                    "until ", At(hold.blocked_end), ")"));
          }
        }
      } else if (op.kind == LockOpKind::kRead) {
        if (op.holder.has_value()) {
          const SessionInvalidation* inv = invalidation(*op.holder);
          if (inv != nullptr && inv->time < op.call) {
            result.Add(absl::StrCat(Describe(op, id), ": names a session invalidated at ",
                                    At(inv->time), ", before the read was called"));
            continue;
          }
        }
        for (const Hold& hold : holds) {
          const bool inside_hold = hold.start < op.call && op.ret < hold.end;
          if (inside_hold && op.holder != *hold.session) {
            result.Add(absl::StrCat(Describe(op, id), ": while ", *hold.session,
                                    " surely held it (", Describe(ops[hold.acquire], hold.acquire),
                                    ")"));
          }
          const bool inside_delay =
              hold.ended_by_invalidation && hold.end < op.call && op.ret < hold.blocked_end;
          if (inside_delay && op.holder.has_value()) {
            result.Add(absl::StrCat(Describe(op, id), ": a holder within the lock-delay of ",
                                    *hold.session, ", invalidated at ", At(hold.end)));
          }
        }
      }
    }
  }
  return result;
}

}  // namespace muster::sim::checkers
