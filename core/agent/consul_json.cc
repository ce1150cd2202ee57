#include "core/agent/consul_json.h"

#include <algorithm>
#include <cstdint>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/agent/addresses.h"
#include "core/agent/go_duration.h"
#include "core/agent/identity.h"
#include "core/base/strings.h"

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

// A service's tagged addresses, with the lowercase "address" / "port" Consul's catalog and
// health answers carry (W5).
Json TaggedAddressesJson(const std::map<std::string, state::ServiceAddress>& addresses) {
  Json out = Json::object();
  for (const auto& [name, a] : addresses) out[name] = Json{{"address", a.address}, {"port", a.port}};
  return out;
}

Json WeightsJson(const state::Weights& w) { return Json{{"Passing", w.passing}, {"Warning", w.warning}}; }

// A service's Proxy / ServiceProxy when it is no Connect proxy: what Consul's encoder writes
// for the zero ConnectProxyConfig (its other fields are omitempty).
Json EmptyProxyJson() { return Json{{"MeshGateway", Json::object()}, {"Expose", Json::object()}}; }

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
  if (!s.tagged_addresses.empty()) j["TaggedAddresses"] = TaggedAddressesJson(s.tagged_addresses);
  j["Meta"] = ObjectOf(s.meta);
  j["Port"] = s.port;
  j["Weights"] = WeightsJson(s.weights);
  j["EnableTagOverride"] = s.enable_tag_override;
  j["Proxy"] = EmptyProxyJson();  // Connect proxies are not served; Consul writes the empty ones
  j["Connect"] = Json::object();
  j["CreateIndex"] = s.create_index;
  j["ModifyIndex"] = s.modify_index;
  return j;
}

Json CatalogServiceJson(const state::ServiceInstance& instance) {
  const state::Node& n = instance.node;
  const state::Service& s = instance.service;
  Json j;
  j["ID"] = n.id;
  j["Node"] = n.name;
  j["Address"] = n.address;
  j["Datacenter"] = n.datacenter;
  j["TaggedAddresses"] = ObjectOf(n.tagged_addresses);
  j["NodeMeta"] = ObjectOf(n.meta);
  j["ServiceKind"] = "";
  j["ServiceID"] = s.id;
  j["ServiceName"] = s.name;
  j["ServiceTags"] = s.tags;  // [] when none: Consul's handler replaces a nil list
  j["ServiceAddress"] = s.address;
  if (!s.tagged_addresses.empty()) j["ServiceTaggedAddresses"] = TaggedAddressesJson(s.tagged_addresses);
  j["ServiceWeights"] = WeightsJson(s.weights);
  j["ServiceMeta"] = ObjectOf(s.meta);
  j["ServicePort"] = s.port;
  j["ServiceEnableTagOverride"] = s.enable_tag_override;
  j["ServiceProxy"] = EmptyProxyJson();
  j["ServiceConnect"] = Json::object();
  j["CreateIndex"] = s.create_index;
  j["ModifyIndex"] = s.modify_index;
  return j;
}

