#include "core/agent/anti_entropy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/portable_math.h"

namespace muster::agent {
namespace {

namespace pba = ::muster::proto::agent;

// The first full sync after a start (with the own-node sync's first try).
constexpr Duration kFirstFullSync = absl::Seconds(1);

Json CatalogServiceJson(const state::Service& s) {
  Json j;
  j["ID"] = s.id;
  j["Service"] = s.name;
  j["Tags"] = s.tags;
  j["Address"] = s.address;
  j["Port"] = s.port;
  Json meta = Json::object();
  for (const auto& [k, v] : s.meta) meta[k] = v;
  j["Meta"] = std::move(meta);
  j["Weights"] = Json{{"Passing", s.weights.passing}, {"Warning", s.weights.warning}};
  j["EnableTagOverride"] = s.enable_tag_override;
  return j;
}

Json CatalogCheckJson(const state::Check& c) {
  Json j;
  j["Node"] = c.node;
  j["CheckID"] = c.check_id;
  j["Name"] = c.name;
  j["Status"] = std::string(state::HealthStatusName(c.status));
  j["Notes"] = c.notes;
  j["Output"] = c.output;
  j["ServiceID"] = c.service_id;
  j["Type"] = c.type;
  return j;
}

bool ReadService(const Json& j, state::Service* s) {
  if (!j.is_object()) return false;
  s->id = j.value("ID", "");
  s->name = j.value("Service", "");
  if (j.contains("Tags") && j["Tags"].is_array()) {
    for (const Json& t : j["Tags"]) {
      if (t.is_string()) s->tags.push_back(t.get<std::string>());
    }
  }
  s->address = j.value("Address", "");
  s->port = j.value("Port", 0);
  if (j.contains("Meta") && j["Meta"].is_object()) {
    for (auto it = j["Meta"].begin(); it != j["Meta"].end(); ++it) {
      if (it.value().is_string()) s->meta[it.key()] = it.value().get<std::string>();
    }
  }
  if (j.contains("Weights") && j["Weights"].is_object()) {
    s->weights.passing = j["Weights"].value("Passing", 1);
    s->weights.warning = j["Weights"].value("Warning", 1);
  }
  s->enable_tag_override = j.value("EnableTagOverride", false);
  return !s->id.empty();
}

}  // namespace

Duration FullSyncInterval(size_t nodes) {
  if (nodes <= kFullSyncScaleThreshold) return kFullSyncInterval;
  // Consul's scaleFactor, ceil(log2(nodes) - log2(128)) + 1: with the threshold a power of
  // two, ceil(log2(nodes)) - 7 + 1 in integers.
  const int64_t f = CeilLog2(nodes) - CeilLog2(kFullSyncScaleThreshold) + 1;
  return kFullSyncInterval * f;
}

bool SameService(const state::Service& a, const state::Service& b) {
  return a.id == b.id && a.name == b.name && a.tags == b.tags && a.address == b.address && a.port == b.port &&
         a.meta == b.meta && a.weights == b.weights && a.enable_tag_override == b.enable_tag_override;
}

bool SameCheck(const state::Check& a, const state::Check& b) {
  return a.check_id == b.check_id && a.name == b.name && a.status == b.status && a.notes == b.notes &&
         a.output == b.output && a.service_id == b.service_id;
}

NodeDiff DiffNode(const LocalNode& local, const RemoteNode& remote,
                  const absl::btree_set<std::string>& protected_services) {
  NodeDiff d;
  absl::btree_map<std::string, const state::Service*> remote_services;
  absl::btree_map<std::string, const state::Check*> remote_checks;
  for (const state::Service& s : remote.services) remote_services[s.id] = &s;
  for (const state::Check& c : remote.checks) remote_checks[c.check_id] = &c;
  absl::btree_set<std::string> local_services, local_checks;
  for (const state::Service& s : local.services) {
    local_services.insert(s.id);
    auto r = remote_services.find(s.id);
    if (r == remote_services.end() || !SameService(s, *r->second)) d.services_to_register.push_back(s.id);
  }
  for (const state::Check& c : local.checks) {
    local_checks.insert(c.check_id);
    auto r = remote_checks.find(c.check_id);
    if (r == remote_checks.end() || !SameCheck(c, *r->second)) d.checks_to_register.push_back(c.check_id);
  }
  for (const auto& [id, s] : remote_services) {
    if (!local_services.contains(id) && !protected_services.contains(id)) d.services_to_deregister.push_back(id);
  }
  for (const auto& [id, c] : remote_checks) {
    if (local_checks.contains(id) || id == state::kSerfCheckId) continue;
    // A check of a protected service (a server's own) stays with it.
    if (!c->service_id.empty() && protected_services.contains(c->service_id)) continue;
    d.checks_to_deregister.push_back(id);
  }
  return d;
}

std::optional<RemoteNode> ParseRemoteNode(std::string_view catalog_node_json, std::string_view health_node_json) {
  Json node = Json::parse(catalog_node_json.begin(), catalog_node_json.end(), nullptr, false);
  Json checks = Json::parse(health_node_json.begin(), health_node_json.end(), nullptr, false);
  if (node.is_discarded() || checks.is_discarded() || !checks.is_array()) return std::nullopt;
  RemoteNode r;
  if (node.is_object()) {
    r.exists = true;
    if (node.contains("Services") && node["Services"].is_object()) {
      for (auto it = node["Services"].begin(); it != node["Services"].end(); ++it) {
        state::Service s;
        if (!ReadService(it.value(), &s)) return std::nullopt;
        r.services.push_back(std::move(s));
      }
    }
  } else if (!node.is_null()) {
    return std::nullopt;
  }
  for (const Json& c : checks) {
    if (!c.is_object()) return std::nullopt;
    state::Check k;
    k.node = c.value("Node", "");
    k.check_id = c.value("CheckID", "");
    k.name = c.value("Name", "");
    absl::StatusOr<state::HealthStatus> st = state::ParseHealthStatus(c.value("Status", ""));
    k.status = st.ok() ? *st : state::HealthStatus::kCritical;
    k.notes = c.value("Notes", "");
    k.output = c.value("Output", "");
    k.service_id = c.value("ServiceID", "");
    k.type = c.value("Type", "");
    if (k.check_id.empty()) return std::nullopt;
    r.checks.push_back(std::move(k));
  }
  return r;
}

AntiEntropy::AntiEntropy(AntiEntropyOptions options, uint64_t seed, Time now, Logger log)
    : opt_(std::move(options)), log_(std::move(log)), rng_(seed), full_at_(now + kFirstFullSync) {}

void AntiEntropy::Tick(Time now, LocalState& local, size_t nodes, const Requester& request, Effects* out) {
  if (phase_ == Phase::kReading && reads_outstanding_ == 0) {
    phase_ = Phase::kIdle;
    FinishRead(now, local);
  }
  if (phase_ == Phase::kPushing && writes_outstanding_ == 0) {
    phase_ = Phase::kIdle;
    if (write_error_.has_value()) {
      Failed(now, *write_error_);
    } else {
      retry_wait_ = kSyncRetryMin;
    }
  }
  if (phase_ == Phase::kIdle) {
    if (retry_at_.has_value()) {
      if (now >= *retry_at_) {
        retry_at_.reset();
        StartFull(now, request);
      }
    } else if (now >= full_at_) {
      const Duration every = FullSyncInterval(nodes);
      full_at_ = now + every + rng_.UniformDuration(absl::ZeroDuration(), every / 16);
      StartFull(now, request);
    } else if (push_wanted_ || local.changes() != changes_seen_) {
      Push(now, local, request);
    }
  }
  // An answer that came inside this call (a read served at once) is taken next step.
  if (wants_tick(local)) {
    out->WakeAt(now);
  } else if (phase_ == Phase::kIdle) {
    out->WakeAt(retry_at_.has_value() ? *retry_at_ : full_at_);
  }
}

void AntiEntropy::ServerUp(Time now, size_t nodes, Effects* out) {
  const Duration stagger = kServerUpStagger * (FullSyncInterval(nodes) / kFullSyncInterval);
  const Time at = now + rng_.UniformDuration(absl::ZeroDuration(), stagger);
  if (retry_at_.has_value()) {
    retry_at_ = std::min(*retry_at_, at);
  } else {
    full_at_ = std::min(full_at_, at);
  }
  out->WakeAt(at);
}

bool AntiEntropy::wants_tick(const LocalState& local) const {
  switch (phase_) {
    case Phase::kReading: return reads_outstanding_ == 0;
    case Phase::kPushing: return writes_outstanding_ == 0;
    case Phase::kIdle: return !retry_at_.has_value() && (push_wanted_ || local.changes() != changes_seen_);
  }
  return false;
}

void AntiEntropy::StartFull(Time now, const Requester& request) {
  ++full_syncs_;
  phase_ = Phase::kReading;
  reads_outstanding_ = 2;
  read_error_.reset();
  pba::Call call;
  call.set_key(opt_.node_name);
  request("catalog.node", call, [this](const absl::Status& s, const pba::Reply& r) {
    --reads_outstanding_;
    if (!s.ok()) read_error_ = s;
    catalog_json_ = r.body();
  });
  request("health.node", call, [this](const absl::Status& s, const pba::Reply& r) {
    --reads_outstanding_;
    if (!s.ok()) read_error_ = s;
    health_json_ = r.body();
  });
}

void AntiEntropy::FinishRead(Time now, LocalState& local) {
  if (read_error_.has_value()) return Failed(now, *read_error_);
  std::optional<RemoteNode> remote = ParseRemoteNode(catalog_json_, health_json_);
  catalog_json_.clear();
  health_json_.clear();
  if (!remote.has_value()) return Failed(now, absl::InternalError("the catalog's view of this node does not parse"));
  LocalNode mine;
  for (const auto& [id, s] : local.services()) mine.services.push_back(s.service);
  for (const auto& [id, c] : local.checks()) mine.checks.push_back(local.CheckRecord(c));
  NodeDiff diff = DiffNode(mine, *remote, opt_.protected_services);
  // Everything found equal is in step now; the rest is sent by the push that follows.
  for (const auto& [id, s] : local.services()) local.MarkServiceSynced(id, s.revision);
  for (const auto& [id, c] : local.checks()) local.MarkCheckSynced(id, c.revision);
  for (const std::string& id : diff.services_to_register) local.MarkServiceOutOfSync(id);
  for (const std::string& id : diff.checks_to_register) local.MarkCheckOutOfSync(id);
  remote_only_services_ = absl::btree_set<std::string>(diff.services_to_deregister.begin(), diff.services_to_deregister.end());
  remote_only_checks_ = absl::btree_set<std::string>(diff.checks_to_deregister.begin(), diff.checks_to_deregister.end());
  push_wanted_ = true;
}

pba::Call AntiEntropy::Registration(const LocalState& local, const state::Service* service,
                                    const std::vector<state::Check>& checks) const {
  Json j;
  j["Node"] = opt_.node_name;
  j["ID"] = opt_.node_id;
  j["Address"] = opt_.address;
  if (service != nullptr) j["Service"] = CatalogServiceJson(*service);
  if (checks.size() == 1 && service == nullptr) {
    j["Check"] = CatalogCheckJson(checks[0]);
  } else if (!checks.empty()) {
    Json arr = Json::array();
    for (const state::Check& c : checks) arr.push_back(CatalogCheckJson(c));
    j["Checks"] = std::move(arr);
  }
  j["SkipNodeUpdate"] = true;
  pba::Call call;
  call.set_json(j.dump());
  return call;
}

void AntiEntropy::Push(Time now, LocalState& local, const Requester& request) {
  changes_seen_ = local.changes();
  push_wanted_ = false;
  struct Send {
    std::string method;
    pba::Call call;
    Callback done;
  };
  std::vector<Send> sends;
  auto room = [&] { return sends.size() < kSyncRequestsMax; };
  LocalState* state = &local;
  auto deregister = [&](std::string_view field, const std::string& id, bool service) {
    Json j;
    j["Node"] = opt_.node_name;
    j[std::string(field)] = id;
    pba::Call call;
    call.set_json(j.dump());
    sends.push_back({"catalog.deregister", call, [this, state, id, service](const absl::Status& s, const pba::Reply&) {
                       --writes_outstanding_;
                       if (!s.ok()) {
                         write_error_ = s;
                         return;
                       }
                       if (service) {
                         remote_only_services_.erase(id);
                         // Removed here again meanwhile? Then it is a tombstone still.
                         if (!state->services().contains(id)) state->ForgetDeletedService(id);
                       } else {
                         remote_only_checks_.erase(id);
                         if (!state->checks().contains(id)) state->ForgetDeletedCheck(id);
                       }
                     }});
  };
  absl::btree_set<std::string> gone_services = remote_only_services_;
  gone_services.insert(local.deleted_services().begin(), local.deleted_services().end());
  for (const std::string& id : gone_services) {
    if (!room()) break;
    if (!local.services().contains(id)) deregister("ServiceID", id, true);
  }
  absl::btree_set<std::string> gone_checks = remote_only_checks_;
  gone_checks.insert(local.deleted_checks().begin(), local.deleted_checks().end());
  for (const std::string& id : gone_checks) {
    if (!room()) break;
    if (!local.checks().contains(id)) deregister("CheckID", id, false);
  }
  // Services out of step go with all their checks (grouped once: thousands of checks).
  absl::btree_map<std::string, std::vector<const LocalCheck*>> by_service;
  for (const auto& [id, c] : local.checks()) {
    if (!c.def.service_id.empty()) by_service[c.def.service_id].push_back(&c);
  }
  absl::btree_set<std::string> covered;
  for (const auto& [id, s] : local.services()) {
    if (s.in_sync) continue;
    if (!room()) break;
    std::vector<state::Check> checks;
    std::vector<std::pair<std::string, uint64_t>> check_revisions;
    if (auto its = by_service.find(id); its != by_service.end()) {
      for (const LocalCheck* c : its->second) {
        checks.push_back(local.CheckRecord(*c));
        covered.insert(c->def.id);
        check_revisions.emplace_back(c->def.id, c->revision);
      }
    }
    sends.push_back({"catalog.register", Registration(local, &s.service, checks),
                     [this, state, id = id, revision = s.revision, check_revisions](const absl::Status& st,
                                                                                     const pba::Reply&) {
                       --writes_outstanding_;
                       if (!st.ok()) {
                         write_error_ = st;
                         return;
                       }
                       state->MarkServiceSynced(id, revision);
                       for (const auto& [cid, rev] : check_revisions) state->MarkCheckSynced(cid, rev);
                     }});
  }
  for (const auto& [id, c] : local.checks()) {
    if (c.in_sync || covered.contains(id)) continue;
    if (!room()) break;
    sends.push_back({"catalog.register", Registration(local, nullptr, {local.CheckRecord(c)}),
                     [this, state, id = id, revision = c.revision](const absl::Status& st, const pba::Reply&) {
                       --writes_outstanding_;
                       if (!st.ok()) {
                         write_error_ = st;
                         return;
                       }
                       state->MarkCheckSynced(id, revision);
                     }});
  }
  if (sends.empty()) return;
  if (!room()) push_wanted_ = true;  // the rest in the next round
  ++pushes_;
  phase_ = Phase::kPushing;
  write_error_.reset();
  writes_outstanding_ = static_cast<int>(sends.size());
  for (Send& s : sends) request(s.method, s.call, std::move(s.done));
}

void AntiEntropy::Failed(Time now, const absl::Status& status) {
  ++failures_;
  log_.Warn(now, "failed to sync remote state: ", status.message());
  retry_at_ = now + retry_wait_ + rng_.UniformDuration(absl::ZeroDuration(), retry_wait_ / 4);
  retry_wait_ = std::min(retry_wait_ * 2, kSyncRetryMax);
}

}  // namespace muster::agent
