// Transactions (docs: api/txn "Create Transaction") over KV and the catalog (Node, Service
// and Check ops, Consul's agent/consul/state/txn.go txnNode/txnService/txnCheck): every op
// runs against the state as left by the ops before it; if any fails, all errors are reported
// and undo logs put every touched key and catalog node back, so nothing is applied and no
// index moves.
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

constexpr std::pair<TxnKind, std::string_view> kKindNames[] = {
    {TxnKind::kKV, "KV"},
    {TxnKind::kNode, "Node"},
    {TxnKind::kService, "Service"},
    {TxnKind::kCheck, "Check"},
};

std::string Q(std::string_view s) { return absl::StrCat("\"", Absl(s), "\""); }

TxnResult KVResult(KVEntry e) {
  TxnResult r;
  r.kv = std::move(e);
  return r;
}

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

std::string_view TxnKindName(TxnKind k) {
  for (const auto& [kind, name] : kKindNames) {
    if (kind == k) return name;
  }
  MUSTER_UNREACHABLE("bad txn kind");
}

bool TxnKindTakes(TxnKind kind, TxnVerb verb) {
  if (kind == TxnKind::kKV) return true;
  return verb == TxnVerb::kSet || verb == TxnVerb::kCas || verb == TxnVerb::kGet || verb == TxnVerb::kDelete ||
         verb == TxnVerb::kDeleteCas;
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

absl::Status Store::TxnReadOne(const TxnOp& op, std::vector<TxnResult>& results) const {
  if (op.kind != TxnKind::kKV) return TxnCatalogRead(op, results);
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
      results.push_back(KVResult(*e));
      return absl::OkStatus();
    }
    case TxnVerb::kGetTree: {
      for (auto it = kv_.lower_bound(key); it != kv_.end() && it->first.compare(0, key.size(), key) == 0; ++it) {
        results.push_back(KVResult(it->second));
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
      results.push_back(KVResult(WithoutValue(*e)));
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
      results.push_back(KVResult(WithoutValue(*e)));
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
    if (!TxnKindTakes(op.kind, op.verb)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown ", Absl(TxnKindName(op.kind)), " verb ",
                                                     Q(TxnVerbName(op.verb))));
    }
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

absl::Status Store::TxnOne(uint64_t idx, Time now, const TxnOp& op, std::vector<TxnResult>& results) {
  if (op.kind != TxnKind::kKV) return TxnCatalogOne(idx, now, op, results);
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
  results.push_back(KVResult(WithoutValue(*e)));
  return absl::OkStatus();
}

absl::StatusOr<TxnResponse> Store::Txn(uint64_t idx, Time now, const std::vector<TxnOp>& ops) {
  if (ops.size() > config_.txn_ops_max) {
    return absl::ResourceExhaustedError(absl::StrCat("Transaction contains too many operations (",
                                                     ops.size(), " > ", config_.txn_ops_max, ")"));
  }
  for (const TxnOp& op : ops) {
    // The HTTP layer refuses these; a log entry carrying one (a bug, or a newer proposer)
    // is refused whole rather than half-understood.
    if (!TxnKindTakes(op.kind, op.verb)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown ", Absl(TxnKindName(op.kind)), " verb ",
                                                     Q(TxnVerbName(op.verb))));
    }
  }
  MUSTER_CHECK(!undo_active_, "nested transaction");
  // Small (one entry per table), so kept whole: a rollback puts every table's index back.
  const absl::btree_map<std::string, uint64_t> table_index_before = table_index_;
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
    // The catalog first: it puts back the sessions whose locks the KV undo then re-holds.
    RollBackCatalog();
    for (auto& [key, u] : undo_) {
      auto it = kv_.find(key);
      if (it != kv_.end() && !it->second.session.empty()) {
        auto held = session_locks_.find(it->second.session);
        held->second.erase(key);
        if (held->second.empty()) session_locks_.erase(held);
      }
      if (u.entry.has_value()) {
        if (!u.entry->session.empty()) session_locks_[u.entry->session].insert(key);
        SetKVRow(std::move(*u.entry));  // saved from kv_[key]: its key is `key`
      } else if (it != kv_.end()) {
        EraseKVRow(it);
      }
      if (u.tombstone.has_value()) {
        SetTombstone(key, *u.tombstone);
      } else {
        EraseTombstone(key);
      }
    }
    table_index_ = table_index_before;
    changes_ = changes_before;
  }
  undo_active_ = false;
  undo_.clear();
  node_undo_.clear();
  service_index_undo_.clear();
  lock_delays_undo_.reset();
  return resp;
}

