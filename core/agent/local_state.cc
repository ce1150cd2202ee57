#include "core/agent/local_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "core/base/strings.h"

namespace muster::agent {
namespace {

// The storage record's own format (not an API shape): what a restart needs to rebuild a
// service or a check. Durations in nanoseconds.
constexpr int kRecordVersion = 1;

int64_t Ns(Duration d) { return absl::ToInt64Nanoseconds(d); }

Json ServiceRecord(const state::Service& s) {
  Json j;
  j["v"] = kRecordVersion;
  j["ID"] = s.id;
  j["Service"] = s.name;
  j["Tags"] = s.tags;
  Json meta = Json::object();
  for (const auto& [k, v] : s.meta) meta[k] = v;
  j["Meta"] = std::move(meta);
  j["Address"] = s.address;
  j["Port"] = s.port;
  j["Weights"] = Json::array({s.weights.passing, s.weights.warning});
  j["EnableTagOverride"] = s.enable_tag_override;
  return j;
}

std::optional<state::Service> ServiceFromRecord(std::string_view text) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("v", 0) != kRecordVersion) return std::nullopt;
  state::Service s;
  s.id = j.value("ID", "");
  s.name = j.value("Service", "");
  s.tags = j.value("Tags", std::vector<std::string>{});
  s.meta = j.value("Meta", std::map<std::string, std::string>{});
  s.address = j.value("Address", "");
  s.port = j.value("Port", 0);
  std::vector<int32_t> w = j.value("Weights", std::vector<int32_t>{1, 1});
  if (w.size() == 2) s.weights = {w[0], w[1]};
  s.enable_tag_override = j.value("EnableTagOverride", false);
  if (s.id.empty()) return std::nullopt;
  return s;
}

Json CheckRecordJson(const LocalCheck& c) {
  const CheckDefinition& d = c.def;
  Json j;
  j["v"] = kRecordVersion;
  j["ID"] = d.id;
  j["Name"] = d.name;
  j["ServiceID"] = d.service_id;
  j["Notes"] = d.notes;
  j["Kind"] = static_cast<int>(d.kind);
  j["Interval"] = Ns(d.interval);
  j["Timeout"] = Ns(d.timeout);
  j["TTL"] = Ns(d.ttl);
  j["HTTP"] = d.http;
  j["Method"] = d.method;
  Json headers = Json::array();
  for (const auto& [k, v] : d.headers) headers.push_back(Json::array({k, v}));
  j["Header"] = std::move(headers);
  j["Body"] = d.body;
  j["TLSSkipVerify"] = d.tls_skip_verify;
  j["TCP"] = d.tcp;
  j["Args"] = d.args;
  j["Script"] = d.script;
  j["SuccessBeforePassing"] = d.success_before_passing;
  j["FailuresBeforeCritical"] = d.failures_before_critical;
  j["DeregisterCriticalServiceAfter"] = Ns(d.deregister_critical_service_after);
  j["InitialStatus"] = static_cast<int>(d.initial_status);
  j["AliasService"] = d.alias_service;
  j["AliasNode"] = d.alias_node;
  j["Status"] = static_cast<int>(c.state.status());
  j["Output"] = c.state.output();
  return j;
}

