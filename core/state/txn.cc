// Transactions over KV (docs: api/txn "Create Transaction"): every op runs against the
// state as left by the ops before it; if any fails, all errors are reported and an undo log
// puts every touched key back, so nothing is applied and no index moves.
#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "core/base/strings.h"
#include "core/state/store.h"

namespace muster::state {
namespace {

constexpr std::pair<TxnVerb, std::string_view> kVerbNames[] = {
    {TxnVerb::kSet, "set"},
    {TxnVerb::kCas, "cas"},
    {TxnVerb::kLock, "lock"},
    {TxnVerb::kUnlock, "unlock"},
    {TxnVerb::kGet, "get"},
    {TxnVerb::kGetTree, "get-tree"},
    {TxnVerb::kCheckIndex, "check-index"},
    {TxnVerb::kCheckSession, "check-session"},
    {TxnVerb::kCheckNotExists, "check-not-exists"},
    {TxnVerb::kDelete, "delete"},
    {TxnVerb::kDeleteCas, "delete-cas"},
    {TxnVerb::kDeleteTree, "delete-tree"},
};

std::string Q(std::string_view s) { return absl::StrCat("\"", Absl(s), "\""); }

KVEntry WithoutValue(KVEntry e) {
  e.value.clear();
  return e;
}

}  // namespace

std::string_view TxnVerbName(TxnVerb v) {
  for (const auto& [verb, name] : kVerbNames) {
    if (verb == v) return name;
  }
  MUSTER_UNREACHABLE("bad txn verb");
}

absl::StatusOr<TxnVerb> ParseTxnVerb(std::string_view name) {
  for (const auto& [verb, n] : kVerbNames) {
    if (n == name) return verb;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown KV verb ", Q(name)));
}

static bool IsReadVerb(TxnVerb v) {
  return v == TxnVerb::kGet || v == TxnVerb::kGetTree || v == TxnVerb::kCheckIndex ||
         v == TxnVerb::kCheckSession || v == TxnVerb::kCheckNotExists;
}

absl::Status Store::TxnReadOne(const TxnOp& op, std::vector<KVEntry>& results) const {
  const std::string& key = op.entry.key;
  auto current = [&]() -> const KVEntry* {
    auto it = kv_.find(key);
    return it == kv_.end() ? nullptr : &it->second;
  };
  auto missing = [&] { return absl::NotFoundError(absl::StrCat("key ", Q(key), " doesn't exist")); };
  switch (op.verb) {
    case TxnVerb::kGet: {
      const KVEntry* e = current();
      if (e == nullptr) return missing();
      results.push_back(*e);
      return absl::OkStatus();
    }
    case TxnVerb::kGetTree: {
      for (auto it = kv_.lower_bound(key); it != kv_.end() && it->first.compare(0, key.size(), key) == 0; ++it) {
        results.push_back(it->second);
      }
      return absl::OkStatus();
    }
    case TxnVerb::kCheckIndex: {
      const KVEntry* e = current();
      if (e == nullptr) return missing();
      if (e->modify_index != op.index) {
        return absl::FailedPreconditionError(absl::StrCat("failed index check for key ", Q(key),
                                                          ", current modify index ", e->modify_index,
                                                          " != ", op.index));
      }
      results.push_back(WithoutValue(*e));
      return absl::OkStatus();
    }
    case TxnVerb::kCheckSession: {
      const KVEntry* e = current();
      if (e == nullptr) return missing();
      if (e->session != op.entry.session) {
        return absl::FailedPreconditionError(absl::StrCat("failed session check for key ", Q(key),
                                                          ", current session ", Q(e->session),
                                                          " != ", Q(op.entry.session)));
      }
      results.push_back(WithoutValue(*e));
      return absl::OkStatus();
    }
    case TxnVerb::kCheckNotExists: {
      if (current() != nullptr) {
        return absl::FailedPreconditionError(absl::StrCat("failed to check for key ", Q(key), ", key exists"));
      }
      return absl::OkStatus();
    }
    default:
      MUSTER_UNREACHABLE("not a read verb: ", Absl(TxnVerbName(op.verb)));
  }
}

absl::StatusOr<TxnResponse> Store::TxnRead(const std::vector<TxnOp>& ops) const {
  if (ops.size() > config_.txn_ops_max) {
    return absl::ResourceExhaustedError(absl::StrCat("Transaction contains too many operations (",
                                                     ops.size(), " > ", config_.txn_ops_max, ")"));
  }
  for (const TxnOp& op : ops) {
    if (!IsReadVerb(op.verb)) {
      return absl::InvalidArgumentError(absl::StrCat("read-only transaction has a write: ", Absl(TxnVerbName(op.verb))));
    }
  }
  TxnResponse resp;
  for (size_t i = 0; i < ops.size(); ++i) {
    absl::Status s = TxnReadOne(ops[i], resp.results);
    if (!s.ok()) resp.errors.push_back(TxnError{i, std::string(s.message())});
  }
  if (!resp.ok()) resp.results.clear();
  return resp;
}

absl::Status Store::TxnOne(uint64_t idx, Time now, const TxnOp& op, std::vector<KVEntry>& results) {
  const std::string& key = op.entry.key;
  auto current = [&]() -> const KVEntry* {
    auto it = kv_.find(key);
    return it == kv_.end() ? nullptr : &it->second;
  };
  switch (op.verb) {
    case TxnVerb::kSet: {
      absl::StatusOr<bool> ok = KVSet(idx, op.entry);
      if (!ok.ok()) return ok.status();
      break;
    }
    case TxnVerb::kCas: {
      if (absl::Status s = ValidateKVWrite(op.entry); !s.ok()) return s;
      if (!KVCasInternal(idx, op.entry, op.index)) {
        return absl::FailedPreconditionError(absl::StrCat("failed to set key ", Q(key), ", index is stale"));
      }
      break;
    }
    case TxnVerb::kLock: {
      absl::StatusOr<bool> ok = KVLock(idx, now, op.entry);
      if (!ok.ok()) return ok.status();
      if (!*ok) {
        return absl::FailedPreconditionError(absl::StrCat("failed to lock key ", Q(key), ", lock is already held"));
      }
      break;
    }
    case TxnVerb::kUnlock: {
      absl::StatusOr<bool> ok = KVUnlock(idx, op.entry);
      if (!ok.ok()) return ok.status();
      if (!*ok) {
        return absl::FailedPreconditionError(absl::StrCat(
            "failed to unlock key ", Q(key), ", lock isn't held, or is held by another session"));
      }
      break;
    }
    case TxnVerb::kGet:
    case TxnVerb::kGetTree:
    case TxnVerb::kCheckIndex:
    case TxnVerb::kCheckSession:
    case TxnVerb::kCheckNotExists:
      return TxnReadOne(op, results);
    case TxnVerb::kDelete: {
      absl::StatusOr<bool> ok = KVDelete(idx, key);
      return ok.status();
    }
    case TxnVerb::kDeleteCas: {
      if (key.empty()) return absl::InvalidArgumentError("Missing key name");
      if (!KVDeleteCasInternal(idx, key, op.index)) {
        return absl::FailedPreconditionError(absl::StrCat("failed to delete key ", Q(key), ", index is stale"));
      }
      return absl::OkStatus();
    }
    case TxnVerb::kDeleteTree: {
      KVDeleteTreeInternal(idx, key);
      return absl::OkStatus();
    }
  }
  // The write verbs report the entry as written, without its value (as Consul's txn).
  const KVEntry* e = current();
  MUSTER_CHECK(e != nullptr, "written key ", key, " missing");
  results.push_back(WithoutValue(*e));
  return absl::OkStatus();
}

absl::StatusOr<TxnResponse> Store::Txn(uint64_t idx, Time now, const std::vector<TxnOp>& ops) {
  if (ops.size() > config_.txn_ops_max) {
    return absl::ResourceExhaustedError(absl::StrCat("Transaction contains too many operations (",
                                                     ops.size(), " > ", config_.txn_ops_max, ")"));
  }
  MUSTER_CHECK(!undo_active_, "nested transaction");
  const uint64_t kv_index_before = TableIndex(kTableKVs);
  const ChangeSet changes_before = changes_;
  undo_active_ = true;
  undo_.clear();

  TxnResponse resp;
  for (size_t i = 0; i < ops.size(); ++i) {
    absl::Status s = TxnOne(idx, now, ops[i], resp.results);
    if (!s.ok()) resp.errors.push_back(TxnError{i, std::string(s.message())});
  }
  if (!resp.ok()) {
    resp.results.clear();
    for (auto& [key, u] : undo_) {
      auto it = kv_.find(key);
      if (it != kv_.end() && !it->second.session.empty()) {
        auto held = session_locks_.find(it->second.session);
        held->second.erase(key);
        if (held->second.empty()) session_locks_.erase(held);
      }
      if (u.entry.has_value()) {
        if (!u.entry->session.empty()) session_locks_[u.entry->session].insert(key);
        kv_[key] = std::move(*u.entry);
      } else {
        kv_.erase(key);
      }
      if (u.tombstone.has_value()) {
        tombstones_[key] = *u.tombstone;
      } else {
        tombstones_.erase(key);
      }
    }
    if (kv_index_before == 0) {
      table_index_.erase(kTableKVs);
    } else {
      table_index_[kTableKVs] = kv_index_before;
    }
    changes_ = changes_before;
  }
  undo_active_ = false;
  undo_.clear();
  return resp;
}

}  // namespace muster::state