// ---------------------------------------------------------------- catalog operations
// Consul's txnNode / txnService / txnCheck: get answers the stored object (an error when it is
// missing), set and cas answer it as written, deletes answer nothing. cas applies only when
// the op's ModifyIndex is the stored one (0: only when there is none); delete-cas only when
// the object exists with that ModifyIndex.

absl::Status Store::TxnCatalogRead(const TxnOp& op, std::vector<TxnResult>& results) const {
  MUSTER_CHECK(op.verb == TxnVerb::kGet, "not a catalog read: ", Absl(TxnVerbName(op.verb)));
  TxnResult r;
  r.kind = op.kind;
  switch (op.kind) {
    case TxnKind::kNode: {
      std::string name = op.node.name;
      // Consul looks a node up by ID when one is given.
      if (!op.node.id.empty()) {
        auto owner = node_ids_.find(op.node.id);
        name = owner == node_ids_.end() ? std::string() : owner->second;
      }
      auto it = nodes_.find(name);
      if (it == nodes_.end()) return absl::NotFoundError(absl::StrCat("node ", Q(op.node.name), " doesn't exist"));
      r.node = it->second;
      break;
    }
    case TxnKind::kService: {
      auto it = services_.find(Key2{op.service_node, op.service.id});
      if (it == services_.end()) {
        return absl::NotFoundError(absl::StrCat("service ", Q(op.service.id), " on node ", Q(op.service_node),
                                                " doesn't exist"));
      }
      r.service = it->second;
      break;
    }
    case TxnKind::kCheck: {
      auto it = checks_.find(Key2{op.check.node, op.check.check_id});
      if (it == checks_.end()) {
        return absl::NotFoundError(absl::StrCat("check ", Q(op.check.check_id), " on node ", Q(op.check.node),
                                                " doesn't exist"));
      }
      r.check = it->second;
      break;
    }
    case TxnKind::kKV:
      MUSTER_UNREACHABLE("a KV op in the catalog's read");
  }
  results.push_back(std::move(r));
  return absl::OkStatus();
}