Json HealthServiceJson(const state::ServiceHealth& health) {
  Json checks = Json::array();
  for (const state::Check& c : health.checks) checks.push_back(CheckJson(c));
  Json j;
  j["Node"] = NodeJson(health.node);
  j["Service"] = ServiceJson(health.service);
  j["Checks"] = std::move(checks);
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
  // Consul's structs.Session: [{"ID", "Namespace"}], null when there are none (a nil slice).
  if (s.service_checks.empty()) {
    j["ServiceChecks"] = nullptr;
  } else {
    Json checks = Json::array();
    for (const std::string& id : s.service_checks) checks.push_back(Json{{"ID", id}, {"Namespace", ""}});
    j["ServiceChecks"] = std::move(checks);
  }
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
  // nlohmann's lexer ends the input at a NUL, so "{}\0garbage" would pass; Go refuses it.
  if (text.find('\0') != std::string_view::npos) return absl::InvalidArgumentError("session: body is not JSON (a NUL byte)");
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
      if (!v.is_string()) return bad("a string");
      if (v.get<std::string>().size() > 256) return bad("at most 256 bytes long");
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
        uint64_t n = v.get<uint64_t>();
        // Consul's old clients send a lock delay in seconds: a number under 1,000 is taken so
        // (structs.Session's lockDelayMinThreshold), anything larger as nanoseconds.
        if (k == "LockDelay" && n < 1000) n *= 1'000'000'000;
        absl::StatusOr<Duration> p = DurationFromNanoseconds(n, std::string("session: ") + k);
        if (!p.ok()) return p.status();
        d = *p;
      } else {
        return bad("a duration (\"10s\")");
      }
      (k == "TTL" ? s.ttl : s.lock_delay) = d;
    } else if (k == "Checks" || k == "NodeChecks") {
      if (!strings(v, &s.node_checks)) return bad("a list of check IDs");
      default_checks = false;
    } else if (k == "ServiceChecks") {
      // [{"ID": "..."}] in Consul; the IDs are what the store needs. null: none (Go's nil).
      if (!v.is_null() && (!v.is_array() || v.size() > 64)) return bad("a list");
      for (const Json& e : v) {
        if (!e.is_object() || !e.contains("ID") || !e["ID"].is_string() || e["ID"].get<std::string>().size() > 256) {
          return bad("a list of {\"ID\": ...} (IDs of at most 256 bytes)");
        }
        s.service_checks.push_back(e["ID"].get<std::string>());
      }
      default_checks = false;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("session: unknown field ", k));
    }
  }
  return std::make_pair(s, default_checks);
}

// ---- PUT /v1/catalog/register and /v1/catalog/deregister

const Json* Member(const Json& object, std::string_view field) {
  const Json* found = nullptr;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (absl::EqualsIgnoreCase(it.key(), Absl(field)) && !it.value().is_null()) found = &it.value();
  }
  return found;
}

namespace {

// Bounds on what one registration may carry. Consul's meta limits (structs.metaMaxKeyPairs,
// metaKeyMaxLength, metaValueMaxLength); the rest are ours, far above what a real agent sends.
constexpr size_t kCatalogBodyBytesMax = 512 * 1024;
constexpr int kCatalogBodyDepthMax = 10;  // body, Service, TaggedAddresses, lan, ... with room
constexpr size_t kCatalogChecksMax = 256;
constexpr size_t kCatalogTagsMax = 256;
constexpr size_t kCatalogTagBytesMax = 1024;
constexpr size_t kCatalogNameBytesMax = 512;      // node, IDs, names, addresses, types
constexpr size_t kCatalogTextBytesMax = 64 * 1024;  // a check's Notes and Output
constexpr size_t kMetaPairsMax = 64;
constexpr size_t kMetaKeyBytesMax = 128;
constexpr size_t kMetaValueBytesMax = 512;
constexpr size_t kTaggedAddressesMax = 64;

absl::Status DecodeError(std::string_view field, std::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat("Request decode failed: ", Absl(field), " must be ", Absl(want)));
}

std::string FieldPath(std::string_view where, std::string_view field) {
  return where.empty() ? std::string(field) : absl::StrCat(Absl(where), ".", Absl(field));
}

absl::Status ReadString(const Json& object, std::string_view where, std::string_view field, size_t bytes_max,
                        std::string* out) {
  const Json* v = Member(object, field);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_string()) return DecodeError(FieldPath(where, field), "a string");
  if (v->get_ref<const std::string&>().size() > bytes_max) {
    return DecodeError(FieldPath(where, field), absl::StrCat("at most ", bytes_max, " bytes"));
  }
  *out = v->get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadInt(const Json& object, std::string_view where, std::string_view field, int64_t min, int64_t max,
                     int32_t* out) {
  const Json* v = Member(object, field);
  if (v == nullptr) return absl::OkStatus();
  // Go refuses 80.0 and "80" for an int field, as this does.
  const bool fits = v->is_number_unsigned() ? v->get<uint64_t>() <= static_cast<uint64_t>(max)
                                            : v->is_number_integer() && v->get<int64_t>() >= min &&
                                                  v->get<int64_t>() <= max;
  if (!fits) return DecodeError(FieldPath(where, field), absl::StrCat("an integer from ", min, " to ", max));
  *out = static_cast<int32_t>(v->get<int64_t>());
  return absl::OkStatus();
}

