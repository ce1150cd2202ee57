// Store snapshot and restore (one protobuf Snapshot message, serialized deterministically so
// equal states give equal bytes) and the content hash the simulator compares servers by.
#include <bit>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "core/base/hash.h"
#include "core/state/codec.h"
#include "core/state/store.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace muster::state {
namespace {

// Version 1 holds everything but autopilot's configuration; version 2 adds it (the Snapshot's
// `autopilot` field). The field is optional, so a store without a configuration still writes
// version 1, byte for byte as before (the simulator's fingerprints fold snapshot bytes), and a
// store with one writes version 2, which a version-1 reader refuses loudly: protobuf would
// skip the unknown field, and that server would restore without the configuration, its
// autopilot and state hash parting silently from the others'. Both versions restore here.
// Version 3 adds network coordinates (the `coordinates` field, with or without autopilot's
// configuration), by the same rule: written only by a state that has one, so states without
// coordinates keep their bytes, and refused by a reader of versions 1 and 2.
constexpr uint32_t kSnapshotVersionBase = 1;
constexpr uint32_t kSnapshotVersionAutopilot = 2;
constexpr uint32_t kSnapshotVersionCoordinates = 3;

std::string SerializeDeterministic(const google::protobuf::MessageLite& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    MUSTER_CHECK(m.SerializeToCodedStream(&coded));
  }
  return out;
}

}  // namespace

std::string Store::Snapshot() const {
  MUSTER_CHECK(!undo_active_);
  pb::Snapshot snap;
  snap.set_version(!coordinates_.empty()    ? kSnapshotVersionCoordinates
                   : autopilot_.has_value() ? kSnapshotVersionAutopilot
                                            : kSnapshotVersionBase);
  snap.set_last_index(last_index_);
  snap.set_last_time_unix_ns(TimeToNanos(last_time_));
  snap.set_last_stamp_unix_ns(TimeToNanos(last_stamp_));
  for (const auto& [name, n] : nodes_) *snap.add_nodes() = ToProto(n);
  for (const auto& [key, s] : services_) {
    pb::StoredService* ss = snap.add_services();
    ss->set_node(key.first);
    *ss->mutable_service() = ToProto(s);
  }
  for (const auto& [key, c] : checks_) *snap.add_checks() = ToProto(c);
  for (const auto& [key, e] : kv_) *snap.add_kvs() = ToProto(e);
  for (const auto& [key, idx] : tombstones_) {
    pb::Tombstone* t = snap.add_tombstones();
    t->set_key(key);
    t->set_index(idx);
  }
  for (const auto& [id, s] : sessions_) *snap.add_sessions() = ToProto(s);
  for (const auto& [key, until] : lock_delays_) {
    pb::LockDelay* d = snap.add_lock_delays();
    d->set_key(key);
    d->set_until_unix_ns(TimeToNanos(until));
  }
  for (const auto& [name, idx] : table_index_) {
    pb::NamedIndex* i = snap.add_table_indexes();
    i->set_name(name);
    i->set_index(idx);
  }
  for (const auto& [name, idx] : service_index_) {
    pb::NamedIndex* i = snap.add_service_indexes();
    i->set_name(name);
    i->set_index(idx);
  }
  if (autopilot_.has_value()) *snap.mutable_autopilot() = ToProto(*autopilot_);
  for (const auto& [key, c] : coordinates_) *snap.add_coordinates() = ToProto(c);
  return SerializeDeterministic(snap);
}