absl::Status Store::TxnCatalogOne(uint64_t idx, Time now, const TxnOp& op, std::vector<TxnResult>& results) {
  if (op.verb == TxnVerb::kGet) return TxnCatalogRead(op, results);
  const bool cas = op.verb == TxnVerb::kCas || op.verb == TxnVerb::kDeleteCas;
  const bool erase = op.verb == TxnVerb::kDelete || op.verb == TxnVerb::kDeleteCas;
  MUSTER_CHECK(op.verb == TxnVerb::kSet || cas || erase, "bad catalog verb ", Absl(TxnVerbName(op.verb)));
  // The stored object's ModifyIndex (0: none) for the cas verbs, and how errors name it.
  std::string node_name;
  std::optional<uint64_t> current;
  std::string what;
  switch (op.kind) {
    case TxnKind::kNode: {
      node_name = op.node.name;
      if (node_name.empty()) return absl::InvalidArgumentError("Must provide node");
      if (auto it = nodes_.find(node_name); it != nodes_.end()) current = it->second.modify_index;
      what = absl::StrCat("node ", Q(node_name));
      break;
    }
    case TxnKind::kService: {
      node_name = op.service_node;
      if (node_name.empty()) return absl::InvalidArgumentError("Must provide node");
      if (op.service.id.empty()) return absl::InvalidArgumentError("Must provide service ID");
      if (auto it = services_.find(Key2{node_name, op.service.id}); it != services_.end()) {
        current = it->second.modify_index;
      }
      what = absl::StrCat("service ", Q(op.service.id), " on node ", Q(node_name));
      break;
    }
    case TxnKind::kCheck: {
      node_name = op.check.node;
      if (node_name.empty()) return absl::InvalidArgumentError("Must provide node");
      if (op.check.check_id.empty()) return absl::InvalidArgumentError("Must provide check ID or name");
      if (auto it = checks_.find(Key2{node_name, op.check.check_id}); it != checks_.end()) {
        current = it->second.modify_index;
      }
      what = absl::StrCat("check ", Q(op.check.check_id), " on node ", Q(node_name));
      break;
    }
    case TxnKind::kKV:
      MUSTER_UNREACHABLE("a KV op in the catalog's write");
  }
  if (op.verb == TxnVerb::kCas && op.index != current.value_or(0)) {
    return absl::FailedPreconditionError(absl::StrCat("failed to set ", what, ", index is stale"));
  }
  if (op.verb == TxnVerb::kDeleteCas && (!current.has_value() || *current != op.index)) {
    return absl::FailedPreconditionError(absl::StrCat("failed to delete ", what, ", index is stale"));
  }

  if (erase) {
    SaveCatalogUndo(node_name, "");
    switch (op.kind) {
      case TxnKind::kNode: return DeregisterNode(idx, now, node_name);
      case TxnKind::kService: return DeregisterService(idx, now, node_name, op.service.id);
      case TxnKind::kCheck: return DeregisterCheck(idx, now, node_name, op.check.check_id);
      case TxnKind::kKV: break;
    }
    MUSTER_UNREACHABLE("a KV op in the catalog's delete");
  }

  // set and cas: validated as Consul's ensureNodeTxn / ensureServiceTxn / ensureCheckTxn
  // before anything changes, then written through the catalog's own helpers (so indexes,
  // watches, ServiceName/ServiceTags and session invalidation are as a registration's).
  TxnResult r;
  r.kind = op.kind;
  switch (op.kind) {
    case TxnKind::kNode: {
      if (!op.node.id.empty()) {
        auto owner = node_ids_.find(op.node.id);
        if (owner != node_ids_.end() && owner->second != node_name) {
          return absl::InvalidArgumentError(absl::StrCat("node ID ", Q(op.node.id), " for node ", Q(node_name),
                                                         " aliases existing node ", Q(owner->second)));
        }
      }
      SaveCatalogUndo(node_name, "");
      EnsureNode(idx, op.node);
      r.node = nodes_.at(node_name);
      break;
    }
    case TxnKind::kService: {
      if (!nodes_.contains(node_name)) return absl::InvalidArgumentError("Missing node registration");
      if (op.service.name.empty()) return absl::InvalidArgumentError("Must provide service name");
      if (op.service.port < 0 || op.service.port > 65535) return absl::InvalidArgumentError("Invalid service port");
      SaveCatalogUndo(node_name, op.service.name);
      EnsureService(idx, node_name, op.service);
      r.service = services_.at(Key2{node_name, op.service.id});
      break;
    }
    case TxnKind::kCheck: {
      if (!nodes_.contains(node_name)) return absl::InvalidArgumentError("Missing node registration");
      if (!op.check.service_id.empty() && !services_.contains(Key2{node_name, op.check.service_id})) {
        return absl::InvalidArgumentError("Missing service registration");
      }
      SaveCatalogUndo(node_name, "");
      EnsureCheck(idx, now, op.check);
      r.check = checks_.at(Key2{node_name, op.check.check_id});
      break;
    }
    case TxnKind::kKV:
      MUSTER_UNREACHABLE("a KV op in the catalog's set");
  }
  results.push_back(std::move(r));
  return absl::OkStatus();
}