absl::Status ReadBool(const Json& object, std::string_view where, std::string_view field, bool* out) {
  const Json* v = Member(object, field);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_boolean()) return DecodeError(FieldPath(where, field), "true or false");
  *out = v->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadStringList(const Json& object, std::string_view where, std::string_view field,
                            std::vector<std::string>* out) {
  const Json* v = Member(object, field);
  if (v == nullptr) return absl::OkStatus();
  const std::string path = FieldPath(where, field);
  if (!v->is_array()) return DecodeError(path, "a list of strings");
  if (v->size() > kCatalogTagsMax) return DecodeError(path, absl::StrCat("at most ", kCatalogTagsMax, " strings"));
  out->clear();
  for (const Json& e : *v) {
    if (!e.is_string() || e.get_ref<const std::string&>().size() > kCatalogTagBytesMax) {
      return DecodeError(path, absl::StrCat("a list of strings of at most ", kCatalogTagBytesMax, " bytes"));
    }
    out->push_back(e.get<std::string>());
  }
  return absl::OkStatus();
}

// A string-to-string map: node meta, service meta, a node's tagged addresses.
absl::Status ReadStringMap(const Json& object, std::string_view where, std::string_view field,
                           std::map<std::string, std::string>* out) {
  const Json* v = Member(object, field);
  if (v == nullptr) return absl::OkStatus();
  const std::string path = FieldPath(where, field);
  if (!v->is_object()) return DecodeError(path, "an object of strings");
  if (v->size() > kMetaPairsMax) return DecodeError(path, absl::StrCat("at most ", kMetaPairsMax, " pairs"));
  out->clear();
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (it.key().empty() || it.key().size() > kMetaKeyBytesMax) {
      return DecodeError(path, absl::StrCat("keyed by 1 to ", kMetaKeyBytesMax, " bytes"));
    }
    if (!it.value().is_string() || it.value().get_ref<const std::string&>().size() > kMetaValueBytesMax) {
      return DecodeError(path, absl::StrCat("an object of strings of at most ", kMetaValueBytesMax, " bytes"));
    }
    (*out)[it.key()] = it.value().get<std::string>();
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> ParseBody(std::string_view text, std::string_view what) {
  if (text.size() > kCatalogBodyBytesMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("Request decode failed: the ", Absl(what), " body is larger than ", kCatalogBodyBytesMax, " bytes"));
  }
  // nlohmann stops at a NUL byte as at the end of the input; Go's decoder refuses it (no JSON
  // text holds one outside a string, and inside one it must be escaped).
  if (text.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("Request decode failed: invalid character '\\x00' in the body");
  }
  bool too_deep = false;
  Json::parser_callback_t depth_check = [&too_deep](int depth, Json::parse_event_t, Json&) {
    if (depth > kCatalogBodyDepthMax) too_deep = true;
    return !too_deep;  // discard the rest: nothing deeper is kept while it is refused
  };
  Json j = Json::parse(text.begin(), text.end(), depth_check, /*allow_exceptions=*/false);
  if (too_deep) {
    return absl::InvalidArgumentError(absl::StrCat("Request decode failed: nested deeper than ", kCatalogBodyDepthMax));
  }
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("Request decode failed: the ", Absl(what), " body is not a JSON object"));
  }
  return j;
}