std::optional<LocalCheck> CheckFromRecord(std::string_view text, Time now) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("v", 0) != kRecordVersion) return std::nullopt;
  LocalCheck c;
  CheckDefinition& d = c.def;
  d.id = j.value("ID", "");
  d.name = j.value("Name", "");
  d.service_id = j.value("ServiceID", "");
  d.notes = j.value("Notes", "");
  const int kind = j.value("Kind", 0);
  if (kind < 0 || kind > static_cast<int>(CheckKind::kAlias)) return std::nullopt;
  d.kind = static_cast<CheckKind>(kind);
  d.interval = absl::Nanoseconds(j.value("Interval", int64_t{0}));
  d.timeout = absl::Nanoseconds(j.value("Timeout", int64_t{0}));
  d.ttl = absl::Nanoseconds(j.value("TTL", int64_t{0}));
  d.http = j.value("HTTP", "");
  d.method = j.value("Method", "GET");
  if (j.contains("Header") && j["Header"].is_array()) {
    for (const Json& h : j["Header"]) {
      if (h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string()) {
        d.headers.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
      }
    }
  }
  d.body = j.value("Body", "");
  d.tls_skip_verify = j.value("TLSSkipVerify", false);
  d.tcp = j.value("TCP", "");
  d.args = j.value("Args", std::vector<std::string>{});
  d.script = j.value("Script", "");
  d.success_before_passing = j.value("SuccessBeforePassing", 0);
  d.failures_before_critical = j.value("FailuresBeforeCritical", 0);
  d.deregister_critical_service_after = absl::Nanoseconds(j.value("DeregisterCriticalServiceAfter", int64_t{0}));
  d.alias_service = j.value("AliasService", "");
  d.alias_node = j.value("AliasNode", "");
  const int initial = j.value("InitialStatus", 2);
  const int status = j.value("Status", 2);
  if (initial < 0 || initial > 2 || status < 0 || status > 2 || d.id.empty()) return std::nullopt;
  d.initial_status = static_cast<state::HealthStatus>(initial);
  // The critical clock restarts with the agent: a deregister-after deadline counts from the
  // restart, never from a time of an earlier life.
  c.state = CheckState(static_cast<state::HealthStatus>(status), j.value("Output", ""), now);
  return c;
}

}  // namespace

LocalState::LocalState(LocalStateOptions options, const StorageView* storage, uint64_t seed, Time now, Logger log)
    : opt_(std::move(options)), log_(std::move(log)), rng_(seed) {
  if (storage != nullptr) Load(storage, now);
  AddConfigured(now);
  RefreshAliases(now);  // restored and configured aliases start from what they alias now
  reap_timer_ = timers_.Add(now + opt_.reap_interval, [this] { Reap(timers_now_); });
}

void LocalState::Load(const StorageView* storage, Time now) {
  const std::string services_begin(kLocalServiceKeyPrefix);
  std::string services_end = services_begin;
  services_end.back() = static_cast<char>(services_end.back() + 1);
  storage->Scan(services_begin, services_end, [&](std::string_view key, std::string_view value) {
    std::optional<state::Service> s = ServiceFromRecord(value);
    if (!s.has_value() || services_.size() >= kLocalServicesMax) {
      log_.Warn(now, "skipping a local service record that does not load: ", Absl(key));
      return true;
    }
    LocalService loaded;
    loaded.service = *s;
    loaded.revision = 1;
    services_[s->id] = std::move(loaded);
    return true;
  });
  const std::string checks_begin(kLocalCheckKeyPrefix);
  std::string checks_end = checks_begin;
  checks_end.back() = static_cast<char>(checks_end.back() + 1);
  storage->Scan(checks_begin, checks_end, [&](std::string_view key, std::string_view value) {
    std::optional<LocalCheck> c = CheckFromRecord(value, now);
    if (!c.has_value() || checks_.size() >= kLocalChecksMax ||
        (!c->def.service_id.empty() && !services_.contains(c->def.service_id))) {
      log_.Warn(now, "skipping a local check record that does not load: ", Absl(key));
      return true;
    }
    const std::string id = c->def.id;
    checks_[id] = std::move(*c);
    checks_[id].revision = 1;
    TrackAlias(id);
    return true;
  });
  for (auto& [id, c] : checks_) Schedule(now, c, /*first=*/true);
  if (!services_.empty() || !checks_.empty()) {
    log_.Info(now, "restored ", services_.size(), " services and ", checks_.size(), " checks");
  }
}

void LocalState::AddConfigured(Time now) {
  Effects none;  // nothing is written for them; their timers' wake-up comes with the first Tick
  for (const std::string& text : opt_.config_services) {
    absl::StatusOr<ServiceRegistration> reg = ParseServiceRegistration(text);
    absl::StatusOr<uint64_t> added =
        reg.ok() ? AddService(now, std::move(*reg), /*replace_existing_checks=*/false, &none, /*persist=*/false)
                 : absl::StatusOr<uint64_t>(reg.status());
    if (!added.ok()) log_.Warn(now, "failed to register service from the configuration: ", added.status().message());
  }
  for (const std::string& text : opt_.config_checks) {
    absl::StatusOr<CheckDefinition> def = ParseCheckRegistration(text);
    absl::StatusOr<uint64_t> added =
        def.ok() ? AddCheck(now, std::move(*def), &none, /*persist=*/false) : absl::StatusOr<uint64_t>(def.status());
    if (!added.ok()) log_.Warn(now, "failed to register check from the configuration: ", added.status().message());
  }
  out_ = nullptr;
}