absl::Status Store::Restore(std::string_view bytes) {
  pb::Snapshot snap;
  if (!snap.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("state snapshot does not parse");
  }
  if (snap.version() != kSnapshotVersionBase && snap.version() != kSnapshotVersionAutopilot &&
      snap.version() != kSnapshotVersionCoordinates) {
    return absl::FailedPreconditionError(absl::StrCat("unknown state snapshot version ", snap.version()));
  }
  if ((snap.coordinates_size() > 0) != (snap.version() == kSnapshotVersionCoordinates)) {
    return absl::DataLossError(absl::StrCat("snapshot: version ", snap.version(),
                                            snap.coordinates_size() > 0 ? " with" : " without", " coordinates"));
  }
  if (snap.version() != kSnapshotVersionCoordinates &&
      snap.has_autopilot() != (snap.version() == kSnapshotVersionAutopilot)) {
    return absl::DataLossError(absl::StrCat("snapshot: version ", snap.version(),
                                            snap.has_autopilot() ? " with" : " without",
                                            " an autopilot configuration"));
  }
  std::optional<AutopilotConfiguration> autopilot;
  if (snap.has_autopilot()) {
    autopilot = FromProto(snap.autopilot());
    if (absl::Status s = ValidateAutopilot(*autopilot); !s.ok()) {
      return absl::DataLossError(absl::StrCat("snapshot: ", s.message()));
    }
    if (autopilot->create_index == 0 || autopilot->create_index > autopilot->modify_index) {
      return absl::DataLossError("snapshot: autopilot configuration indexes out of order");
    }
  }
  // Check the references between tables before replacing anything.
  absl::btree_set<std::string> node_names, session_ids;
  for (const pb::Node& n : snap.nodes()) node_names.insert(n.name());
  for (const pb::Session& s : snap.sessions()) session_ids.insert(s.id());
  for (const pb::StoredService& s : snap.services()) {
    if (!node_names.contains(s.node())) return absl::DataLossError("snapshot: service on unknown node");
  }
  for (const pb::Check& c : snap.checks()) {
    if (!node_names.contains(c.node())) return absl::DataLossError("snapshot: check on unknown node");
  }
  for (const pb::KVEntry& e : snap.kvs()) {
    if (!e.session().empty() && !session_ids.contains(e.session())) {
      return absl::DataLossError("snapshot: key locked by unknown session");
    }
  }
  for (const pb::Session& s : snap.sessions()) {
    if (!node_names.contains(s.node())) return absl::DataLossError("snapshot: session on unknown node");
  }
  std::vector<NodeCoordinate> coordinates;
  for (const pb::NodeCoordinate& p : snap.coordinates()) {
    if (!node_names.contains(p.node())) return absl::DataLossError("snapshot: coordinate of unknown node");
    if (p.vec_size() > static_cast<int>(kCoordinateDimensionsMax)) {
      return absl::DataLossError("snapshot: coordinate of too many dimensions");
    }
    coordinates.push_back(FromProto(p));
    if (!CoordinateValuesValid(coordinates.back())) return absl::DataLossError("snapshot: coordinate not finite");
    if (coordinates.size() > 1 && !(std::pair(coordinates[coordinates.size() - 2].node, coordinates[coordinates.size() - 2].segment) <
                                    std::pair(coordinates.back().node, coordinates.back().segment))) {
      return absl::DataLossError("snapshot: coordinates out of order or repeated");
    }
  }
  // No index in the state may lie beyond the snapshot's own: the next command applies at
  // last_index + 1 and every table and record index must stay below it (a snapshot from the
  // network whose table index was 23 at last_index 16 tripped "table index went back" on the
  // first command after the restore; found by tests/fuzz).
  const uint64_t last = snap.last_index();
  auto beyond = [last](uint64_t index) { return index > last; };
  for (const pb::Node& n : snap.nodes()) {
    if (beyond(n.create_index()) || beyond(n.modify_index())) return absl::DataLossError("snapshot: node index past the snapshot");
  }
  for (const pb::StoredService& s : snap.services()) {
    if (beyond(s.service().create_index()) || beyond(s.service().modify_index())) {
      return absl::DataLossError("snapshot: service index past the snapshot");
    }
  }
  for (const pb::Check& c : snap.checks()) {
    if (beyond(c.create_index()) || beyond(c.modify_index())) return absl::DataLossError("snapshot: check index past the snapshot");
  }
  for (const pb::Session& s : snap.sessions()) {
    if (beyond(s.create_index()) || beyond(s.modify_index())) return absl::DataLossError("snapshot: session index past the snapshot");
  }
  for (const pb::KVEntry& e : snap.kvs()) {
    if (beyond(e.create_index()) || beyond(e.modify_index())) {  // (lock_index counts acquisitions)
      return absl::DataLossError("snapshot: key index past the snapshot");
    }
  }
  for (const pb::Tombstone& t : snap.tombstones()) {
    if (beyond(t.index())) return absl::DataLossError("snapshot: tombstone index past the snapshot");
  }
  if (autopilot.has_value() && beyond(autopilot->modify_index)) {
    return absl::DataLossError("snapshot: autopilot configuration index past the snapshot");
  }
  for (const auto* indexes : {&snap.table_indexes(), &snap.service_indexes()}) {
    for (const pb::NamedIndex& i : *indexes) {
      if (beyond(i.index())) return absl::DataLossError("snapshot: table index past the snapshot");
    }
  }

  Clear();
  last_index_ = snap.last_index();
  last_time_ = NanosToTime(snap.last_time_unix_ns());
  last_stamp_ = NanosToTime(snap.last_stamp_unix_ns());
  for (const pb::Node& p : snap.nodes()) {
    Node n = FromProto(p);
    if (!n.id.empty()) node_ids_[n.id] = n.name;
    nodes_[n.name] = std::move(n);
  }
  for (const pb::StoredService& p : snap.services()) {
    Service s = FromProto(p.service());
    Key2 key{p.node(), s.id};
    services_by_name_[s.name].insert(key);
    services_[key] = std::move(s);
  }
  for (const pb::Check& p : snap.checks()) {
    Check c = FromProto(p);
    Key2 key{c.node, c.check_id};
    checks_[key] = std::move(c);
  }
  for (const pb::Session& p : snap.sessions()) {
    Session s = FromProto(p);
    sessions_by_node_[s.node].insert(s.id);
    sessions_[s.id] = std::move(s);
  }
  for (const pb::KVEntry& p : snap.kvs()) {
    KVEntry e = FromProto(p);
    if (!e.session.empty()) session_locks_[e.session].insert(e.key);
    SetKVRow(std::move(e));
  }
  for (const pb::Tombstone& t : snap.tombstones()) SetTombstone(t.key(), t.index());
  for (const pb::LockDelay& d : snap.lock_delays()) lock_delays_[d.key()] = NanosToTime(d.until_unix_ns());
  for (const pb::NamedIndex& i : snap.table_indexes()) table_index_[i.name()] = i.index();
  for (const pb::NamedIndex& i : snap.service_indexes()) service_index_[i.name()] = i.index();
  autopilot_ = std::move(autopilot);
  for (NodeCoordinate& c : coordinates) {
    Key2 key{c.node, c.segment};
    coordinates_[key] = std::move(c);
  }
  changes_.everything = true;
  return absl::OkStatus();
}