void Store::SaveCatalogUndo(const std::string& node, const std::string& service_name) {
  MUSTER_CHECK(undo_active_, "catalog undo outside a transaction");
  auto save_service_index = [this](const std::string& name) {
    if (service_index_undo_.contains(name)) return;
    auto it = service_index_.find(name);
    service_index_undo_.emplace(name, it == service_index_.end() ? std::nullopt : std::optional(it->second));
  };
  // Every op may move the index of any service name on its node, and set the one it brings.
  if (!service_name.empty()) save_service_index(service_name);
  for (auto it = services_.lower_bound(Key2{node, ""}); it != services_.end() && it->first.first == node; ++it) {
    save_service_index(it->second.name);
  }
  if (!lock_delays_undo_.has_value()) lock_delays_undo_ = lock_delays_;  // only recent ones: small
  if (node_undo_.contains(node)) return;
  NodeUndo u;
  if (auto it = nodes_.find(node); it != nodes_.end()) u.node = it->second;
  for (auto it = services_.lower_bound(Key2{node, ""}); it != services_.end() && it->first.first == node; ++it) {
    u.services.push_back(*it);
  }
  for (auto it = checks_.lower_bound(Key2{node, ""}); it != checks_.end() && it->first.first == node; ++it) {
    u.checks.push_back(*it);
  }
  // A catalog op ends sessions (a check gone or critical, the node gone) but never makes one,
  // and a session only watches checks of its own node.
  if (auto by_node = sessions_by_node_.find(node); by_node != sessions_by_node_.end()) {
    for (const std::string& id : by_node->second) u.sessions.push_back(sessions_.at(id));
  }
  for (auto it = coordinates_.lower_bound(Key2{node, ""}); it != coordinates_.end() && it->first.first == node; ++it) {
    u.coordinates.push_back(*it);
  }
  node_undo_.emplace(node, std::move(u));
}

void Store::RollBackCatalog() {
  for (auto& [node, u] : node_undo_) {
    // Take out what the transaction left, with the indexes derived from it...
    if (auto it = nodes_.find(node); it != nodes_.end()) {
      if (auto owner = node_ids_.find(it->second.id); owner != node_ids_.end() && owner->second == node) {
        node_ids_.erase(owner);
      }
      nodes_.erase(it);
    }
    for (auto it = services_.lower_bound(Key2{node, ""}); it != services_.end() && it->first.first == node;) {
      auto by_name = services_by_name_.find(it->second.name);
      by_name->second.erase(it->first);
      if (by_name->second.empty()) services_by_name_.erase(by_name);
      it = services_.erase(it);
    }
    for (auto it = checks_.lower_bound(Key2{node, ""}); it != checks_.end() && it->first.first == node;) {
      it = checks_.erase(it);
    }
    for (auto it = coordinates_.lower_bound(Key2{node, ""}); it != coordinates_.end() && it->first.first == node;) {
      it = coordinates_.erase(it);
    }
    // ...and put back what was there before it.
    if (u.node.has_value()) {
      if (!u.node->id.empty()) node_ids_[u.node->id] = node;
      nodes_[node] = std::move(*u.node);
    }
    for (auto& [key, svc] : u.services) {
      services_by_name_[svc.name].insert(key);
      services_[key] = std::move(svc);
    }
    for (auto& [key, check] : u.checks) checks_[key] = std::move(check);
    for (auto& [key, coordinate] : u.coordinates) coordinates_[key] = std::move(coordinate);
    for (Session& s : u.sessions) {
      sessions_by_node_[s.node].insert(s.id);
      const std::string id = s.id;
      sessions_[id] = std::move(s);
    }
  }
  for (auto& [name, index] : service_index_undo_) {
    if (index.has_value()) {
      service_index_[name] = *index;
    } else {
      service_index_.erase(name);
    }
  }
  if (lock_delays_undo_.has_value()) lock_delays_ = std::move(*lock_delays_undo_);
}

}  // namespace muster::state