uint64_t LocalState::NewWrite(Effects* out, bool sync) {
  StorageWrite w;
  w.id = next_write_id_++;
  w.sync = sync;
  out->writes.push_back(std::move(w));
  return out->writes.back().id;
}

uint64_t LocalState::DropWrite(Effects* out, uint64_t write_id) {
  MUSTER_CHECK(!out->writes.empty() && out->writes.back().id == write_id, "the dropped write is the last one");
  out->writes.pop_back();
  --next_write_id_;
  return 0;
}

void LocalState::PersistService(const LocalService& s, StorageWrite* w) const {
  w->Put(absl::StrCat(Absl(kLocalServiceKeyPrefix), s.service.id), ServiceRecord(s.service).dump());
}

void LocalState::PersistCheck(const LocalCheck& c, StorageWrite* w) const {
  w->Put(absl::StrCat(Absl(kLocalCheckKeyPrefix), c.def.id), CheckRecordJson(c).dump());
}

void LocalState::PersistStatus(Time now, const LocalCheck& c) {
  if (out_ == nullptr || !c.persisted) return;
  NewWrite(out_, /*sync=*/false);
  PersistCheck(c, &out_->writes.back());
}

void LocalState::Changed(LocalCheck& c) {
  c.in_sync = false;
  ++c.revision;
  ++changes_;
}

void LocalState::Changed(LocalService& s) {
  s.in_sync = false;
  ++s.revision;
  ++changes_;
}

absl::Status LocalState::CheckBounds(size_t services_added, size_t checks_added) const {
  if (services_.size() + services_added > kLocalServicesMax || checks_.size() + checks_added > kLocalChecksMax) {
    return absl::ResourceExhaustedError(
        absl::StrCat("this agent holds its most services (", kLocalServicesMax, ") or checks (", kLocalChecksMax, ")"));
  }
  return absl::OkStatus();
}

void LocalState::Schedule(Time now, LocalCheck& c, bool first) {
  timers_.Cancel(c.timer);
  c.timer = 0;
  const std::string id = c.def.id;
  if (c.def.kind == CheckKind::kTtl) {
    c.timer = timers_.Add(now + c.def.ttl, [this, id] { ExpireTtl(timers_now_, id); });
  } else if (c.def.runs()) {
    // Consul staggers the first run within the interval, so checks registered together do
    // not all run at once.
    const Duration wait = first ? rng_.UniformDuration(absl::ZeroDuration(), c.def.interval) : c.def.interval;
    c.timer = timers_.Add(now + wait, [this, id] { Run(timers_now_, id); });
  }
}

void LocalState::Run(Time now, const std::string& id) {
  auto it = checks_.find(id);
  if (it == checks_.end()) return;
  LocalCheck& c = it->second;
  c.timer = timers_.Add(now + c.def.interval, [this, id] { Run(timers_now_, id); });
  if (c.process != 0) {
    log_.Debug(now, "check ", id, " is still running: skipping this interval");
    return;
  }
  ProcessStart p = CheckProcess(c.def);
  p.id = next_process_id_++;
  c.process = p.id;
  processes_[p.id] = id;
  out_->processes.push_back(std::move(p));
}

void LocalState::ExpireTtl(Time now, const std::string& id) {
  auto it = checks_.find(id);
  if (it == checks_.end()) return;
  LocalCheck& c = it->second;
  c.timer = 0;
  log_.Warn(now, "Check missed TTL, is now critical: check=", id);
  std::string output(kTtlExpiredOutput);
  if (!c.state.output().empty()) {
    output = CutCheckOutput(absl::StrCat(output, " (last output before timeout follows): ", c.state.output()));
  }
  if (c.state.Record(now, c.def, CheckResult{state::HealthStatus::kCritical, std::move(output)})) {
    Changed(c);
    PersistStatus(now, c);
  }
}

