#include "core/state/codec.h"

namespace muster::state {
namespace {

// Pairs are written in key order (std::map's), so equal records encode to equal bytes. On
// reading, a repeated key keeps the last value, as protobuf's own map parsing does.
std::map<std::string, std::string> ToStdMap(
    const google::protobuf::RepeatedPtrField<pb::StringPair>& pairs) {
  std::map<std::string, std::string> m;
  for (const pb::StringPair& p : pairs) m[p.key()] = p.value();
  return m;
}

void FillMap(google::protobuf::RepeatedPtrField<pb::StringPair>* out,
             const std::map<std::string, std::string>& m) {
  out->Reserve(static_cast<int>(m.size()));
  for (const auto& [k, v] : m) {
    pb::StringPair* p = out->Add();
    p->set_key(k);
    p->set_value(v);
  }
}

}  // namespace

int64_t TimeToNanos(Time t) { return absl::ToUnixNanos(t); }
Time NanosToTime(int64_t ns) { return absl::FromUnixNanos(ns); }

pb::Node ToProto(const Node& n) {
  pb::Node p;
  p.set_id(n.id);
  p.set_name(n.name);
  p.set_address(n.address);
  p.set_datacenter(n.datacenter);
  FillMap(p.mutable_tagged_addresses(), n.tagged_addresses);
  FillMap(p.mutable_meta(), n.meta);
  p.set_create_index(n.create_index);
  p.set_modify_index(n.modify_index);
  return p;
}

Node FromProto(const pb::Node& p) {
  Node n;
  n.id = p.id();
  n.name = p.name();
  n.address = p.address();
  n.datacenter = p.datacenter();
  n.tagged_addresses = ToStdMap(p.tagged_addresses());
  n.meta = ToStdMap(p.meta());
  n.create_index = p.create_index();
  n.modify_index = p.modify_index();
  return n;
}

pb::Service ToProto(const Service& s) {
  pb::Service p;
  p.set_id(s.id);
  p.set_name(s.name);
  for (const std::string& t : s.tags) p.add_tags(t);
  p.set_address(s.address);
  p.set_port(s.port);
  FillMap(p.mutable_meta(), s.meta);
  p.set_weight_passing(s.weights.passing);
  p.set_weight_warning(s.weights.warning);
  p.set_enable_tag_override(s.enable_tag_override);
  for (const auto& [k, a] : s.tagged_addresses) {
    pb::TaggedServiceAddress* pa = p.add_tagged_addresses();
    pa->set_key(k);
    pa->mutable_value()->set_address(a.address);
    pa->mutable_value()->set_port(a.port);
  }
  p.set_create_index(s.create_index);
  p.set_modify_index(s.modify_index);
  return p;
}

Service FromProto(const pb::Service& p) {
  Service s;
  s.id = p.id();
  s.name = p.name();
  s.tags.assign(p.tags().begin(), p.tags().end());
  s.address = p.address();
  s.port = p.port();
  s.meta = ToStdMap(p.meta());
  s.weights.passing = p.weight_passing();
  s.weights.warning = p.weight_warning();
  s.enable_tag_override = p.enable_tag_override();
  for (const pb::TaggedServiceAddress& a : p.tagged_addresses()) {
    s.tagged_addresses[a.key()] = {a.value().address(), a.value().port()};
  }
  s.create_index = p.create_index();
  s.modify_index = p.modify_index();
  return s;
}

pb::Check ToProto(const Check& c) {
  pb::Check p;
  p.set_node(c.node);
  p.set_check_id(c.check_id);
  p.set_name(c.name);
  p.set_status(static_cast<pb::HealthStatus>(c.status));
  p.set_notes(c.notes);
  p.set_output(c.output);
  p.set_service_id(c.service_id);
  p.set_service_name(c.service_name);
  for (const std::string& t : c.service_tags) p.add_service_tags(t);
  p.set_type(c.type);
  p.set_create_index(c.create_index);
  p.set_modify_index(c.modify_index);
  return p;
}

Check FromProto(const pb::Check& p) {
  Check c;
  c.node = p.node();
  c.check_id = p.check_id();
  c.name = p.name();
  switch (p.status()) {
    case pb::PASSING: c.status = HealthStatus::kPassing; break;
    case pb::WARNING: c.status = HealthStatus::kWarning; break;
    default: c.status = HealthStatus::kCritical; break;
  }
  c.notes = p.notes();
  c.output = p.output();
  c.service_id = p.service_id();
  c.service_name = p.service_name();
  c.service_tags.assign(p.service_tags().begin(), p.service_tags().end());
  c.type = p.type();
  c.create_index = p.create_index();
  c.modify_index = p.modify_index();
  return c;
}

pb::KVEntry ToProto(const KVEntry& e) {
  pb::KVEntry p;
  p.set_key(e.key);
  p.set_value(e.value);
  p.set_flags(e.flags);
  p.set_lock_index(e.lock_index);
  p.set_session(e.session);
  p.set_create_index(e.create_index);
  p.set_modify_index(e.modify_index);
  return p;
}

KVEntry FromProto(const pb::KVEntry& p) {
  return KVEntry{p.key(), p.value(), p.flags(), p.lock_index(), p.session(), p.create_index(),
                 p.modify_index()};
}

pb::Session ToProto(const Session& s) {
  pb::Session p;
  p.set_id(s.id);
  p.set_name(s.name);
  p.set_node(s.node);
  for (const std::string& c : s.node_checks) p.add_node_checks(c);
  for (const std::string& c : s.service_checks) p.add_service_checks(c);
  p.set_lock_delay_ns(absl::ToInt64Nanoseconds(s.lock_delay));
  p.set_behavior_delete(s.behavior == SessionBehavior::kDelete);
  p.set_ttl_ns(absl::ToInt64Nanoseconds(s.ttl));
  p.set_create_index(s.create_index);
  p.set_modify_index(s.modify_index);
  p.set_has_expiry(s.expires_at != absl::InfinitePast());
  if (p.has_expiry()) p.set_expires_at_unix_ns(TimeToNanos(s.expires_at));
  return p;
}

Session FromProto(const pb::Session& p) {
  Session s;
  s.id = p.id();
  s.name = p.name();
  s.node = p.node();
  s.node_checks.assign(p.node_checks().begin(), p.node_checks().end());
  s.service_checks.assign(p.service_checks().begin(), p.service_checks().end());
  s.lock_delay = absl::Nanoseconds(p.lock_delay_ns());
  s.behavior = p.behavior_delete() ? SessionBehavior::kDelete : SessionBehavior::kRelease;
  s.ttl = absl::Nanoseconds(p.ttl_ns());
  s.create_index = p.create_index();
  s.modify_index = p.modify_index();
  s.expires_at = p.has_expiry() ? NanosToTime(p.expires_at_unix_ns()) : absl::InfinitePast();
  return s;
}

pb::AutopilotConfiguration ToProto(const AutopilotConfiguration& c) {
  pb::AutopilotConfiguration p;
  p.set_cleanup_dead_servers(c.cleanup_dead_servers);
  p.set_last_contact_threshold_ns(absl::ToInt64Nanoseconds(c.last_contact_threshold));
  p.set_max_trailing_logs(c.max_trailing_logs);
  p.set_min_quorum(c.min_quorum);
  p.set_server_stabilization_time_ns(absl::ToInt64Nanoseconds(c.server_stabilization_time));
  p.set_redundancy_zone_tag(c.redundancy_zone_tag);
  p.set_disable_upgrade_migration(c.disable_upgrade_migration);
  p.set_upgrade_version_tag(c.upgrade_version_tag);
  p.set_create_index(c.create_index);
  p.set_modify_index(c.modify_index);
  return p;
}

AutopilotConfiguration FromProto(const pb::AutopilotConfiguration& p) {
  AutopilotConfiguration c;
  c.cleanup_dead_servers = p.cleanup_dead_servers();
  c.last_contact_threshold = absl::Nanoseconds(p.last_contact_threshold_ns());
  c.max_trailing_logs = p.max_trailing_logs();
  c.min_quorum = p.min_quorum();
  c.server_stabilization_time = absl::Nanoseconds(p.server_stabilization_time_ns());
  c.redundancy_zone_tag = p.redundancy_zone_tag();
  c.disable_upgrade_migration = p.disable_upgrade_migration();
  c.upgrade_version_tag = p.upgrade_version_tag();
  c.create_index = p.create_index();
  c.modify_index = p.modify_index();
  return c;
}

pb::RegisterRequest ToProto(const RegisterRequest& r) {
  pb::RegisterRequest p;
  *p.mutable_node() = ToProto(r.node);
  p.set_skip_node_update(r.skip_node_update);
  if (r.service.has_value()) *p.mutable_service() = ToProto(*r.service);
  for (const Check& c : r.checks) *p.add_checks() = ToProto(c);
  return p;
}

RegisterRequest FromProto(const pb::RegisterRequest& p) {
  RegisterRequest r;
  r.node = FromProto(p.node());
  r.skip_node_update = p.skip_node_update();
  if (p.has_service()) r.service = FromProto(p.service());
  for (const pb::Check& c : p.checks()) r.checks.push_back(FromProto(c));
  return r;
}

}  // namespace muster::state