absl::StatusOr<state::Service> ParseRegisterService(const Json& v) {
  if (!v.is_object()) return DecodeError("Service", "an object");
  state::Service s;
  absl::Status st;
  if (!(st = ReadString(v, "Service", "ID", kCatalogNameBytesMax, &s.id)).ok()) return st;
  if (!(st = ReadString(v, "Service", "Service", kCatalogNameBytesMax, &s.name)).ok()) return st;
  if (!(st = ReadStringList(v, "Service", "Tags", &s.tags)).ok()) return st;
  if (!(st = ReadString(v, "Service", "Address", kCatalogNameBytesMax, &s.address)).ok()) return st;
  if (!(st = ReadInt(v, "Service", "Port", 0, 65535, &s.port)).ok()) return st;
  if (!(st = ReadStringMap(v, "Service", "Meta", &s.meta)).ok()) return st;
  if (!(st = ReadBool(v, "Service", "EnableTagOverride", &s.enable_tag_override)).ok()) return st;
  if (const Json* w = Member(v, "Weights"); w != nullptr) {
    if (!w->is_object()) return DecodeError("Service.Weights", "an object");
    s.weights = state::Weights{0, 0};  // a Weights sent is Go's zero value, then its fields
    if (!(st = ReadInt(*w, "Service.Weights", "Passing", 0, INT32_MAX, &s.weights.passing)).ok()) return st;
    if (!(st = ReadInt(*w, "Service.Weights", "Warning", 0, INT32_MAX, &s.weights.warning)).ok()) return st;
  }
  if (const Json* t = Member(v, "TaggedAddresses"); t != nullptr) {
    if (!t->is_object() || t->size() > kTaggedAddressesMax) {
      return DecodeError("Service.TaggedAddresses", absl::StrCat("an object of at most ", kTaggedAddressesMax,
                                                                  " {\"Address\", \"Port\"}"));
    }
    for (auto it = t->begin(); it != t->end(); ++it) {
      const std::string where = absl::StrCat("Service.TaggedAddresses.", it.key());
      if (it.key().empty() || it.key().size() > kMetaKeyBytesMax || !it.value().is_object()) {
        return DecodeError(where, "an object {\"Address\", \"Port\"}");
      }
      state::ServiceAddress a;
      if (!(st = ReadString(it.value(), where, "Address", kCatalogNameBytesMax, &a.address)).ok()) return st;
      if (!(st = ReadInt(it.value(), where, "Port", 0, 65535, &a.port)).ok()) return st;
      s.tagged_addresses[it.key()] = std::move(a);
    }
  }
  // Consul's servicePreApply: the ID defaults to the name; an ID needs a name.
  if (s.id.empty()) s.id = s.name;
  if (s.name.empty()) return absl::InvalidArgumentError("Must provide service name with ID");
  return s;
}

absl::StatusOr<state::Check> ParseRegisterCheck(const Json& v, std::string_view where, const std::string& node) {
  if (!v.is_object()) return DecodeError(where, "an object");
  state::Check c;
  std::string status;
  absl::Status st;
  if (!(st = ReadString(v, where, "Node", kCatalogNameBytesMax, &c.node)).ok()) return st;
  if (!(st = ReadString(v, where, "CheckID", kCatalogNameBytesMax, &c.check_id)).ok()) return st;
  if (!(st = ReadString(v, where, "Name", kCatalogNameBytesMax, &c.name)).ok()) return st;
  if (!(st = ReadString(v, where, "Status", kCatalogNameBytesMax, &status)).ok()) return st;
  if (!(st = ReadString(v, where, "Notes", kCatalogTextBytesMax, &c.notes)).ok()) return st;
  if (!(st = ReadString(v, where, "Output", kCatalogTextBytesMax, &c.output)).ok()) return st;
  if (!(st = ReadString(v, where, "ServiceID", kCatalogNameBytesMax, &c.service_id)).ok()) return st;
  if (!(st = ReadString(v, where, "Type", kCatalogNameBytesMax, &c.type)).ok()) return st;
  // Consul's Register: a check's node is the request's, its ID its name; the state store's:
  // a check without a status is critical.
  if (c.node.empty()) c.node = node;
  if (c.check_id.empty()) c.check_id = c.name;
  c.status = state::HealthStatus::kCritical;
  if (!status.empty()) {
    absl::StatusOr<state::HealthStatus> parsed = state::ParseHealthStatus(status);
    if (!parsed.ok()) return DecodeError(FieldPath(where, "Status"), "passing, warning or critical");
    c.status = *parsed;
  }
  return c;
}

}  // namespace