void LocalState::Reap(Time now) {
  reap_timer_ = timers_.Add(now + opt_.reap_interval, [this] { Reap(timers_now_); });
  std::vector<std::pair<std::string, std::string>> doomed;  // service, check
  for (const auto& [id, c] : checks_) {
    if (c.def.service_id.empty() || c.def.deregister_critical_service_after <= absl::ZeroDuration()) continue;
    if (c.state.status() != state::HealthStatus::kCritical) continue;
    const Duration after = std::max(c.def.deregister_critical_service_after, opt_.deregister_interval_min);
    if (now - c.state.since() >= after) doomed.emplace_back(c.def.service_id, id);
  }
  for (const auto& [service, check] : doomed) {
    if (!services_.contains(service)) continue;
    log_.Info(now, "removed service with critical check: service=", service, " check=", check);
    RemoveService(now, service, out_);
  }
}

void LocalState::Detach(const std::string& id) {
  auto it = checks_.find(id);
  if (it == checks_.end()) return;
  timers_.Cancel(it->second.timer);
  alias_ids_.erase(id);
  if (remote_alias_ids_.erase(id) > 0) ++remote_aliases_revision_;
  if (it->second.process != 0) processes_.erase(it->second.process);  // its exit finds nothing
  checks_.erase(it);
}

void LocalState::DropCheck(const std::string& id, StorageWrite* w) {
  if (!checks_.contains(id)) return;
  Detach(id);
  deleted_checks_.insert(id);
  ++changes_;
  w->Delete(absl::StrCat(Absl(kLocalCheckKeyPrefix), id));
}

absl::StatusOr<uint64_t> LocalState::AddService(Time now, ServiceRegistration reg, bool replace_existing_checks,
                                                Effects* out, bool persist) {
  std::vector<const CheckDefinition*> defs;
  for (CheckDefinition& def : reg.checks) {
    if (absl::Status s = ValidateCheck(&def, opt_.enable_script_checks); !s.ok()) return s;
    defs.push_back(&def);
  }
  if (absl::Status s = CheckRemoteAliasBound(defs); !s.ok()) return s;
  const std::string id = reg.service.id;
  if (id.empty()) return absl::InvalidArgumentError("Missing service ID");
  if (absl::Status s = CheckBounds(services_.contains(id) ? 0 : 1, reg.checks.size()); !s.ok()) return s;
  out_ = out;
  const uint64_t write_id = NewWrite(out, /*sync=*/true);
  StorageWrite* w = &out->writes.back();
  LocalService& s = services_[id];
  const bool added = s.revision == 0;
  s.service = std::move(reg.service);
  s.persisted = persist;
  Changed(s);
  deleted_services_.erase(id);
  PersistService(s, w);
  if (replace_existing_checks) {
    std::vector<std::string> stale;
    for (const auto& [cid, c] : checks_) {
      if (c.def.service_id != id) continue;
      if (std::none_of(reg.checks.begin(), reg.checks.end(), [&](const CheckDefinition& d) { return d.id == cid; })) {
        stale.push_back(cid);
      }
    }
    for (const std::string& cid : stale) DropCheck(cid, w);
  }
  for (CheckDefinition& def : reg.checks) {
    auto have = checks_.find(def.id);
    LocalCheck c;
    // A check registered again keeps its status (a re-registered service does not flap).
    c.state = have != checks_.end() ? have->second.state : CheckState(def.initial_status, "", now);
    c.revision = have != checks_.end() ? have->second.revision : 0;
    if (have != checks_.end()) Detach(def.id);
    c.def = std::move(def);
    const std::string cid = c.def.id;
    LocalCheck& placed = checks_[cid] = std::move(c);
    placed.persisted = persist;
    TrackAlias(cid);
    Changed(placed);
    Schedule(now, placed, /*first=*/true);
    PersistCheck(placed, w);
  }
  log_.Info(now, added ? "Synced service: service=" : "updated service: service=", id);
  Settle(now, out);
  if (!persist) return DropWrite(out, write_id);
  return write_id;
}

uint64_t LocalState::RemoveService(Time now, std::string_view id, Effects* out) {
  auto it = services_.find(std::string(id));
  if (it == services_.end()) {
    log_.Warn(now, "Failed to deregister service: service=", Absl(id), " error=Service does not exist");
    Settle(now, out);
    return 0;
  }
  out_ = out;
  const uint64_t write_id = NewWrite(out, /*sync=*/true);
  StorageWrite* w = &out->writes.back();
  std::vector<std::string> its_checks;
  for (const auto& [cid, c] : checks_) {
    if (c.def.service_id == id) its_checks.push_back(cid);
  }
  for (const std::string& cid : its_checks) DropCheck(cid, w);
  services_.erase(it);
  deleted_services_.insert(std::string(id));
  ++changes_;
  w->Delete(absl::StrCat(Absl(kLocalServiceKeyPrefix), Absl(id)));
  log_.Info(now, "Deregistered service: service=", Absl(id));
  Settle(now, out);
  return write_id;
}