namespace {

// Folds values into a running StableHash-based fingerprint, in the tables' key order.
class Fingerprint {
 public:
  void Add(uint64_t v) { h_ = HashCombine(h_, v); }
  void Add(std::string_view s) {
    Add(StableHash(s));
    Add(s.size());
  }
  void Add(const std::string& s) { Add(std::string_view(s)); }
  void Add(Time t) { Add(static_cast<uint64_t>(TimeToNanos(t))); }
  void Add(Duration d) { Add(static_cast<uint64_t>(absl::ToInt64Nanoseconds(d))); }
  void Add(const std::vector<std::string>& v) {
    Add(v.size());
    for (const std::string& s : v) Add(s);
  }
  void Add(const std::map<std::string, std::string>& m) {
    Add(m.size());
    for (const auto& [k, v] : m) {
      Add(k);
      Add(v);
    }
  }
  void Tag(uint64_t table) { Add(0x7461626c65000000ULL | table); }  // separates the tables
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0x6d75737465720001ULL;
};

}  // namespace

// A row's hash: its fields folded in order from a per-table seed (so equal rows of two tables
// differ), then summed over the table. A sum does not depend on the order rows were written
// in, and a row's change moves it by the difference of its old and new hashes.
uint64_t Store::KVRowHash(const KVEntry& e) {
  Fingerprint f;
  f.Tag(4);
  f.Add(e.key);
  f.Add(e.value);
  f.Add(e.flags);
  f.Add(e.lock_index);
  f.Add(e.session);
  f.Add(e.create_index);
  f.Add(e.modify_index);
  return f.value();
}

uint64_t Store::TombstoneRowHash(const std::string& key, uint64_t index) {
  Fingerprint f;
  f.Tag(5);
  f.Add(key);
  f.Add(index);
  return f.value();
}

uint64_t Store::ContentHash() const {
  MUSTER_CHECK(!undo_active_);
  return ContentHashWith(kv_rows_hash_, tombstone_rows_hash_);
}

uint64_t Store::ContentHashRecomputed() const {
  MUSTER_CHECK(!undo_active_);
  uint64_t kv_rows = 0, tombstone_rows = 0;
  for (const auto& [key, e] : kv_) kv_rows += KVRowHash(e);
  for (const auto& [key, idx] : tombstones_) tombstone_rows += TombstoneRowHash(key, idx);
  return ContentHashWith(kv_rows, tombstone_rows);
}