absl::StatusOr<CatalogRegistration> ParseCatalogRegister(std::string_view text) {
  absl::StatusOr<Json> body = ParseBody(text, "register");
  if (!body.ok()) return body.status();
  const Json& j = *body;
  CatalogRegistration out;
  state::RegisterRequest& req = out.request;
  absl::Status st;
  if (!(st = ReadString(j, "", "ID", kCatalogNameBytesMax, &req.node.id)).ok()) return st;
  if (!(st = ReadString(j, "", "Node", kCatalogNameBytesMax, &req.node.name)).ok()) return st;
  if (!(st = ReadString(j, "", "Address", kCatalogNameBytesMax, &req.node.address)).ok()) return st;
  if (!(st = ReadString(j, "", "Datacenter", kCatalogNameBytesMax, &out.datacenter)).ok()) return st;
  if (!(st = ReadStringMap(j, "", "TaggedAddresses", &req.node.tagged_addresses)).ok()) return st;
  if (!(st = ReadStringMap(j, "", "NodeMeta", &req.node.meta)).ok()) return st;
  if (!(st = ReadBool(j, "", "SkipNodeUpdate", &req.skip_node_update)).ok()) return st;
  // Consul's Register: these before anything is proposed.
  if (req.node.name.empty()) return absl::InvalidArgumentError("Must provide node");
  if (!req.node.id.empty()) {
    absl::StatusOr<std::string> id = ParseNodeId(req.node.id);
    if (!id.ok()) return absl::InvalidArgumentError(absl::StrCat("Bad node ID: ", id.status().message()));
    req.node.id = *id;
  }
  if (const Json* service = Member(j, "Service"); service != nullptr) {
    absl::StatusOr<state::Service> s = ParseRegisterService(*service);
    if (!s.ok()) return s.status();
    req.service = std::move(*s);
  }
  if (const Json* checks = Member(j, "Checks"); checks != nullptr) {
    if (!checks->is_array() || checks->size() > kCatalogChecksMax) {
      return DecodeError("Checks", absl::StrCat("a list of at most ", kCatalogChecksMax, " checks"));
    }
    for (size_t i = 0; i < checks->size(); ++i) {
      absl::StatusOr<state::Check> c = ParseRegisterCheck((*checks)[i], absl::StrCat("Checks[", i, "]"), req.node.name);
      if (!c.ok()) return c.status();
      req.checks.push_back(std::move(*c));
    }
  }
  // The single Check goes after Checks, as Consul appends it.
  if (const Json* check = Member(j, "Check"); check != nullptr) {
    if (req.checks.size() >= kCatalogChecksMax) {
      return DecodeError("Checks", absl::StrCat("a list of at most ", kCatalogChecksMax, " checks"));
    }
    absl::StatusOr<state::Check> c = ParseRegisterCheck(*check, "Check", req.node.name);
    if (!c.ok()) return c.status();
    req.checks.push_back(std::move(*c));
  }
  return out;
}

absl::StatusOr<CatalogDeregistration> ParseCatalogDeregister(std::string_view text) {
  absl::StatusOr<Json> body = ParseBody(text, "deregister");
  if (!body.ok()) return body.status();
  CatalogDeregistration out;
  absl::Status st;
  if (!(st = ReadString(*body, "", "Node", kCatalogNameBytesMax, &out.node)).ok()) return st;
  if (!(st = ReadString(*body, "", "ServiceID", kCatalogNameBytesMax, &out.service_id)).ok()) return st;
  if (!(st = ReadString(*body, "", "CheckID", kCatalogNameBytesMax, &out.check_id)).ok()) return st;
  if (!(st = ReadString(*body, "", "Datacenter", kCatalogNameBytesMax, &out.datacenter)).ok()) return st;
  if (out.node.empty()) return absl::InvalidArgumentError("Must provide node");
  return out;
}

}  // namespace muster::agent