absl::StatusOr<uint64_t> LocalState::AddCheck(Time now, CheckDefinition def, Effects* out, bool persist) {
  if (absl::Status s = ValidateCheck(&def, opt_.enable_script_checks); !s.ok()) return s;
  if (absl::Status s = CheckRemoteAliasBound({&def}); !s.ok()) return s;
  if (!def.service_id.empty() && !services_.contains(def.service_id)) {
    return absl::FailedPreconditionError(absl::StrCat("ServiceID \"", def.service_id, "\" does not exist"));
  }
  auto have = checks_.find(def.id);
  if (absl::Status s = CheckBounds(0, have == checks_.end() ? 1 : 0); !s.ok()) return s;
  out_ = out;
  const uint64_t write_id = NewWrite(out, /*sync=*/true);
  StorageWrite* w = &out->writes.back();
  LocalCheck c;
  c.state = have != checks_.end() ? have->second.state : CheckState(def.initial_status, "", now);
  c.revision = have != checks_.end() ? have->second.revision : 0;
  if (have != checks_.end()) Detach(def.id);  // replaced below, not deleted
  c.def = std::move(def);
  const std::string cid = c.def.id;
  LocalCheck& placed = checks_[cid] = std::move(c);
  placed.persisted = persist;
  TrackAlias(cid);
  Changed(placed);
  Schedule(now, placed, /*first=*/true);
  PersistCheck(placed, w);
  log_.Info(now, "Synced check: check=", cid);
  Settle(now, out);
  if (!persist) return DropWrite(out, write_id);
  return write_id;
}

uint64_t LocalState::RemoveCheck(Time now, std::string_view id, Effects* out) {
  if (!checks_.contains(std::string(id))) {
    log_.Warn(now, "Failed to deregister check: check=", Absl(id), " error=Check does not exist");
    Settle(now, out);
    return 0;
  }
  out_ = out;
  const uint64_t write_id = NewWrite(out, /*sync=*/true);
  DropCheck(std::string(id), &out->writes.back());
  log_.Info(now, "Deregistered check: check=", Absl(id));
  Settle(now, out);
  return write_id;
}

absl::StatusOr<uint64_t> LocalState::UpdateTtl(Time now, std::string_view id, state::HealthStatus status,
                                               std::string output, Effects* out) {
  auto it = checks_.find(std::string(id));
  if (it == checks_.end() || it->second.def.kind != CheckKind::kTtl) {
    return absl::NotFoundError(absl::StrCat("CheckID \"", Absl(id), "\" does not have associated TTL"));
  }
  out_ = out;
  LocalCheck& c = it->second;
  const std::string before = c.state.output();
  const bool changed = c.state.Record(now, c.def, CheckResult{status, CutCheckOutput(output)});
  Schedule(now, c, /*first=*/false);  // the TTL starts again
  // Output-only changes go with the next full sync (Consul defers them); a status change
  // syncs at once.
  if (changed) Changed(c);
  if (c.persisted && (changed || c.state.output() != before)) {
    // Not synced and not waited for (Consul saves check state in the background): a status
    // lost to a crash is set again by the next update, or expires with the TTL.
    NewWrite(out, /*sync=*/false);
    PersistCheck(c, &out->writes.back());
  }
  Settle(now, out);
  return uint64_t{0};
}

uint64_t LocalState::SetNodeMaintenance(Time now, bool enable, std::string_view reason, Effects* out) {
  const std::string id(state::kNodeMaintenanceCheckId);
  if (enable == checks_.contains(id)) {
    Settle(now, out);
    return 0;
  }
  if (!enable) {
    log_.Info(now, "Node left maintenance mode");
    return RemoveCheck(now, id, out);
  }
  CheckDefinition def;
  def.id = id;
  def.name = "Node Maintenance Mode";
  def.notes = reason.empty() ? std::string(kNodeMaintenanceDefaultReason) : std::string(reason);
  def.kind = CheckKind::kMaintenance;
  log_.Info(now, "Node entered maintenance mode");
  absl::StatusOr<uint64_t> w = AddCheck(now, std::move(def), out);
  return w.ok() ? *w : 0;
}

