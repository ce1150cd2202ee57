#include "core/agent/consul_json.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/agent/addresses.h"
#include "core/agent/go_duration.h"

namespace muster::agent {
namespace {

// Consul's member status numbers (serf.MemberStatus).
int MemberStatusCode(gossip::MemberStatus s) {
  switch (s) {
    case gossip::MemberStatus::kAlive: return 1;
    case gossip::MemberStatus::kLeaving: return 2;
    case gossip::MemberStatus::kLeft: return 3;
    case gossip::MemberStatus::kFailed: return 4;
  }
  return 0;
}

// A string map as a JSON object ({} when empty, as Consul answers), in key order.
template <typename Map>
Json ObjectOf(const Map& map) {
  Json out = Json::object();
  for (const auto& [k, v] : map) out[k] = v;
  return out;
}

}  // namespace

Json MemberJson(const gossip::Member& m) {
  Json j;
  j["Name"] = m.name;
  j["Addr"] = HostOf(m.addr);
  j["Port"] = PortOf(m.addr, 8301);
  j["Tags"] = ObjectOf(m.tags);
  j["Status"] = MemberStatusCode(m.status);
  j["ProtocolMin"] = 1;
  j["ProtocolMax"] = 5;
  j["ProtocolCur"] = 2;
  j["DelegateMin"] = 2;
  j["DelegateMax"] = 5;
  j["DelegateCur"] = 4;
  return j;
}

Json KVJson(const state::KVEntry& e) {
  Json j;
  j["LockIndex"] = e.lock_index;
  j["Key"] = e.key;
  j["Flags"] = e.flags;
  j["Value"] = e.value.empty() ? Json(nullptr) : Json(absl::Base64Escape(e.value));
  if (!e.session.empty()) j["Session"] = e.session;
  j["CreateIndex"] = e.create_index;
  j["ModifyIndex"] = e.modify_index;
  return j;
}

Json NodeJson(const state::Node& n) {
  Json j;
  j["ID"] = n.id;
  j["Node"] = n.name;
  j["Address"] = n.address;
  j["Datacenter"] = n.datacenter;
  j["TaggedAddresses"] = ObjectOf(n.tagged_addresses);
  j["Meta"] = ObjectOf(n.meta);
  j["CreateIndex"] = n.create_index;
  j["ModifyIndex"] = n.modify_index;
  return j;
}

Json CheckJson(const state::Check& c) {
  Json j;
  j["Node"] = c.node;
  j["CheckID"] = c.check_id;
  j["Name"] = c.name;
  j["Status"] = std::string(state::HealthStatusName(c.status));
  j["Notes"] = c.notes;
  j["Output"] = c.output;
  j["ServiceID"] = c.service_id;
  j["ServiceName"] = c.service_name;
  j["ServiceTags"] = c.service_tags;
  j["Type"] = c.type;
  j["CreateIndex"] = c.create_index;
  j["ModifyIndex"] = c.modify_index;
  return j;
}

Json ServiceJson(const state::Service& s) {
  Json j;
  j["ID"] = s.id;
  j["Service"] = s.name;
  j["Tags"] = s.tags;
  j["Address"] = s.address;
  j["Meta"] = ObjectOf(s.meta);
  j["Port"] = s.port;
  j["Weights"] = Json{{"Passing", s.weights.passing}, {"Warning", s.weights.warning}};
  j["EnableTagOverride"] = s.enable_tag_override;
  j["CreateIndex"] = s.create_index;
  j["ModifyIndex"] = s.modify_index;
  return j;
}

Json SessionJson(const state::Session& s) {
  Json j;
  j["ID"] = s.id;
  j["Name"] = s.name;
  j["Node"] = s.node;
  j["LockDelay"] = absl::ToInt64Nanoseconds(s.lock_delay);
  j["Behavior"] = std::string(state::SessionBehaviorName(s.behavior));
  j["TTL"] = s.ttl == absl::ZeroDuration() ? "" : GoDuration(s.ttl);
  j["NodeChecks"] = s.node_checks;
  j["ServiceChecks"] = s.service_checks;
  j["CreateIndex"] = s.create_index;
  j["ModifyIndex"] = s.modify_index;
  return j;
}

// Consul's session create body: {"Name","Node","LockDelay","Behavior","TTL","Checks",
// "NodeChecks","ServiceChecks"}; absent fields take Consul's defaults (the agent's own node,
// 15 s lock delay, release, no TTL, the node's serfHealth).
absl::StatusOr<std::pair<state::Session, bool>> ParseSessionCreate(std::string_view text, const std::string& node) {
  state::Session s;
  s.node = node;
  bool default_checks = true;
  if (text.empty()) return std::make_pair(s, default_checks);
  if (text.size() > 64 * 1024) return absl::InvalidArgumentError("session: body too large");
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("session: body is not a JSON object");
  auto strings = [](const Json& v, std::vector<std::string>* out) -> bool {
    if (v.is_null()) return true;
    if (!v.is_array() || v.size() > 64) return false;
    for (const Json& e : v) {
      if (!e.is_string() || e.get<std::string>().size() > 256) return false;
      out->push_back(e.get<std::string>());
    }
    return true;
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const Json& v = it.value();
    auto bad = [&](std::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat("session: ", k, " must be ", std::string(what)));
    };
    if (k == "Name" || k == "Node") {
      if (!v.is_string() || v.get<std::string>().size() > 256) return bad("a string");
      (k == "Name" ? s.name : s.node) = v.get<std::string>();
    } else if (k == "Behavior") {
      if (!v.is_string()) return bad("\"release\" or \"delete\"");
      absl::StatusOr<state::SessionBehavior> b = state::ParseSessionBehavior(v.get<std::string>());
      if (!b.ok()) return bad("\"release\" or \"delete\"");
      s.behavior = *b;
    } else if (k == "TTL" || k == "LockDelay") {
      Duration d;
      if (v.is_string()) {
        if (v.get<std::string>().empty()) {
          d = absl::ZeroDuration();
        } else {
          absl::StatusOr<Duration> p = ParseGoDuration(v.get<std::string>(), std::string("session: ") + k);
          if (!p.ok()) return p.status();
          d = *p;
        }
      } else if (v.is_number_unsigned()) {
        d = absl::Nanoseconds(std::min<uint64_t>(v.get<uint64_t>(), uint64_t{1} << 62));
      } else {
        return bad("a duration (\"10s\")");
      }
      (k == "TTL" ? s.ttl : s.lock_delay) = d;
    } else if (k == "Checks" || k == "NodeChecks") {
      if (!strings(v, &s.node_checks)) return bad("a list of check IDs");
      default_checks = false;
    } else if (k == "ServiceChecks") {
      // [{"ID": "..."}] in Consul; the IDs are what the store needs.
      if (!v.is_array() || v.size() > 64) return bad("a list");
      for (const Json& e : v) {
        if (!e.is_object() || !e.contains("ID") || !e["ID"].is_string()) return bad("a list of {\"ID\": ...}");
        s.service_checks.push_back(e["ID"].get<std::string>());
      }
      default_checks = false;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("session: unknown field ", k));
    }
  }
  return std::make_pair(s, default_checks);
}

}  // namespace muster::agent