// Covers exactly what Snapshot() writes, without building it: walks the ordered tables but
// KV and the tombstones, which enter as their row counts and sums.
uint64_t Store::ContentHashWith(uint64_t kv_rows_hash, uint64_t tombstone_rows_hash) const {
  Fingerprint f;
  f.Add(last_index_);
  f.Tag(1);
  for (const auto& [name, n] : nodes_) {
    for (const std::string* s : {&n.id, &n.name, &n.address, &n.datacenter}) f.Add(*s);
    f.Add(n.tagged_addresses);
    f.Add(n.meta);
    f.Add(n.create_index);
    f.Add(n.modify_index);
  }
  f.Tag(2);
  for (const auto& [key, s] : services_) {
    f.Add(key.first);
    for (const std::string* str : {&s.id, &s.name, &s.address}) f.Add(*str);
    f.Add(s.tags);
    f.Add(static_cast<uint64_t>(s.port));
    f.Add(s.meta);
    f.Add(static_cast<uint64_t>(s.weights.passing));
    f.Add(static_cast<uint64_t>(s.weights.warning));
    f.Add(s.enable_tag_override ? 1 : 0);
    f.Add(s.tagged_addresses.size());
    for (const auto& [k, a] : s.tagged_addresses) {
      f.Add(k);
      f.Add(a.address);
      f.Add(static_cast<uint64_t>(a.port));
    }
    f.Add(s.create_index);
    f.Add(s.modify_index);
  }
  f.Tag(3);
  for (const auto& [key, c] : checks_) {
    for (const std::string* s : {&c.node, &c.check_id, &c.name, &c.notes, &c.output, &c.service_id,
                                 &c.service_name, &c.type}) {
      f.Add(*s);
    }
    f.Add(static_cast<uint64_t>(c.status));
    f.Add(c.service_tags);
    f.Add(c.create_index);
    f.Add(c.modify_index);
  }
  f.Tag(4);
  f.Add(kv_.size());
  f.Add(kv_rows_hash);
  f.Tag(5);
  f.Add(tombstones_.size());
  f.Add(tombstone_rows_hash);
  f.Tag(6);
  for (const auto& [id, s] : sessions_) {
    for (const std::string* str : {&s.id, &s.name, &s.node}) f.Add(*str);
    f.Add(s.node_checks);
    f.Add(s.service_checks);
    f.Add(s.lock_delay);
    f.Add(static_cast<uint64_t>(s.behavior));
    f.Add(s.ttl);
    f.Add(s.create_index);
    f.Add(s.modify_index);
    f.Add(s.expires_at == absl::InfinitePast() ? 0 : 1);
    if (s.expires_at != absl::InfinitePast()) f.Add(s.expires_at);
  }
  f.Tag(7);
  for (const auto& [key, until] : lock_delays_) {
    f.Add(key);
    f.Add(until);
  }
  f.Tag(8);
  for (const auto& [name, idx] : table_index_) {
    f.Add(name);
    f.Add(idx);
  }
  f.Tag(9);
  for (const auto& [name, idx] : service_index_) {
    f.Add(name);
    f.Add(idx);
  }
  // Only when stored, so a state without one hashes as before this table existed.
  if (autopilot_.has_value()) {
    const AutopilotConfiguration& a = *autopilot_;
    f.Tag(10);
    f.Add(a.cleanup_dead_servers ? 1 : 0);
    f.Add(a.last_contact_threshold);
    f.Add(a.max_trailing_logs);
    f.Add(static_cast<uint64_t>(a.min_quorum));
    f.Add(a.server_stabilization_time);
    f.Add(a.redundancy_zone_tag);
    f.Add(a.disable_upgrade_migration ? 1 : 0);
    f.Add(a.upgrade_version_tag);
    f.Add(a.create_index);
    f.Add(a.modify_index);
  }
  // Likewise only when there are any.
  if (!coordinates_.empty()) {
    f.Tag(11);
    for (const auto& [key, c] : coordinates_) {
      f.Add(c.node);
      f.Add(c.segment);
      f.Add(c.vec.size());
      for (double x : c.vec) f.Add(std::bit_cast<uint64_t>(x));
      f.Add(std::bit_cast<uint64_t>(c.error));
      f.Add(std::bit_cast<uint64_t>(c.adjustment));
      f.Add(std::bit_cast<uint64_t>(c.height));
    }
  }
  return f.value();
}

}  // namespace muster::state