absl::StatusOr<uint64_t> LocalState::SetServiceMaintenance(Time now, std::string_view service_id, bool enable,
                                                           std::string_view reason, Effects* out) {
  if (!services_.contains(std::string(service_id))) {
    Settle(now, out);
    return absl::NotFoundError(absl::StrCat("Unknown service ID \"", Absl(service_id), "\""));
  }
  const std::string id = absl::StrCat(Absl(state::kServiceMaintenanceCheckPrefix), Absl(service_id));
  if (enable == checks_.contains(id)) {
    Settle(now, out);
    return 0;
  }
  if (!enable) {
    log_.Info(now, "Service left maintenance mode: service=", Absl(service_id));
    return RemoveCheck(now, id, out);
  }
  CheckDefinition def;
  def.id = id;
  def.name = "Service Maintenance Mode";
  def.service_id = std::string(service_id);
  def.notes = reason.empty() ? std::string(kServiceMaintenanceDefaultReason) : std::string(reason);
  def.kind = CheckKind::kMaintenance;
  log_.Info(now, "Service entered maintenance mode: service=", Absl(service_id));
  return AddCheck(now, std::move(def), out);
}

void LocalState::HandleProcessExit(Time now, const ProcessExitedInput& exit, Effects* out) {
  out_ = out;
  auto p = processes_.find(exit.process_id);
  if (p != processes_.end()) {
    const std::string id = p->second;
    processes_.erase(p);
    auto it = checks_.find(id);
    if (it != checks_.end() && it->second.process == exit.process_id) {
      LocalCheck& c = it->second;
      c.process = 0;
      const state::HealthStatus before = c.state.status();
      if (c.state.Record(now, c.def, ResultOfExit(c.def, exit))) {
        log_.Info(now, "check ", id, " is now ", Absl(state::HealthStatusName(c.state.status())), " (was ",
                  Absl(state::HealthStatusName(before)), ")");
        Changed(c);
        PersistStatus(now, c);
      }
    }
  }
  Settle(now, out);
}

bool LocalState::IsRemoteAlias(const CheckDefinition& def) const {
  return def.kind == CheckKind::kAlias && !def.alias_node.empty() && def.alias_node != opt_.node_name;
}

void LocalState::TrackAlias(const std::string& id) {
  const CheckDefinition& def = checks_.at(id).def;
  if (def.kind != CheckKind::kAlias) return;
  if (IsRemoteAlias(def)) {
    remote_alias_ids_.insert(id);
    ++remote_aliases_revision_;
  } else {
    alias_ids_.insert(id);
  }
}

absl::Status LocalState::CheckRemoteAliasBound(const std::vector<const CheckDefinition*>& defs) const {
  size_t added = 0;
  for (const CheckDefinition* def : defs) {
    if (IsRemoteAlias(*def) && !remote_alias_ids_.contains(def->id)) ++added;
  }
  if (added == 0 || remote_alias_ids_.size() + added <= kRemoteAliasesMax) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("at most ", kRemoteAliasesMax, " alias checks of other nodes on one agent"));
}

void LocalState::SetRemoteAliasResult(Time now, std::string_view id, CheckResult result, Effects* out) {
  out_ = out;
  auto it = checks_.find(std::string(id));
  if (it != checks_.end() && remote_alias_ids_.contains(it->first)) {
    LocalCheck& alias = it->second;
    const state::HealthStatus before = alias.state.status();
    if (alias.state.Set(now, result.status, CutCheckOutput(result.output))) {
      log_.Info(now, "check ", it->first, " is now ", Absl(state::HealthStatusName(alias.state.status())), " (was ",
                Absl(state::HealthStatusName(before)), ")");
      Changed(alias);
    }
  }
  Settle(now, out);  // a local alias of the service this check belongs to follows
}

