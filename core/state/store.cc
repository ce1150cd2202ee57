#include "core/state/store.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "core/base/strings.h"

namespace muster::state {
namespace {

uint64_t NonZero(uint64_t index) { return index == 0 ? 1 : index; }

// Visits the entries of an ordered string-keyed map whose key starts with `prefix`: the
// keys from `prefix` up to the first key past every one that starts with it (the prefix
// with its last byte below 0xff incremented and the rest cut), so the walk compares
// iterators instead of each key's first bytes (a watcher's listing walks ~1,000 keys).
template <typename Map, typename Fn>
void ForPrefix(Map& map, std::string_view prefix, Fn fn) {
  std::string past(prefix);
  while (!past.empty() && static_cast<unsigned char>(past.back()) == 0xff) past.pop_back();
  const auto end = past.empty() ? map.end() : (past.back()++, map.lower_bound(past));
  for (auto it = map.lower_bound(std::string(prefix)); it != end; ++it) fn(*it);
}

bool HasAllTags(const Service& svc, const std::vector<std::string>& tags) {
  for (const std::string& want : tags) {
    bool found = false;
    for (const std::string& t : svc.tags) found = found || absl::EqualsIgnoreCase(t, want);
    if (!found) return false;
  }
  return true;
}

std::string Quote(std::string_view s) { return absl::StrCat("\"", Absl(s), "\""); }

}  // namespace

Time Store::AdvanceTime(Time t) {
  last_stamp_ = t;
  last_time_ = std::max(last_time_, t);
  return last_time_;
}

void Store::SetLastIndex(uint64_t index) {
  MUSTER_CHECK(index >= last_index_, "applied index went back: ", index, " < ", last_index_);
  last_index_ = index;
}

void Store::Touch(const char* table, uint64_t idx) {
  uint64_t& t = table_index_[table];
  MUSTER_CHECK_LE(t, idx, "table ", table, " index went back");
  t = idx;
  changes_.tables.insert(table);
}

uint64_t Store::TableIndex(std::string_view table) const {
  auto it = table_index_.find(std::string(table));
  return it == table_index_.end() ? 0 : it->second;
}

uint64_t Store::ServiceIndex(std::string_view service) const {
  auto it = service_index_.find(std::string(service));
  return NonZero(it == service_index_.end() ? TableIndex(kTableServices) : it->second);
}

ChangeSet Store::TakeChanges() { return std::exchange(changes_, ChangeSet()); }

// ---------------------------------------------------------------- catalog

void Store::TouchServiceName(uint64_t idx, const std::string& name) {
  service_index_[name] = idx;
  changes_.service_names.insert(name);
}

void Store::TouchServicesOfNode(uint64_t idx, const std::string& node) {
  for (auto it = services_.lower_bound(Key2{node, ""}); it != services_.end() && it->first.first == node; ++it) {
    TouchServiceName(idx, it->second.name);
  }
}

// A node-level check bears on every service of its node; a service check on its service.
void Store::TouchServicesOfCheck(uint64_t idx, const Check& check) {
  if (check.service_id.empty()) {
    TouchServicesOfNode(idx, check.node);
  } else {
    TouchServiceName(idx, check.service_name);
  }
}

absl::Status Store::ValidateRegistration(RegisterRequest& req) const {
  Node& node = req.node;
  if (node.name.empty()) return absl::InvalidArgumentError("Must provide node");
  auto existing = nodes_.find(node.name);
  bool node_update = !(req.skip_node_update && existing != nodes_.end());
  if (node_update) {
    if (node.address.empty()) return absl::InvalidArgumentError("Must provide address");
    if (!node.id.empty()) {
      auto owner = node_ids_.find(node.id);
      if (owner != node_ids_.end() && owner->second != node.name) {
        return absl::InvalidArgumentError(absl::StrCat("node ID ", Quote(node.id), " for node ",
                                                       Quote(node.name), " aliases existing node ",
                                                       Quote(owner->second)));
      }
    }
  }
  if (req.service.has_value()) {
    Service& svc = *req.service;
    if (svc.name.empty()) return absl::InvalidArgumentError("Must provide service name");
    if (svc.id.empty()) svc.id = svc.name;
    if (svc.port < 0 || svc.port > 65535) return absl::InvalidArgumentError("Invalid service port");
  }
  for (Check& check : req.checks) {
    if (check.node.empty()) check.node = node.name;
    if (check.node != node.name) {
      return absl::InvalidArgumentError(absl::StrCat("Check node ", Quote(check.node),
                                                     " does not match node ", Quote(node.name)));
    }
    if (check.check_id.empty()) check.check_id = check.name;
    if (check.check_id.empty()) return absl::InvalidArgumentError("Must provide check ID or name");
    if (!check.service_id.empty()) {
      bool in_request = req.service.has_value() && req.service->id == check.service_id;
      if (!in_request && !services_.contains(Key2{node.name, check.service_id})) {
        return absl::InvalidArgumentError(absl::StrCat("Missing service registration for check ",
                                                       Quote(check.check_id), ": service ",
                                                       Quote(check.service_id)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Store::Register(uint64_t idx, Time now, RegisterRequest req) {
  if (absl::Status s = ValidateRegistration(req); !s.ok()) return s;
  const std::string name = req.node.name;
  if (!(req.skip_node_update && nodes_.contains(name))) EnsureNode(idx, std::move(req.node));
  if (req.service.has_value()) EnsureService(idx, name, std::move(*req.service));
  for (Check& c : req.checks) EnsureCheck(idx, now, std::move(c));
  return absl::OkStatus();
}

void Store::EnsureNode(uint64_t idx, Node node) {
  auto it = nodes_.find(node.name);
  if (it != nodes_.end()) {
    if (it->second.SameContent(node)) return;  // an unchanged re-registration moves no index
    node.create_index = it->second.create_index;
    if (it->second.id != node.id && !it->second.id.empty()) node_ids_.erase(it->second.id);
  } else {
    node.create_index = idx;
  }
  node.modify_index = idx;
  if (!node.id.empty()) node_ids_[node.id] = node.name;
  const std::string name = node.name;
  nodes_[name] = std::move(node);
  Touch(kTableNodes, idx);
  changes_.nodes.insert(name);
  TouchServicesOfNode(idx, name);
}

void Store::EnsureService(uint64_t idx, const std::string& node, Service svc) {
  MUSTER_CHECK(nodes_.contains(node), "service on unknown node ", node);
  Key2 key{node, svc.id};
  auto it = services_.find(key);
  if (it != services_.end()) {
    if (it->second.SameContent(svc)) return;
    svc.create_index = it->second.create_index;
    if (it->second.name != svc.name) {
      auto& set = services_by_name_[it->second.name];
      set.erase(key);
      if (set.empty()) services_by_name_.erase(it->second.name);
      TouchServiceName(idx, it->second.name);
    }
  } else {
    svc.create_index = idx;
  }
  svc.modify_index = idx;
  services_by_name_[svc.name].insert(key);
  const Service& stored = services_[key] = std::move(svc);
  Touch(kTableServices, idx);
  TouchServiceName(idx, stored.name);
  changes_.nodes.insert(node);
  // The service's checks carry its name and tags (ServiceName, ServiceTags): keep them true.
  for (auto c = checks_.lower_bound(Key2{node, ""}); c != checks_.end() && c->first.first == node; ++c) {
    Check& check = c->second;
    if (check.service_id != stored.id) continue;
    if (check.service_name == stored.name && check.service_tags == stored.tags) continue;
    check.service_name = stored.name;
    check.service_tags = stored.tags;
    check.modify_index = idx;
    Touch(kTableChecks, idx);
  }
}

void Store::EnsureCheck(uint64_t idx, Time now, Check check) {
  MUSTER_CHECK(nodes_.contains(check.node), "check on unknown node ", check.node);
  if (!check.service_id.empty()) {
    const Service& svc = services_.at(Key2{check.node, check.service_id});
    check.service_name = svc.name;
    check.service_tags = svc.tags;
  } else {
    check.service_name.clear();
    check.service_tags.clear();
  }
  Key2 key{check.node, check.check_id};
  auto it = checks_.find(key);
  if (it != checks_.end()) {
    if (it->second.SameContent(check)) return;
    check.create_index = it->second.create_index;
    TouchServicesOfCheck(idx, it->second);  // whatever the old check bore on changed too
  } else {
    check.create_index = idx;
  }
  check.modify_index = idx;
  const bool critical = check.status == HealthStatus::kCritical;
  TouchServicesOfCheck(idx, check);
  changes_.nodes.insert(check.node);
  checks_[key] = std::move(check);
  Touch(kTableChecks, idx);
  // docs: api/session "Create Session": a session is invalidated when one of its checks
  // turns critical.
  if (critical) InvalidateSessionsOnCheck(idx, now, key.first, key.second);
}

void Store::DeleteCheck(uint64_t idx, Time now, const Key2& key) {
  auto it = checks_.find(key);
  if (it == checks_.end()) return;
  TouchServicesOfCheck(idx, it->second);
  checks_.erase(it);
  Touch(kTableChecks, idx);
  changes_.nodes.insert(key.first);
  // A session cannot outlive a check it depends on (Consul's deleteCheckTxn).
  InvalidateSessionsOnCheck(idx, now, key.first, key.second);
}

void Store::DeleteService(uint64_t idx, Time now, const Key2& key) {
  auto it = services_.find(key);
  if (it == services_.end()) return;
  for (const Check& c : ChecksOfService(key.first, key.second)) {
    DeleteCheck(idx, now, Key2{c.node, c.check_id});
  }
  it = services_.find(key);
  const std::string name = it->second.name;
  auto& set = services_by_name_[name];
  set.erase(key);
  if (set.empty()) services_by_name_.erase(name);
  services_.erase(it);
  Touch(kTableServices, idx);
  TouchServiceName(idx, name);
  changes_.nodes.insert(key.first);
}

absl::Status Store::DeregisterNode(uint64_t idx, Time now, std::string_view node_name) {
  const std::string node(node_name);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return absl::OkStatus();
  for (const Check& c : ChecksOfNode(node, /*node_level_only=*/false)) {
    DeleteCheck(idx, now, Key2{node, c.check_id});
  }
  std::vector<Key2> services;
  for (auto s = services_.lower_bound(Key2{node, ""}); s != services_.end() && s->first.first == node; ++s) {
    services.push_back(s->first);
  }
  for (const Key2& k : services) DeleteService(idx, now, k);
  // docs: api/session: sessions are tied to their node; deregistering it destroys them.
  if (auto s = sessions_by_node_.find(node); s != sessions_by_node_.end()) {
    std::vector<std::string> ids(s->second.begin(), s->second.end());
    for (const std::string& id : ids) InvalidateSession(idx, now, id);
  }
  DeleteNodeCoordinates(idx, node);
  it = nodes_.find(node);
  if (!it->second.id.empty()) node_ids_.erase(it->second.id);
  nodes_.erase(it);
  Touch(kTableNodes, idx);
  changes_.nodes.insert(node);
  return absl::OkStatus();
}

absl::Status Store::DeregisterService(uint64_t idx, Time now, std::string_view node,
                                      std::string_view service_id) {
  DeleteService(idx, now, Key2{std::string(node), std::string(service_id)});
  return absl::OkStatus();
}

absl::Status Store::DeregisterCheck(uint64_t idx, Time now, std::string_view node,
                                    std::string_view check_id) {
  DeleteCheck(idx, now, Key2{std::string(node), std::string(check_id)});
  return absl::OkStatus();
}

std::vector<Check> Store::ChecksOfNode(const std::string& node, bool node_level_only) const {
  std::vector<Check> out;
  for (auto it = checks_.lower_bound(Key2{node, ""}); it != checks_.end() && it->first.first == node; ++it) {
    if (!node_level_only || it->second.service_id.empty()) out.push_back(it->second);
  }
  return out;
}

std::vector<Check> Store::ChecksOfService(const std::string& node, const std::string& service_id) const {
  std::vector<Check> out;
  for (auto it = checks_.lower_bound(Key2{node, ""}); it != checks_.end() && it->first.first == node; ++it) {
    if (it->second.service_id == service_id) out.push_back(it->second);
  }
  return out;
}

// ---------------------------------------------------------------- catalog queries

Indexed<std::vector<Node>> Store::Nodes() const {
  Indexed<std::vector<Node>> r;
  r.index = NonZero(TableIndex(kTableNodes));
  for (const auto& [name, node] : nodes_) r.value.push_back(node);
  return r;
}

std::optional<Node> Store::GetNode(std::string_view name) const {
  auto it = nodes_.find(std::string(name));
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

Indexed<std::vector<std::pair<std::string, std::vector<std::string>>>> Store::Services() const {
  Indexed<std::vector<std::pair<std::string, std::vector<std::string>>>> r;
  r.index = NonZero(TableIndex(kTableServices));
  for (const auto& [name, keys] : services_by_name_) {
    absl::btree_set<std::string> tags;
    for (const Key2& k : keys) {
      const Service& s = services_.at(k);
      tags.insert(s.tags.begin(), s.tags.end());
    }
    r.value.emplace_back(name, std::vector<std::string>(tags.begin(), tags.end()));
  }
  return r;
}

Indexed<std::vector<ServiceInstance>> Store::ServiceNodes(std::string_view service,
                                                          const std::vector<std::string>& tags) const {
  Indexed<std::vector<ServiceInstance>> r;
  r.index = ServiceIndex(service);
  auto it = services_by_name_.find(std::string(service));
  if (it == services_by_name_.end()) return r;
  for (const Key2& k : it->second) {
    const Service& svc = services_.at(k);
    if (!HasAllTags(svc, tags)) continue;
    r.value.push_back(ServiceInstance{nodes_.at(k.first), svc});
  }
  return r;
}

Indexed<std::optional<NodeServices>> Store::GetNodeServices(std::string_view node_name) const {
  Indexed<std::optional<NodeServices>> r;
  r.index = NonZero(std::max(TableIndex(kTableNodes), TableIndex(kTableServices)));
  const std::string node(node_name);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return r;
  NodeServices ns{it->second, {}};
  for (auto s = services_.lower_bound(Key2{node, ""}); s != services_.end() && s->first.first == node; ++s) {
    ns.services.push_back(s->second);
  }
  r.value = std::move(ns);
  return r;
}

Indexed<std::vector<Check>> Store::NodeChecks(std::string_view node) const {
  return {NonZero(TableIndex(kTableChecks)), ChecksOfNode(std::string(node), false)};
}

Indexed<std::vector<Check>> Store::ServiceChecks(std::string_view service) const {
  Indexed<std::vector<Check>> r;
  r.index = ServiceIndex(service);
  auto it = services_by_name_.find(std::string(service));
  if (it == services_by_name_.end()) return r;
  for (const Key2& k : it->second) {
    for (Check& c : ChecksOfService(k.first, k.second)) r.value.push_back(std::move(c));
  }
  return r;
}

absl::StatusOr<Indexed<std::vector<Check>>> Store::ChecksInState(std::string_view state) const {
  std::optional<HealthStatus> want;
  if (state != "any") {
    absl::StatusOr<HealthStatus> s = ParseHealthStatus(state);
    if (!s.ok()) return s.status();
    want = *s;
  }
  Indexed<std::vector<Check>> r;
  r.index = NonZero(TableIndex(kTableChecks));
  for (const auto& [key, c] : checks_) {
    if (!want.has_value() || c.status == *want) r.value.push_back(c);
  }
  return r;
}

Indexed<std::vector<ServiceHealth>> Store::ServiceHealthQuery(std::string_view service,
                                                              const std::vector<std::string>& tags,
                                                              bool passing_only) const {
  Indexed<std::vector<ServiceHealth>> r;
  r.index = ServiceIndex(service);
  auto it = services_by_name_.find(std::string(service));
  if (it == services_by_name_.end()) return r;
  for (const Key2& k : it->second) {
    const Service& svc = services_.at(k);
    if (!HasAllTags(svc, tags)) continue;
    ServiceHealth h{nodes_.at(k.first), svc, ChecksOfNode(k.first, /*node_level_only=*/true)};
    for (Check& c : ChecksOfService(k.first, k.second)) h.checks.push_back(std::move(c));
    if (passing_only && AggregateStatus(h.checks) != HealthStatus::kPassing) continue;
    r.value.push_back(std::move(h));
  }
  return r;
}

Check NodeMaintenanceCheck(std::string node, std::string reason) {
  Check c;
  c.node = std::move(node);
  c.check_id = std::string(kNodeMaintenanceCheckId);
  c.name = "Node Maintenance Mode";
  c.notes = reason.empty() ? "Maintenance mode is enabled for this node" : std::move(reason);
  c.status = HealthStatus::kCritical;
  c.type = "maintenance";
  return c;
}

Check ServiceMaintenanceCheck(std::string node, const Service& service, std::string reason) {
  Check c;
  c.node = std::move(node);
  c.check_id = absl::StrCat(Absl(kServiceMaintenanceCheckPrefix), service.id);
  c.name = "Service Maintenance Mode";
  c.notes = reason.empty() ? "Maintenance mode is enabled for this service" : std::move(reason);
  c.status = HealthStatus::kCritical;
  c.service_id = service.id;
  c.type = "maintenance";
  return c;
}

// ---------------------------------------------------------------- KV

absl::Status Store::ValidateKVWrite(const KVEntry& entry) const {
  if (entry.key.empty()) return absl::InvalidArgumentError("Missing key name");
  if (entry.value.size() > config_.kv_value_bytes_max) {
    return absl::ResourceExhaustedError(absl::StrCat("Request body(", entry.value.size(),
                                                     " bytes) too large, max size: ",
                                                     config_.kv_value_bytes_max, " bytes"));
  }
  return absl::OkStatus();
}

void Store::SaveUndo(const std::string& key) {
  if (!undo_active_ || undo_.contains(key)) return;
  Undo u;
  if (auto it = kv_.find(key); it != kv_.end()) u.entry = it->second;
  if (auto it = tombstones_.find(key); it != tombstones_.end()) u.tombstone = it->second;
  undo_.emplace(key, std::move(u));
}

namespace {
void EraseFromSet(absl::btree_map<std::string, absl::btree_set<std::string>>& m, const std::string& k,
                  const std::string& v) {
  auto it = m.find(k);
  if (it == m.end()) return;
  it->second.erase(v);
  if (it->second.empty()) m.erase(it);
}
}  // namespace

void Store::PutKV(uint64_t idx, KVEntry entry) {
  SaveUndo(entry.key);
  entry.modify_index = idx;
  auto it = kv_.find(entry.key);
  if (it != kv_.end() && !it->second.session.empty() && it->second.session != entry.session) {
    EraseFromSet(session_locks_, it->second.session, entry.key);
  }
  if (!entry.session.empty()) {
    MUSTER_CHECK(sessions_.contains(entry.session), "lock by unknown session ", entry.session);
    session_locks_[entry.session].insert(entry.key);
  }
  EraseTombstone(entry.key);
  changes_.kv_keys.insert(entry.key);
  SetKVRow(std::move(entry));
  Touch(kTableKVs, idx);
}

void Store::EraseKV(uint64_t idx, const std::string& key) {
  auto it = kv_.find(key);
  if (it == kv_.end()) return;
  SaveUndo(key);
  if (!it->second.session.empty()) EraseFromSet(session_locks_, it->second.session, key);
  EraseKVRow(it);
  SetTombstone(key, idx);  // so a prefix's index covers deletes too
  changes_.kv_keys.insert(key);
  Touch(kTableKVs, idx);
}

absl::StatusOr<bool> Store::KVSet(uint64_t idx, KVEntry entry) {
  if (absl::Status s = ValidateKVWrite(entry); !s.ok()) return s;
  // docs: api/kv "Create/Update Key": an update keeps CreateIndex, LockIndex and the holder.
  auto it = kv_.find(entry.key);
  if (it != kv_.end()) {
    entry.create_index = it->second.create_index;
    entry.lock_index = it->second.lock_index;
    entry.session = it->second.session;
  } else {
    entry.create_index = idx;
    entry.lock_index = 0;
    entry.session.clear();
  }
  PutKV(idx, std::move(entry));
  return true;
}

bool Store::KVCasInternal(uint64_t idx, KVEntry entry, uint64_t cas_index) {
  // docs: api/kv "cas": 0 puts only if the key does not exist; otherwise only if the key's
  // ModifyIndex matches (so CAS on a missing key with a non-zero index fails).
  auto it = kv_.find(entry.key);
  if (cas_index == 0 && it != kv_.end()) return false;
  if (cas_index != 0 && (it == kv_.end() || it->second.modify_index != cas_index)) return false;
  MUSTER_CHECK(KVSet(idx, std::move(entry)).ok());
  return true;
}

absl::StatusOr<bool> Store::KVCas(uint64_t idx, KVEntry entry, uint64_t cas_index) {
  if (absl::Status s = ValidateKVWrite(entry); !s.ok()) return s;
  return KVCasInternal(idx, std::move(entry), cas_index);
}

absl::StatusOr<bool> Store::KVLockInternal(uint64_t idx, Time now, KVEntry entry) {
  if (entry.session.empty()) return absl::InvalidArgumentError("Missing session");
  if (!sessions_.contains(entry.session)) {
    return absl::FailedPreconditionError(absl::StrCat("invalid session ", Quote(entry.session)));
  }
  // docs: api/session "LockDelay": after a session holding the key is invalidated, the key
  // cannot be acquired until the delay has passed.
  if (auto d = lock_delays_.find(entry.key); d != lock_delays_.end() && now < d->second) return false;
  auto it = kv_.find(entry.key);
  if (it != kv_.end()) {
    entry.create_index = it->second.create_index;
    if (it->second.session == entry.session) {
      entry.lock_index = it->second.lock_index;  // re-acquire by the holder: just an update
    } else if (!it->second.session.empty()) {
      return false;  // held by another session
    } else {
      entry.lock_index = it->second.lock_index + 1;
    }
  } else {
    entry.create_index = idx;
    entry.lock_index = 1;
  }
  PutKV(idx, std::move(entry));
  return true;
}

absl::StatusOr<bool> Store::KVLock(uint64_t idx, Time now, KVEntry entry) {
  if (absl::Status s = ValidateKVWrite(entry); !s.ok()) return s;
  return KVLockInternal(idx, now, std::move(entry));
}

bool Store::KVUnlockInternal(uint64_t idx, KVEntry entry) {
  auto it = kv_.find(entry.key);
  if (it == kv_.end() || it->second.session.empty() || it->second.session != entry.session) {
    return false;  // not locked, or locked by another session
  }
  entry.create_index = it->second.create_index;
  entry.lock_index = it->second.lock_index;
  entry.session.clear();
  PutKV(idx, std::move(entry));
  return true;
}

absl::StatusOr<bool> Store::KVUnlock(uint64_t idx, KVEntry entry) {
  if (absl::Status s = ValidateKVWrite(entry); !s.ok()) return s;
  if (entry.session.empty()) return absl::InvalidArgumentError("Missing session");
  return KVUnlockInternal(idx, std::move(entry));
}

absl::StatusOr<bool> Store::KVDelete(uint64_t idx, std::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("Missing key name");
  EraseKV(idx, std::string(key));
  return true;
}

bool Store::KVDeleteCasInternal(uint64_t idx, const std::string& key, uint64_t cas_index) {
  auto it = kv_.find(key);
  // As Consul's kvsDeleteCASTxn: a key that is already gone counts as deleted.
  if (it == kv_.end()) return true;
  if (it->second.modify_index != cas_index) return false;
  EraseKV(idx, key);
  return true;
}

absl::StatusOr<bool> Store::KVDeleteCas(uint64_t idx, std::string_view key, uint64_t cas_index) {
  if (key.empty()) return absl::InvalidArgumentError("Missing key name");
  return KVDeleteCasInternal(idx, std::string(key), cas_index);
}

void Store::KVDeleteTreeInternal(uint64_t idx, std::string_view prefix) {
  std::vector<std::string> keys;
  ForPrefix(kv_, prefix, [&](const auto& kv) { keys.push_back(kv.first); });
  for (const std::string& k : keys) EraseKV(idx, k);
}

absl::StatusOr<bool> Store::KVDeleteTree(uint64_t idx, std::string_view prefix) {
  KVDeleteTreeInternal(idx, prefix);
  return true;
}

void Store::ReapTombstones(uint64_t idx, uint64_t up_to_index) {
  MUSTER_CHECK_LE(up_to_index, idx);
  for (auto it = tombstones_.begin(); it != tombstones_.end();) {
    it = it->second <= up_to_index ? EraseTombstone(it) : std::next(it);
  }
}

Indexed<std::optional<KVEntry>> Store::KVGet(std::string_view key) const {
  Indexed<std::optional<KVEntry>> r;
  const std::string k(key);
  uint64_t index = 0;
  if (auto it = kv_.find(k); it != kv_.end()) {
    r.value = it->second;
    index = it->second.modify_index;
  } else if (auto t = tombstones_.find(k); t != tombstones_.end()) {
    index = t->second;
  }
  r.index = NonZero(index != 0 ? index : TableIndex(kTableKVs));
  return r;
}

uint64_t Store::KVPrefixIndex(std::string_view prefix) const {
  uint64_t index = 0;
  ForPrefix(kv_, prefix, [&](const auto& kv) { index = std::max(index, kv.second.modify_index); });
  ForPrefix(tombstones_, prefix, [&](const auto& t) { index = std::max(index, t.second); });
  return index;
}

Indexed<std::vector<KVEntry>> Store::KVList(std::string_view prefix) const {
  Indexed<std::vector<KVEntry>> r;
  ForPrefix(kv_, prefix, [&](const auto& kv) { r.value.push_back(kv.second); });
  uint64_t index = KVPrefixIndex(prefix);
  r.index = NonZero(index != 0 ? index : TableIndex(kTableKVs));
  return r;
}

Indexed<std::vector<std::string>> Store::KVKeys(std::string_view prefix,
                                                std::string_view separator) const {
  Indexed<std::vector<std::string>> r;
  r.index = ForEachKVKey(prefix, separator, [&](std::string_view key) { r.value.emplace_back(key); });
  return r;
}

// One walk gives the keys and their share of KVPrefixIndex (the watchers' listings of a big
// prefix are most of what a simulated cluster under writes spends on reads).
uint64_t Store::ForEachKVKey(std::string_view prefix, std::string_view separator,
                             absl::FunctionRef<void(std::string_view)> fn) const {
  uint64_t index = 0;
  std::optional<std::string_view> last;
  ForPrefix(kv_, prefix, [&](const auto& kv) {
    index = std::max(index, kv.second.modify_index);
    std::string_view out = kv.first;
    if (!separator.empty()) {
      const size_t pos = out.substr(prefix.size()).find(separator);
      if (pos != std::string_view::npos) out = out.substr(0, prefix.size() + pos + separator.size());
      // Keys come sorted, so keys cut to the same "directory" are adjacent.
      if (last.has_value() && *last == out) return;
    }
    last = out;
    fn(out);
  });
  ForPrefix(tombstones_, prefix, [&](const auto& t) { index = std::max(index, t.second); });
  return NonZero(index != 0 ? index : TableIndex(kTableKVs));
}

std::optional<Time> Store::KVLockDelay(std::string_view key) const {
  auto it = lock_delays_.find(std::string(key));
  if (it == lock_delays_.end()) return std::nullopt;
  return it->second;
}

// ---------------------------------------------------------------- sessions

absl::Status Store::ValidateSessionCheck(const std::string& node, const std::string& check_id,
                                         bool service_check) const {
  auto it = checks_.find(Key2{node, check_id});
  if (it == checks_.end() || service_check == it->second.service_id.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("Missing check '", check_id, "' registration"));
  }
  if (it->second.status == HealthStatus::kCritical) {
    return absl::FailedPreconditionError(absl::StrCat("Check '", check_id, "' is in critical state"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Session> Store::SessionCreate(uint64_t idx, Time now, Session s,
                                             bool default_node_checks) {
  if (s.id.empty()) return absl::InvalidArgumentError("Missing session ID");
  if (sessions_.contains(s.id)) return absl::AlreadyExistsError("Session ID already in use");
  if (s.node.empty()) return absl::InvalidArgumentError("Must provide Node");
  if (!nodes_.contains(s.node)) return absl::FailedPreconditionError("Missing node registration");
  if (s.ttl != absl::ZeroDuration() &&
      (s.ttl < config_.session_ttl_min || s.ttl > config_.session_ttl_max)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid Session TTL '", absl::FormatDuration(s.ttl), "', must be between [",
        absl::FormatDuration(config_.session_ttl_min), "=", absl::FormatDuration(config_.session_ttl_max), "]"));
  }
  if (s.lock_delay < absl::ZeroDuration()) return absl::InvalidArgumentError("Negative LockDelay");
  s.lock_delay = std::min(s.lock_delay, config_.lock_delay_max);  // Consul caps it at 60s
  if (default_node_checks) s.node_checks = {std::string(kSerfCheckId)};
  for (const std::string& c : s.node_checks) {
    if (absl::Status st = ValidateSessionCheck(s.node, c, false); !st.ok()) return st;
  }
  for (const std::string& c : s.service_checks) {
    if (absl::Status st = ValidateSessionCheck(s.node, c, true); !st.ok()) return st;
  }
  s.create_index = idx;
  s.modify_index = idx;
  s.expires_at = s.ttl > absl::ZeroDuration() ? now + s.ttl * config_.session_ttl_multiplier
                                               : absl::InfinitePast();
  sessions_by_node_[s.node].insert(s.id);
  sessions_[s.id] = s;
  Touch(kTableSessions, idx);
  changes_.sessions.insert(s.id);
  return s;
}

absl::StatusOr<Session> Store::SessionRenew(Time now, std::string_view id) {
  auto it = sessions_.find(std::string(id));
  if (it == sessions_.end()) {
    return absl::NotFoundError(absl::StrCat("Session id '", Absl(id), "' not found"));
  }
  Session& s = it->second;
  if (s.ttl > absl::ZeroDuration()) s.expires_at = now + s.ttl * config_.session_ttl_multiplier;
  return s;
}

absl::Status Store::SessionDestroy(uint64_t idx, Time now, std::string_view id) {
  InvalidateSession(idx, now, std::string(id));
  return absl::OkStatus();
}

bool Store::SessionExpire(uint64_t idx, Time now, std::string_view id) {
  auto it = sessions_.find(std::string(id));
  if (it == sessions_.end() || it->second.ttl == absl::ZeroDuration() || it->second.expires_at > now) {
    return false;
  }
  InvalidateSession(idx, now, std::string(id));  // not it->first: the entry is erased
  return true;
}

std::vector<std::string> Store::SessionsExpiredAt(Time now) const {
  std::vector<std::string> out;
  for (const auto& [id, s] : sessions_) {
    if (s.ttl > absl::ZeroDuration() && s.expires_at <= now) out.push_back(id);
  }
  return out;
}

std::optional<Time> Store::NextSessionExpiry() const {
  std::optional<Time> next;
  for (const auto& [id, s] : sessions_) {
    if (s.ttl > absl::ZeroDuration() && (!next.has_value() || s.expires_at < *next)) next = s.expires_at;
  }
  return next;
}

void Store::InvalidateSession(uint64_t idx, Time now, std::string id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  const Session s = std::move(it->second);
  sessions_.erase(it);
  EraseFromSet(sessions_by_node_, s.node, id);
  for (auto d = lock_delays_.begin(); d != lock_delays_.end();) {
    d = d->second <= now ? lock_delays_.erase(d) : std::next(d);
  }
  if (auto held = session_locks_.find(id); held != session_locks_.end()) {
    const std::vector<std::string> keys(held->second.begin(), held->second.end());
    for (const std::string& key : keys) {
      if (s.behavior == SessionBehavior::kRelease) {
        KVEntry e = kv_.at(key);
        e.session.clear();
        PutKV(idx, std::move(e));
      } else {
        EraseKV(idx, key);
      }
      if (s.lock_delay > absl::ZeroDuration()) lock_delays_[key] = now + s.lock_delay;
    }
  }
  MUSTER_CHECK(!session_locks_.contains(id), "session ", id, " still holds locks");
  Touch(kTableSessions, idx);
  changes_.sessions.insert(id);
}

void Store::InvalidateSessionsOnCheck(uint64_t idx, Time now, const std::string& node,
                                      const std::string& check_id) {
  auto by_node = sessions_by_node_.find(node);
  if (by_node == sessions_by_node_.end()) return;
  std::vector<std::string> doomed;
  for (const std::string& id : by_node->second) {
    const Session& s = sessions_.at(id);
    auto uses = [&](const std::vector<std::string>& v) {
      return std::find(v.begin(), v.end(), check_id) != v.end();
    };
    if (uses(s.node_checks) || uses(s.service_checks)) doomed.push_back(id);
  }
  for (const std::string& id : doomed) InvalidateSession(idx, now, id);
}

Indexed<std::optional<Session>> Store::SessionGet(std::string_view id) const {
  Indexed<std::optional<Session>> r;
  r.index = NonZero(TableIndex(kTableSessions));
  if (auto it = sessions_.find(std::string(id)); it != sessions_.end()) r.value = it->second;
  return r;
}

Indexed<std::vector<Session>> Store::SessionList() const {
  Indexed<std::vector<Session>> r;
  r.index = NonZero(TableIndex(kTableSessions));
  for (const auto& [id, s] : sessions_) r.value.push_back(s);
  return r;
}

Indexed<std::vector<Session>> Store::NodeSessions(std::string_view node) const {
  Indexed<std::vector<Session>> r;
  r.index = NonZero(TableIndex(kTableSessions));
  if (auto it = sessions_by_node_.find(std::string(node)); it != sessions_by_node_.end()) {
    for (const std::string& id : it->second) r.value.push_back(sessions_.at(id));
  }
  return r;
}

const Store::KeyListingMemo* Store::FindKeyListingMemo(std::string_view prefix, std::string_view separator) const {
  for (const KeyListingMemo& m : key_listing_memos_) {
    if (m.prefix == prefix && m.separator == separator) return &m;
  }
  return nullptr;
}

void Store::KeepKeyListingMemo(KeyListingMemo memo) const {
  if (memo.body.size() > kKeyListingMemoBytesMax) return;
  for (auto it = key_listing_memos_.begin(); it != key_listing_memos_.end(); ++it) {
    if (it->prefix == memo.prefix && it->separator == memo.separator) {
      key_listing_memos_.erase(it);
      break;
    }
  }
  if (key_listing_memos_.size() >= kKeyListingMemosMax) key_listing_memos_.erase(key_listing_memos_.begin());
  key_listing_memos_.push_back(std::move(memo));
  MUSTER_CHECK_LE(key_listing_memos_.size(), kKeyListingMemosMax, "key listing memos");
}

void Store::DropKeyListingMemos(std::string_view key) {
  if (key_listing_memos_.empty()) return;
  std::erase_if(key_listing_memos_, [&](const KeyListingMemo& m) { return key.substr(0, m.prefix.size()) == m.prefix; });
}

void Store::SetKVRow(KVEntry entry) {
  DropKeyListingMemos(entry.key);
  const uint64_t row = KVRowHash(entry);
  auto it = kv_.find(entry.key);
  if (it == kv_.end()) {
    const std::string key = entry.key;
    kv_.emplace(key, std::move(entry));
  } else {
    kv_rows_hash_ -= KVRowHash(it->second);
    it->second = std::move(entry);
  }
  kv_rows_hash_ += row;
}

void Store::EraseKVRow(absl::btree_map<std::string, KVEntry>::iterator it) {
  DropKeyListingMemos(it->first);
  kv_rows_hash_ -= KVRowHash(it->second);
  kv_.erase(it);
}

void Store::SetTombstone(const std::string& key, uint64_t index) {
  DropKeyListingMemos(key);
  auto [it, inserted] = tombstones_.try_emplace(key, index);
  if (!inserted) {
    tombstone_rows_hash_ -= TombstoneRowHash(key, it->second);
    it->second = index;
  }
  tombstone_rows_hash_ += TombstoneRowHash(key, index);
}

absl::btree_map<std::string, uint64_t>::iterator Store::EraseTombstone(
    absl::btree_map<std::string, uint64_t>::iterator it) {
  DropKeyListingMemos(it->first);
  tombstone_rows_hash_ -= TombstoneRowHash(it->first, it->second);
  return tombstones_.erase(it);
}

void Store::EraseTombstone(const std::string& key) {
  if (auto it = tombstones_.find(key); it != tombstones_.end()) EraseTombstone(it);
}

void Store::Clear() {
  const StoreConfig config = config_;
  *this = Store(config);
}

}  // namespace muster::state