void LocalState::RefreshAliases(Time now) {
  if (alias_ids_.empty()) return;
  // What the aliases count, gathered once (one walk over the checks, not one per alias): the
  // node's checks and those of the aliased services. A node-level alias is not node health but
  // a copy of a service's: counted by the other aliases it could latch them (a critical one
  // feeding the very alias it copies).
  absl::btree_map<std::string_view, std::vector<const LocalCheck*>> counted_by_service;
  for (const std::string& id : alias_ids_) counted_by_service[checks_.at(id).def.alias_service];
  std::vector<const LocalCheck*> node_level;
  for (const auto& [cid, c] : checks_) {
    if (c.def.service_id.empty()) {
      if (c.def.kind != CheckKind::kAlias) node_level.push_back(&c);
    } else if (auto it = counted_by_service.find(c.def.service_id); it != counted_by_service.end()) {
      it->second.push_back(&c);
    }
  }
  // An alias may mirror a service whose own check is an alias: passes until nothing moves,
  // bounded so that aliases aliasing each other in a ring cannot spin.
  for (size_t pass = 0; pass < kAliasPassesMax; ++pass) {
    bool moved = false;
    for (const std::string& id : alias_ids_) {
      LocalCheck& alias = checks_.at(id);
      std::vector<state::Check> counted;
      for (const LocalCheck* c : node_level) counted.push_back(CheckRecord(*c));
      if (!alias.def.alias_service.empty()) {
        for (const LocalCheck* c : counted_by_service.at(alias.def.alias_service)) counted.push_back(CheckRecord(*c));
      }
      const bool registered = !alias.def.alias_service.empty() && services_.contains(alias.def.alias_service);
      CheckResult r = AliasResult(alias.def, id, counted, registered);
      const state::HealthStatus before = alias.state.status();
      // Output-only changes wait for the next full sync, as a TTL check's do.
      if (alias.state.Set(now, r.status, std::move(r.output))) {
        log_.Info(now, "check ", id, " is now ", Absl(state::HealthStatusName(alias.state.status())), " (was ",
                  Absl(state::HealthStatusName(before)), ")");
        Changed(alias);
        moved = true;
      }
    }
    if (!moved) return;
  }
}

void LocalState::Settle(Time now, Effects* out) {
  RefreshAliases(now);
  WakeUp(out);
}

void LocalState::WakeUp(Effects* out) const {
  if (std::optional<Time> next = timers_.Next()) out->WakeAt(*next);
}

void LocalState::Tick(Time now, Effects* out) {
  out_ = out;
  timers_now_ = now;
  timers_.RunDue(now);
  Settle(now, out);
}

state::Check LocalState::CheckRecord(const LocalCheck& c) const {
  state::Check r;
  r.node = opt_.node_name;
  r.check_id = c.def.id;
  r.name = c.def.name;
  r.status = c.def.kind == CheckKind::kMaintenance ? state::HealthStatus::kCritical : c.state.status();
  r.notes = c.def.notes;
  r.output = c.state.output();
  r.service_id = c.def.service_id;
  if (!c.def.service_id.empty()) {
    if (auto s = services_.find(c.def.service_id); s != services_.end()) {
      r.service_name = s->second.service.name;
      r.service_tags = s->second.service.tags;
    }
  }
  r.type = std::string(CheckKindType(c.def.kind));
  return r;
}

std::vector<state::Check> LocalState::ServiceChecks(std::string_view service_id) const {
  std::vector<state::Check> out;
  for (const auto& [id, c] : checks_) {
    if (c.def.service_id == service_id) out.push_back(CheckRecord(c));
  }
  return out;
}

void LocalState::MarkServiceSynced(std::string_view id, uint64_t revision) {
  auto it = services_.find(std::string(id));
  if (it != services_.end() && it->second.revision == revision) it->second.in_sync = true;
}

void LocalState::MarkCheckSynced(std::string_view id, uint64_t revision) {
  auto it = checks_.find(std::string(id));
  if (it != checks_.end() && it->second.revision == revision) it->second.in_sync = true;
}

void LocalState::MarkServiceOutOfSync(std::string_view id) {
  auto it = services_.find(std::string(id));
  if (it != services_.end()) it->second.in_sync = false;
}

void LocalState::MarkCheckOutOfSync(std::string_view id) {
  auto it = checks_.find(std::string(id));
  if (it != checks_.end()) it->second.in_sync = false;
}

}  // namespace muster::agent
