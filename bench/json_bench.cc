// JSON libraries on muster's own payloads: nlohmann (what the agent uses, as ordered_json for
// Consul's field order, and its std::map variant for reference), RapidJSON (SAX Writer to
// encode, Document to decode) and simdjson (DOM and On Demand; decode only, it has no writer), with a
// hand-written encoder as the floor of what encoding can cost. Payloads: a KV GET answer of 1
// and of 100 entries, a catalog service answer of 50 instances, a session create body and an
// agent service register body, each encoded from and decoded into plain structs (the work the
// agent does on each request). Before timing anything, every encoder's output is checked to be
// the same bytes and every decoder's struct the same as the source.
//
//   bazel build -c opt //bench:json_bench && bazel-out/k8-opt/bin/bench/json_bench
// Figures and the decision: bench/json_bench_results.md.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "nlohmann/json.hpp"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "simdjson.h"

namespace {

using StringMap = std::map<std::string, std::string>;

// Debian's absl::string_view is its own type, not std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// ---- The payloads, as the agent holds them. ----

struct KVEntry {  // one element of GET /v1/kv/<key>
  uint64_t lock_index = 0;
  std::string key;
  uint64_t flags = 0;
  std::string value;  // raw bytes; base64 in JSON, null when empty
  std::string session;  // omitted when empty
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  bool operator==(const KVEntry&) const = default;
};

struct Weights {
  int64_t passing = 1;
  int64_t warning = 1;
  bool operator==(const Weights&) const = default;
};

struct ServiceInstance {  // one element of GET /v1/catalog/service/<name>
  std::string id, node, address, datacenter;
  StringMap tagged_addresses, node_meta;
  std::string service_kind, service_id, service_name;
  std::vector<std::string> service_tags;
  std::string service_address;
  Weights service_weights;
  StringMap service_meta;
  int64_t service_port = 0;
  bool service_enable_tag_override = false;
  uint64_t create_index = 0, modify_index = 0;
  bool operator==(const ServiceInstance&) const = default;
};

struct SessionCreate {  // PUT /v1/session/create
  std::string name, node, lock_delay, behavior, ttl;
  std::vector<std::string> checks;
  bool operator==(const SessionCreate&) const = default;
};

struct CheckDefinition {
  std::string check_id, name, http, method, interval, timeout, deregister_after;
  bool operator==(const CheckDefinition&) const = default;
};

struct ServiceRegistration {  // PUT /v1/agent/service/register
  std::string id, name;
  std::vector<std::string> tags;
  std::string address;
  int64_t port = 0;
  StringMap meta;
  bool enable_tag_override = false;
  Weights weights;
  CheckDefinition check;
  bool operator==(const ServiceRegistration&) const = default;
};

std::vector<KVEntry> MakeKV(int n) {
  std::vector<KVEntry> out;
  for (int i = 0; i < n; ++i) {
    KVEntry e;
    e.key = absl::StrCat("service/web/config/key-", i);
    e.value = std::string(100, static_cast<char>('a' + i % 26));
    e.flags = i % 3 == 0 ? 42 : 0;
    if (i % 10 == 0) e.session = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
    e.create_index = 1000 + i;
    e.modify_index = 2000 + i;
    out.push_back(e);
  }
  return out;
}

std::vector<ServiceInstance> MakeInstances(int n) {
  std::vector<ServiceInstance> out;
  for (int i = 0; i < n; ++i) {
    ServiceInstance s;
    s.id = absl::StrCat("40e4a748-2192-161a-0510-", 100000000000 + i);
    s.node = absl::StrCat("web-node-", i);
    s.address = absl::StrCat("10.1.", i / 250, ".", i % 250);
    s.datacenter = "dc1";
    s.tagged_addresses = {{"lan", s.address}, {"lan_ipv4", s.address}, {"wan", s.address}, {"wan_ipv4", s.address}};
    s.node_meta = {{"consul-network-segment", ""}, {"rack", absl::StrCat("r", i % 8)}};
    s.service_id = absl::StrCat("web-", i);
    s.service_name = "web";
    s.service_tags = {"primary", "v1"};
    s.service_address = s.address;
    s.service_meta = {{"version", "1.2.3"}};
    s.service_port = 8080;
    s.create_index = 500 + i;
    s.modify_index = 600 + i;
    out.push_back(s);
  }
  return out;
}

SessionCreate MakeSession() {
  return {"service/web/leader", "web-node-1", "15s", "delete", "30s", {"serfHealth", "service:web-1"}};
}

ServiceRegistration MakeRegistration() {
  ServiceRegistration r;
  r.id = "web-1";
  r.name = "web";
  r.tags = {"primary", "v1"};
  r.address = "10.1.0.1";
  r.port = 8080;
  r.meta = {{"version", "1.2.3"}, {"team", "edge"}};
  r.weights = {10, 1};
  r.check = {"web-1-http", "HTTP on 8080", "http://10.1.0.1:8080/health", "GET", "10s", "1s", "90m"};
  return r;
}

// ---- nlohmann, as core/agent/consul_json.cc builds and reads JSON. ----

template <typename Json>
Json NlohmannMap(const StringMap& m) {
  Json out = Json::object();
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

template <typename Json>
std::string NlohmannEncodeKV(const std::vector<KVEntry>& entries) {
  Json arr = Json::array();
  for (const KVEntry& e : entries) {
    Json j;
    j["LockIndex"] = e.lock_index;
    j["Key"] = e.key;
    j["Flags"] = e.flags;
    j["Value"] = e.value.empty() ? Json(nullptr) : Json(absl::Base64Escape(e.value));
    if (!e.session.empty()) j["Session"] = e.session;
    j["CreateIndex"] = e.create_index;
    j["ModifyIndex"] = e.modify_index;
    arr.push_back(std::move(j));
  }
  return arr.dump();
}

template <typename Json>
std::string NlohmannEncodeInstances(const std::vector<ServiceInstance>& instances) {
  Json arr = Json::array();
  for (const ServiceInstance& s : instances) {
    Json j;
    j["ID"] = s.id;
    j["Node"] = s.node;
    j["Address"] = s.address;
    j["Datacenter"] = s.datacenter;
    j["TaggedAddresses"] = NlohmannMap<Json>(s.tagged_addresses);
    j["NodeMeta"] = NlohmannMap<Json>(s.node_meta);
    j["ServiceKind"] = s.service_kind;
    j["ServiceID"] = s.service_id;
    j["ServiceName"] = s.service_name;
    j["ServiceTags"] = s.service_tags;
    j["ServiceAddress"] = s.service_address;
    j["ServiceWeights"] = Json{{"Passing", s.service_weights.passing}, {"Warning", s.service_weights.warning}};
    j["ServiceMeta"] = NlohmannMap<Json>(s.service_meta);
    j["ServicePort"] = s.service_port;
    j["ServiceEnableTagOverride"] = s.service_enable_tag_override;
    j["CreateIndex"] = s.create_index;
    j["ModifyIndex"] = s.modify_index;
    arr.push_back(std::move(j));
  }
  return arr.dump();
}

template <typename Json>
std::string NlohmannEncodeSession(const SessionCreate& s) {
  Json j;
  j["Name"] = s.name;
  j["Node"] = s.node;
  j["LockDelay"] = s.lock_delay;
  j["Behavior"] = s.behavior;
  j["TTL"] = s.ttl;
  j["Checks"] = s.checks;
  return j.dump();
}

template <typename Json>
std::string NlohmannEncodeRegistration(const ServiceRegistration& r) {
  Json j;
  j["ID"] = r.id;
  j["Name"] = r.name;
  j["Tags"] = r.tags;
  j["Address"] = r.address;
  j["Port"] = r.port;
  j["Meta"] = NlohmannMap<Json>(r.meta);
  j["EnableTagOverride"] = r.enable_tag_override;
  j["Weights"] = Json{{"Passing", r.weights.passing}, {"Warning", r.weights.warning}};
  Json c;
  c["CheckID"] = r.check.check_id;
  c["Name"] = r.check.name;
  c["HTTP"] = r.check.http;
  c["Method"] = r.check.method;
  c["Interval"] = r.check.interval;
  c["Timeout"] = r.check.timeout;
  c["DeregisterCriticalServiceAfter"] = r.check.deregister_after;
  j["Check"] = std::move(c);
  return j.dump();
}

// Decoding walks each object's members and dispatches on the name, checking every type, as
// ParseSessionCreate does; any mismatch fails the whole decode.
template <typename Json>
bool NlohmannString(const Json& v, std::string* out) {
  if (!v.is_string()) return false;
  *out = v.template get_ref<const std::string&>();
  return true;
}

template <typename Json>
bool NlohmannStrings(const Json& v, std::vector<std::string>* out) {
  if (!v.is_array()) return false;
  for (const Json& e : v) {
    if (!e.is_string()) return false;
    out->push_back(e.template get_ref<const std::string&>());
  }
  return true;
}

template <typename Json>
bool NlohmannStringMap(const Json& v, StringMap* out) {
  if (!v.is_object()) return false;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_string()) return false;
    (*out)[it.key()] = it.value().template get_ref<const std::string&>();
  }
  return true;
}

template <typename Json, typename Int>
bool NlohmannInt(const Json& v, Int* out) {
  if (!v.is_number_integer()) return false;
  *out = v.template get<Int>();
  return true;
}

template <typename Json>
bool NlohmannWeights(const Json& v, Weights* out) {
  if (!v.is_object()) return false;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.key() == "Passing" ? !NlohmannInt(it.value(), &out->passing)
                              : it.key() == "Warning" && !NlohmannInt(it.value(), &out->warning)) {
      return false;
    }
  }
  return true;
}

template <typename Json>
bool NlohmannDecodeKV(std::string_view text, std::vector<KVEntry>* out) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return false;
  for (const Json& o : j) {
    if (!o.is_object()) return false;
    KVEntry e;
    for (auto it = o.begin(); it != o.end(); ++it) {
      const std::string& k = it.key();
      const Json& v = it.value();
      bool ok = true;
      if (k == "LockIndex") ok = NlohmannInt(v, &e.lock_index);
      else if (k == "Key") ok = NlohmannString(v, &e.key);
      else if (k == "Flags") ok = NlohmannInt(v, &e.flags);
      else if (k == "Value") ok = v.is_null() || (v.is_string() && absl::Base64Unescape(v.template get_ref<const std::string&>(), &e.value));
      else if (k == "Session") ok = NlohmannString(v, &e.session);
      else if (k == "CreateIndex") ok = NlohmannInt(v, &e.create_index);
      else if (k == "ModifyIndex") ok = NlohmannInt(v, &e.modify_index);
      if (!ok) return false;
    }
    out->push_back(std::move(e));
  }
  return true;
}

template <typename Json>
bool NlohmannDecodeInstances(std::string_view text, std::vector<ServiceInstance>* out) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return false;
  for (const Json& o : j) {
    if (!o.is_object()) return false;
    ServiceInstance s;
    for (auto it = o.begin(); it != o.end(); ++it) {
      const std::string& k = it.key();
      const Json& v = it.value();
      bool ok = true;
      if (k == "ID") ok = NlohmannString(v, &s.id);
      else if (k == "Node") ok = NlohmannString(v, &s.node);
      else if (k == "Address") ok = NlohmannString(v, &s.address);
      else if (k == "Datacenter") ok = NlohmannString(v, &s.datacenter);
      else if (k == "TaggedAddresses") ok = NlohmannStringMap(v, &s.tagged_addresses);
      else if (k == "NodeMeta") ok = NlohmannStringMap(v, &s.node_meta);
      else if (k == "ServiceKind") ok = NlohmannString(v, &s.service_kind);
      else if (k == "ServiceID") ok = NlohmannString(v, &s.service_id);
      else if (k == "ServiceName") ok = NlohmannString(v, &s.service_name);
      else if (k == "ServiceTags") ok = NlohmannStrings(v, &s.service_tags);
      else if (k == "ServiceAddress") ok = NlohmannString(v, &s.service_address);
      else if (k == "ServiceWeights") ok = NlohmannWeights(v, &s.service_weights);
      else if (k == "ServiceMeta") ok = NlohmannStringMap(v, &s.service_meta);
      else if (k == "ServicePort") ok = NlohmannInt(v, &s.service_port);
      else if (k == "ServiceEnableTagOverride") ok = v.is_boolean() && ((s.service_enable_tag_override = v.template get<bool>()), true);
      else if (k == "CreateIndex") ok = NlohmannInt(v, &s.create_index);
      else if (k == "ModifyIndex") ok = NlohmannInt(v, &s.modify_index);
      if (!ok) return false;
    }
    out->push_back(std::move(s));
  }
  return true;
}

template <typename Json>
bool NlohmannDecodeSession(std::string_view text, SessionCreate* s) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const Json& v = it.value();
    bool ok = true;
    if (k == "Name") ok = NlohmannString(v, &s->name);
    else if (k == "Node") ok = NlohmannString(v, &s->node);
    else if (k == "LockDelay") ok = NlohmannString(v, &s->lock_delay);
    else if (k == "Behavior") ok = NlohmannString(v, &s->behavior);
    else if (k == "TTL") ok = NlohmannString(v, &s->ttl);
    else if (k == "Checks") ok = NlohmannStrings(v, &s->checks);
    if (!ok) return false;
  }
  return true;
}

template <typename Json>
bool NlohmannDecodeRegistration(std::string_view text, ServiceRegistration* r) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const Json& v = it.value();
    bool ok = true;
    if (k == "ID") ok = NlohmannString(v, &r->id);
    else if (k == "Name") ok = NlohmannString(v, &r->name);
    else if (k == "Tags") ok = NlohmannStrings(v, &r->tags);
    else if (k == "Address") ok = NlohmannString(v, &r->address);
    else if (k == "Port") ok = NlohmannInt(v, &r->port);
    else if (k == "Meta") ok = NlohmannStringMap(v, &r->meta);
    else if (k == "EnableTagOverride") ok = v.is_boolean() && ((r->enable_tag_override = v.template get<bool>()), true);
    else if (k == "Weights") ok = NlohmannWeights(v, &r->weights);
    else if (k == "Check") {
      if (!v.is_object()) return false;
      for (auto c = v.begin(); c != v.end(); ++c) {
        const std::string& ck = c.key();
        std::string* field = ck == "CheckID" ? &r->check.check_id
                             : ck == "Name"  ? &r->check.name
                             : ck == "HTTP"  ? &r->check.http
                             : ck == "Method" ? &r->check.method
                             : ck == "Interval" ? &r->check.interval
                             : ck == "Timeout" ? &r->check.timeout
                             : ck == "DeregisterCriticalServiceAfter" ? &r->check.deregister_after
                                                                      : nullptr;
        if (field != nullptr && !NlohmannString(c.value(), field)) return false;
      }
    }
    if (!ok) return false;
  }
  return true;
}

// ---- RapidJSON: the SAX Writer encodes straight from the structs; a Document decodes. ----

using RapidWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void RapidString(RapidWriter& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void RapidMap(RapidWriter& w, const StringMap& m) {
  w.StartObject();
  for (const auto& [k, v] : m) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    RapidString(w, v);
  }
  w.EndObject();
}

void RapidStrings(RapidWriter& w, const std::vector<std::string>& list) {
  w.StartArray();
  for (const std::string& s : list) RapidString(w, s);
  w.EndArray();
}

void RapidWeights(RapidWriter& w, const Weights& weights) {
  w.StartObject();
  w.Key("Passing");
  w.Int64(weights.passing);
  w.Key("Warning");
  w.Int64(weights.warning);
  w.EndObject();
}

std::string RapidEncodeKV(const std::vector<KVEntry>& entries) {
  rapidjson::StringBuffer sb;
  RapidWriter w(sb);
  w.StartArray();
  for (const KVEntry& e : entries) {
    w.StartObject();
    w.Key("LockIndex");
    w.Uint64(e.lock_index);
    w.Key("Key");
    RapidString(w, e.key);
    w.Key("Flags");
    w.Uint64(e.flags);
    w.Key("Value");
    if (e.value.empty()) {
      w.Null();
    } else {
      RapidString(w, absl::Base64Escape(e.value));
    }
    if (!e.session.empty()) {
      w.Key("Session");
      RapidString(w, e.session);
    }
    w.Key("CreateIndex");
    w.Uint64(e.create_index);
    w.Key("ModifyIndex");
    w.Uint64(e.modify_index);
    w.EndObject();
  }
  w.EndArray();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string RapidEncodeInstances(const std::vector<ServiceInstance>& instances) {
  rapidjson::StringBuffer sb;
  RapidWriter w(sb);
  w.StartArray();
  for (const ServiceInstance& s : instances) {
    w.StartObject();
    w.Key("ID");
    RapidString(w, s.id);
    w.Key("Node");
    RapidString(w, s.node);
    w.Key("Address");
    RapidString(w, s.address);
    w.Key("Datacenter");
    RapidString(w, s.datacenter);
    w.Key("TaggedAddresses");
    RapidMap(w, s.tagged_addresses);
    w.Key("NodeMeta");
    RapidMap(w, s.node_meta);
    w.Key("ServiceKind");
    RapidString(w, s.service_kind);
    w.Key("ServiceID");
    RapidString(w, s.service_id);
    w.Key("ServiceName");
    RapidString(w, s.service_name);
    w.Key("ServiceTags");
    RapidStrings(w, s.service_tags);
    w.Key("ServiceAddress");
    RapidString(w, s.service_address);
    w.Key("ServiceWeights");
    RapidWeights(w, s.service_weights);
    w.Key("ServiceMeta");
    RapidMap(w, s.service_meta);
    w.Key("ServicePort");
    w.Int64(s.service_port);
    w.Key("ServiceEnableTagOverride");
    w.Bool(s.service_enable_tag_override);
    w.Key("CreateIndex");
    w.Uint64(s.create_index);
    w.Key("ModifyIndex");
    w.Uint64(s.modify_index);
    w.EndObject();
  }
  w.EndArray();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string RapidEncodeSession(const SessionCreate& s) {
  rapidjson::StringBuffer sb;
  RapidWriter w(sb);
  w.StartObject();
  w.Key("Name");
  RapidString(w, s.name);
  w.Key("Node");
  RapidString(w, s.node);
  w.Key("LockDelay");
  RapidString(w, s.lock_delay);
  w.Key("Behavior");
  RapidString(w, s.behavior);
  w.Key("TTL");
  RapidString(w, s.ttl);
  w.Key("Checks");
  RapidStrings(w, s.checks);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string RapidEncodeRegistration(const ServiceRegistration& r) {
  rapidjson::StringBuffer sb;
  RapidWriter w(sb);
  w.StartObject();
  w.Key("ID");
  RapidString(w, r.id);
  w.Key("Name");
  RapidString(w, r.name);
  w.Key("Tags");
  RapidStrings(w, r.tags);
  w.Key("Address");
  RapidString(w, r.address);
  w.Key("Port");
  w.Int64(r.port);
  w.Key("Meta");
  RapidMap(w, r.meta);
  w.Key("EnableTagOverride");
  w.Bool(r.enable_tag_override);
  w.Key("Weights");
  RapidWeights(w, r.weights);
  w.Key("Check");
  w.StartObject();
  w.Key("CheckID");
  RapidString(w, r.check.check_id);
  w.Key("Name");
  RapidString(w, r.check.name);
  w.Key("HTTP");
  RapidString(w, r.check.http);
  w.Key("Method");
  RapidString(w, r.check.method);
  w.Key("Interval");
  RapidString(w, r.check.interval);
  w.Key("Timeout");
  RapidString(w, r.check.timeout);
  w.Key("DeregisterCriticalServiceAfter");
  RapidString(w, r.check.deregister_after);
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

using RapidValue = rapidjson::Value;

std::string_view RapidName(const RapidValue& v) { return {v.GetString(), v.GetStringLength()}; }

bool RapidGetString(const RapidValue& v, std::string* out) {
  if (!v.IsString()) return false;
  out->assign(v.GetString(), v.GetStringLength());
  return true;
}

bool RapidGetStrings(const RapidValue& v, std::vector<std::string>* out) {
  if (!v.IsArray()) return false;
  for (const RapidValue& e : v.GetArray()) {
    if (!e.IsString()) return false;
    out->emplace_back(e.GetString(), e.GetStringLength());
  }
  return true;
}

bool RapidGetMap(const RapidValue& v, StringMap* out) {
  if (!v.IsObject()) return false;
  for (const auto& m : v.GetObject()) {
    if (!m.value.IsString()) return false;
    (*out)[std::string(RapidName(m.name))] = std::string(m.value.GetString(), m.value.GetStringLength());
  }
  return true;
}

bool RapidGetUint(const RapidValue& v, uint64_t* out) {
  if (!v.IsUint64()) return false;
  *out = v.GetUint64();
  return true;
}

bool RapidGetInt(const RapidValue& v, int64_t* out) {
  if (!v.IsInt64()) return false;
  *out = v.GetInt64();
  return true;
}

bool RapidGetBool(const RapidValue& v, bool* out) {
  if (!v.IsBool()) return false;
  *out = v.GetBool();
  return true;
}

bool RapidGetWeights(const RapidValue& v, Weights* out) {
  if (!v.IsObject()) return false;
  for (const auto& m : v.GetObject()) {
    std::string_view k = RapidName(m.name);
    if (k == "Passing" ? !RapidGetInt(m.value, &out->passing) : k == "Warning" && !RapidGetInt(m.value, &out->warning)) {
      return false;
    }
  }
  return true;
}

bool RapidDecodeKV(std::string_view text, std::vector<KVEntry>* out) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError() || !d.IsArray()) return false;
  for (const RapidValue& o : d.GetArray()) {
    if (!o.IsObject()) return false;
    KVEntry e;
    for (const auto& m : o.GetObject()) {
      std::string_view k = RapidName(m.name);
      const RapidValue& v = m.value;
      bool ok = true;
      if (k == "LockIndex") ok = RapidGetUint(v, &e.lock_index);
      else if (k == "Key") ok = RapidGetString(v, &e.key);
      else if (k == "Flags") ok = RapidGetUint(v, &e.flags);
      else if (k == "Value") ok = v.IsNull() || (v.IsString() && absl::Base64Unescape(Absl(RapidName(v)), &e.value));
      else if (k == "Session") ok = RapidGetString(v, &e.session);
      else if (k == "CreateIndex") ok = RapidGetUint(v, &e.create_index);
      else if (k == "ModifyIndex") ok = RapidGetUint(v, &e.modify_index);
      if (!ok) return false;
    }
    out->push_back(std::move(e));
  }
  return true;
}

bool RapidDecodeInstances(std::string_view text, std::vector<ServiceInstance>* out) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError() || !d.IsArray()) return false;
  for (const RapidValue& o : d.GetArray()) {
    if (!o.IsObject()) return false;
    ServiceInstance s;
    for (const auto& m : o.GetObject()) {
      std::string_view k = RapidName(m.name);
      const RapidValue& v = m.value;
      bool ok = true;
      if (k == "ID") ok = RapidGetString(v, &s.id);
      else if (k == "Node") ok = RapidGetString(v, &s.node);
      else if (k == "Address") ok = RapidGetString(v, &s.address);
      else if (k == "Datacenter") ok = RapidGetString(v, &s.datacenter);
      else if (k == "TaggedAddresses") ok = RapidGetMap(v, &s.tagged_addresses);
      else if (k == "NodeMeta") ok = RapidGetMap(v, &s.node_meta);
      else if (k == "ServiceKind") ok = RapidGetString(v, &s.service_kind);
      else if (k == "ServiceID") ok = RapidGetString(v, &s.service_id);
      else if (k == "ServiceName") ok = RapidGetString(v, &s.service_name);
      else if (k == "ServiceTags") ok = RapidGetStrings(v, &s.service_tags);
      else if (k == "ServiceAddress") ok = RapidGetString(v, &s.service_address);
      else if (k == "ServiceWeights") ok = RapidGetWeights(v, &s.service_weights);
      else if (k == "ServiceMeta") ok = RapidGetMap(v, &s.service_meta);
      else if (k == "ServicePort") ok = RapidGetInt(v, &s.service_port);
      else if (k == "ServiceEnableTagOverride") ok = RapidGetBool(v, &s.service_enable_tag_override);
      else if (k == "CreateIndex") ok = RapidGetUint(v, &s.create_index);
      else if (k == "ModifyIndex") ok = RapidGetUint(v, &s.modify_index);
      if (!ok) return false;
    }
    out->push_back(std::move(s));
  }
  return true;
}

bool RapidDecodeSession(std::string_view text, SessionCreate* s) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError() || !d.IsObject()) return false;
  for (const auto& m : d.GetObject()) {
    std::string_view k = RapidName(m.name);
    bool ok = true;
    if (k == "Name") ok = RapidGetString(m.value, &s->name);
    else if (k == "Node") ok = RapidGetString(m.value, &s->node);
    else if (k == "LockDelay") ok = RapidGetString(m.value, &s->lock_delay);
    else if (k == "Behavior") ok = RapidGetString(m.value, &s->behavior);
    else if (k == "TTL") ok = RapidGetString(m.value, &s->ttl);
    else if (k == "Checks") ok = RapidGetStrings(m.value, &s->checks);
    if (!ok) return false;
  }
  return true;
}

bool RapidDecodeRegistration(std::string_view text, ServiceRegistration* r) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError() || !d.IsObject()) return false;
  for (const auto& m : d.GetObject()) {
    std::string_view k = RapidName(m.name);
    const RapidValue& v = m.value;
    bool ok = true;
    if (k == "ID") ok = RapidGetString(v, &r->id);
    else if (k == "Name") ok = RapidGetString(v, &r->name);
    else if (k == "Tags") ok = RapidGetStrings(v, &r->tags);
    else if (k == "Address") ok = RapidGetString(v, &r->address);
    else if (k == "Port") ok = RapidGetInt(v, &r->port);
    else if (k == "Meta") ok = RapidGetMap(v, &r->meta);
    else if (k == "EnableTagOverride") ok = RapidGetBool(v, &r->enable_tag_override);
    else if (k == "Weights") ok = RapidGetWeights(v, &r->weights);
    else if (k == "Check") {
      if (!v.IsObject()) return false;
      for (const auto& c : v.GetObject()) {
        std::string_view ck = RapidName(c.name);
        std::string* field = ck == "CheckID" ? &r->check.check_id
                             : ck == "Name"  ? &r->check.name
                             : ck == "HTTP"  ? &r->check.http
                             : ck == "Method" ? &r->check.method
                             : ck == "Interval" ? &r->check.interval
                             : ck == "Timeout" ? &r->check.timeout
                             : ck == "DeregisterCriticalServiceAfter" ? &r->check.deregister_after
                                                                      : nullptr;
        if (field != nullptr && !RapidGetString(c.value, field)) return false;
      }
    }
    if (!ok) return false;
  }
  return true;
}

// ---- simdjson On Demand: decode only. The body is copied into a padded buffer (simdjson
// reads up to 64 bytes past the end), as the agent would have to; errors come as exceptions.

namespace od = simdjson::ondemand;

std::string SimdString(od::value v) { return std::string(std::string_view(v.get_string())); }

void SimdStrings(od::value v, std::vector<std::string>* out) {
  for (auto e : v.get_array()) out->emplace_back(std::string_view(e.get_string()));
}

void SimdMap(od::value v, StringMap* out) {
  for (auto f : v.get_object()) {
    std::string key(std::string_view(f.unescaped_key()));
    (*out)[std::move(key)] = SimdString(f.value());
  }
}

void SimdWeights(od::value v, Weights* out) {
  for (auto f : v.get_object()) {
    std::string_view k = f.unescaped_key();
    if (k == "Passing") out->passing = int64_t(f.value().get_int64());
    else if (k == "Warning") out->warning = int64_t(f.value().get_int64());
  }
}

bool SimdDecodeKV(od::parser& parser, std::string_view text, std::vector<KVEntry>* out) {
  try {
    simdjson::padded_string padded(text);
    od::document doc = parser.iterate(padded);
    for (od::object o : doc.get_array()) {
      KVEntry e;
      for (auto f : o) {
        std::string_view k = f.unescaped_key();
        od::value v = f.value();
        if (k == "LockIndex") e.lock_index = uint64_t(v.get_uint64());
        else if (k == "Key") e.key = SimdString(v);
        else if (k == "Flags") e.flags = uint64_t(v.get_uint64());
        else if (k == "Value") {
          if (!v.is_null() && !absl::Base64Unescape(Absl(v.get_string()), &e.value)) return false;
        } else if (k == "Session") e.session = SimdString(v);
        else if (k == "CreateIndex") e.create_index = uint64_t(v.get_uint64());
        else if (k == "ModifyIndex") e.modify_index = uint64_t(v.get_uint64());
      }
      out->push_back(std::move(e));
    }
    return true;
  } catch (const simdjson::simdjson_error&) {
    return false;
  }
}

bool SimdDecodeInstances(od::parser& parser, std::string_view text, std::vector<ServiceInstance>* out) {
  try {
    simdjson::padded_string padded(text);
    od::document doc = parser.iterate(padded);
    for (od::object o : doc.get_array()) {
      ServiceInstance s;
      for (auto f : o) {
        std::string_view k = f.unescaped_key();
        od::value v = f.value();
        if (k == "ID") s.id = SimdString(v);
        else if (k == "Node") s.node = SimdString(v);
        else if (k == "Address") s.address = SimdString(v);
        else if (k == "Datacenter") s.datacenter = SimdString(v);
        else if (k == "TaggedAddresses") SimdMap(v, &s.tagged_addresses);
        else if (k == "NodeMeta") SimdMap(v, &s.node_meta);
        else if (k == "ServiceKind") s.service_kind = SimdString(v);
        else if (k == "ServiceID") s.service_id = SimdString(v);
        else if (k == "ServiceName") s.service_name = SimdString(v);
        else if (k == "ServiceTags") SimdStrings(v, &s.service_tags);
        else if (k == "ServiceAddress") s.service_address = SimdString(v);
        else if (k == "ServiceWeights") SimdWeights(v, &s.service_weights);
        else if (k == "ServiceMeta") SimdMap(v, &s.service_meta);
        else if (k == "ServicePort") s.service_port = int64_t(v.get_int64());
        else if (k == "ServiceEnableTagOverride") s.service_enable_tag_override = bool(v.get_bool());
        else if (k == "CreateIndex") s.create_index = uint64_t(v.get_uint64());
        else if (k == "ModifyIndex") s.modify_index = uint64_t(v.get_uint64());
      }
      out->push_back(std::move(s));
    }
    return true;
  } catch (const simdjson::simdjson_error&) {
    return false;
  }
}

bool SimdDecodeSession(od::parser& parser, std::string_view text, SessionCreate* s) {
  try {
    simdjson::padded_string padded(text);
    od::document doc = parser.iterate(padded);
    for (auto f : doc.get_object()) {
      std::string_view k = f.unescaped_key();
      od::value v = f.value();
      if (k == "Name") s->name = SimdString(v);
      else if (k == "Node") s->node = SimdString(v);
      else if (k == "LockDelay") s->lock_delay = SimdString(v);
      else if (k == "Behavior") s->behavior = SimdString(v);
      else if (k == "TTL") s->ttl = SimdString(v);
      else if (k == "Checks") SimdStrings(v, &s->checks);
    }
    return true;
  } catch (const simdjson::simdjson_error&) {
    return false;
  }
}

bool SimdDecodeRegistration(od::parser& parser, std::string_view text, ServiceRegistration* r) {
  try {
    simdjson::padded_string padded(text);
    od::document doc = parser.iterate(padded);
    for (auto f : doc.get_object()) {
      std::string_view k = f.unescaped_key();
      od::value v = f.value();
      if (k == "ID") r->id = SimdString(v);
      else if (k == "Name") r->name = SimdString(v);
      else if (k == "Tags") SimdStrings(v, &r->tags);
      else if (k == "Address") r->address = SimdString(v);
      else if (k == "Port") r->port = int64_t(v.get_int64());
      else if (k == "Meta") SimdMap(v, &r->meta);
      else if (k == "EnableTagOverride") r->enable_tag_override = bool(v.get_bool());
      else if (k == "Weights") SimdWeights(v, &r->weights);
      else if (k == "Check") {
        for (auto c : v.get_object()) {
          std::string_view ck = c.unescaped_key();
          std::string* field = ck == "CheckID" ? &r->check.check_id
                               : ck == "Name"  ? &r->check.name
                               : ck == "HTTP"  ? &r->check.http
                               : ck == "Method" ? &r->check.method
                               : ck == "Interval" ? &r->check.interval
                               : ck == "Timeout" ? &r->check.timeout
                               : ck == "DeregisterCriticalServiceAfter" ? &r->check.deregister_after
                                                                        : nullptr;
          if (field != nullptr) *field = SimdString(c.value());
        }
      }
    }
    return true;
  } catch (const simdjson::simdjson_error&) {
    return false;
  }
}

// ---- simdjson DOM: decode only; unlike On Demand it picks its SIMD kernel at run time (the
// agent is built for any x86-64, so On Demand above runs simdjson's portable fallback kernel).

namespace dom = simdjson::dom;

std::string DomString(dom::element v) { return std::string(std::string_view(v.get_string())); }

void DomStrings(dom::element v, std::vector<std::string>* out) {
  for (dom::element e : v.get_array()) out->emplace_back(std::string_view(e.get_string()));
}

void DomMap(dom::element v, StringMap* out) {
  for (auto [key, value] : dom::object(v.get_object())) (*out)[std::string(key)] = DomString(value);
}

void DomWeights(dom::element v, Weights* out) {
  for (auto [k, value] : dom::object(v.get_object())) {
    if (k == "Passing") out->passing = int64_t(value.get_int64());
    else if (k == "Warning") out->warning = int64_t(value.get_int64());
  }
}

bool DomDecodeKV(dom::parser& parser, std::string_view text, std::vector<KVEntry>* out) {
  try {
    dom::element doc = parser.parse(text.data(), text.size());
    for (dom::object o : doc.get_array()) {
      KVEntry e;
      for (auto [k, v] : o) {
        if (k == "LockIndex") e.lock_index = uint64_t(v.get_uint64());
        else if (k == "Key") e.key = DomString(v);
        else if (k == "Flags") e.flags = uint64_t(v.get_uint64());
        else if (k == "Value") {
          if (!v.is_null() && !absl::Base64Unescape(Absl(v.get_string()), &e.value)) return false;
        } else if (k == "Session") e.session = DomString(v);
        else if (k == "CreateIndex") e.create_index = uint64_t(v.get_uint64());
        else if (k == "ModifyIndex") e.modify_index = uint64_t(v.get_uint64());
      }
      out->push_back(std::move(e));
    }
    return true;
  } catch (const simdjson::simdjson_error&) {
    return false;
  }
}

bool DomDecodeInstances(dom::parser& parser, std::string_view text, std::vector<ServiceInstance>* out) {
  try {
    dom::element doc = parser.parse(text.data(), text.size());
    for (dom::object o : doc.get_array()) {
      ServiceInstance s;
      for (auto [k, v] : o) {
        if (k == "ID") s.id = DomString(v);
        else if (k == "Node") s.node = DomString(v);
        else if (k == "Address") s.address = DomString(v);
        else if (k == "Datacenter") s.datacenter = DomString(v);
        else if (k == "TaggedAddresses") DomMap(v, &s.tagged_addresses);
        else if (k == "NodeMeta") DomMap(v, &s.node_meta);
        else if (k == "ServiceKind") s.service_kind = DomString(v);
        else if (k == "ServiceID") s.service_id = DomString(v);
        else if (k == "ServiceName") s.service_name = DomString(v);
        else if (k == "ServiceTags") DomStrings(v, &s.service_tags);
        else if (k == "ServiceAddress") s.service_address = DomString(v);
        else if (k == "ServiceWeights") DomWeights(v, &s.service_weights);
        else if (k == "ServiceMeta") DomMap(v, &s.service_meta);
        else if (k == "ServicePort") s.service_port = int64_t(v.get_int64());
        else if (k == "ServiceEnableTagOverride") s.service_enable_tag_override = bool(v.get_bool());
        else if (k == "CreateIndex") s.create_index = uint64_t(v.get_uint64());
        else if (k == "ModifyIndex") s.modify_index = uint64_t(v.get_uint64());
      }
      out->push_back(std::move(s));
    }
    return true;
  } catch (const simdjson::simdjson_error&) {
    return false;
  }
}

bool DomDecodeSession(dom::parser& parser, std::string_view text, SessionCreate* s) {
  try {
    dom::element doc = parser.parse(text.data(), text.size());
    for (auto [k, v] : dom::object(doc.get_object())) {
      if (k == "Name") s->name = DomString(v);
      else if (k == "Node") s->node = DomString(v);
      else if (k == "LockDelay") s->lock_delay = DomString(v);
      else if (k == "Behavior") s->behavior = DomString(v);
      else if (k == "TTL") s->ttl = DomString(v);
      else if (k == "Checks") DomStrings(v, &s->checks);
    }
    return true;
  } catch (const simdjson::simdjson_error&) {
    return false;
  }
}

bool DomDecodeRegistration(dom::parser& parser, std::string_view text, ServiceRegistration* r) {
  try {
    dom::element doc = parser.parse(text.data(), text.size());
    for (auto [k, v] : dom::object(doc.get_object())) {
      if (k == "ID") r->id = DomString(v);
      else if (k == "Name") r->name = DomString(v);
      else if (k == "Tags") DomStrings(v, &r->tags);
      else if (k == "Address") r->address = DomString(v);
      else if (k == "Port") r->port = int64_t(v.get_int64());
      else if (k == "Meta") DomMap(v, &r->meta);
      else if (k == "EnableTagOverride") r->enable_tag_override = bool(v.get_bool());
      else if (k == "Weights") DomWeights(v, &r->weights);
      else if (k == "Check") {
        for (auto [ck, cv] : dom::object(v.get_object())) {
          std::string* field = ck == "CheckID" ? &r->check.check_id
                               : ck == "Name"  ? &r->check.name
                               : ck == "HTTP"  ? &r->check.http
                               : ck == "Method" ? &r->check.method
                               : ck == "Interval" ? &r->check.interval
                               : ck == "Timeout" ? &r->check.timeout
                               : ck == "DeregisterCriticalServiceAfter" ? &r->check.deregister_after
                                                                        : nullptr;
          if (field != nullptr) *field = DomString(cv);
        }
      }
    }
    return true;
  } catch (const simdjson::simdjson_error&) {
    return false;
  }
}

// ---- By hand: absl::StrAppend and a string escaper; the floor for encoding. ----

void HandString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void HandMap(std::string* out, const StringMap& m) {
  out->push_back('{');
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) out->push_back(',');
    first = false;
    HandString(out, k);
    out->push_back(':');
    HandString(out, v);
  }
  out->push_back('}');
}

void HandStrings(std::string* out, const std::vector<std::string>& list) {
  out->push_back('[');
  for (size_t i = 0; i < list.size(); ++i) {
    if (i > 0) out->push_back(',');
    HandString(out, list[i]);
  }
  out->push_back(']');
}

void HandWeights(std::string* out, const Weights& w) {
  absl::StrAppend(out, "{\"Passing\":", w.passing, ",\"Warning\":", w.warning, "}");
}

std::string HandEncodeKV(const std::vector<KVEntry>& entries) {
  std::string out = "[";
  for (size_t i = 0; i < entries.size(); ++i) {
    const KVEntry& e = entries[i];
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, "{\"LockIndex\":", e.lock_index, ",\"Key\":");
    HandString(&out, e.key);
    absl::StrAppend(&out, ",\"Flags\":", e.flags, ",\"Value\":");
    if (e.value.empty()) {
      out.append("null");
    } else {
      absl::StrAppend(&out, "\"", absl::Base64Escape(e.value), "\"");
    }
    if (!e.session.empty()) {
      out.append(",\"Session\":");
      HandString(&out, e.session);
    }
    absl::StrAppend(&out, ",\"CreateIndex\":", e.create_index, ",\"ModifyIndex\":", e.modify_index, "}");
  }
  out.push_back(']');
  return out;
}

std::string HandEncodeInstances(const std::vector<ServiceInstance>& instances) {
  std::string out = "[";
  for (size_t i = 0; i < instances.size(); ++i) {
    const ServiceInstance& s = instances[i];
    if (i > 0) out.push_back(',');
    out.append("{\"ID\":");
    HandString(&out, s.id);
    out.append(",\"Node\":");
    HandString(&out, s.node);
    out.append(",\"Address\":");
    HandString(&out, s.address);
    out.append(",\"Datacenter\":");
    HandString(&out, s.datacenter);
    out.append(",\"TaggedAddresses\":");
    HandMap(&out, s.tagged_addresses);
    out.append(",\"NodeMeta\":");
    HandMap(&out, s.node_meta);
    out.append(",\"ServiceKind\":");
    HandString(&out, s.service_kind);
    out.append(",\"ServiceID\":");
    HandString(&out, s.service_id);
    out.append(",\"ServiceName\":");
    HandString(&out, s.service_name);
    out.append(",\"ServiceTags\":");
    HandStrings(&out, s.service_tags);
    out.append(",\"ServiceAddress\":");
    HandString(&out, s.service_address);
    out.append(",\"ServiceWeights\":");
    HandWeights(&out, s.service_weights);
    out.append(",\"ServiceMeta\":");
    HandMap(&out, s.service_meta);
    absl::StrAppend(&out, ",\"ServicePort\":", s.service_port, ",\"ServiceEnableTagOverride\":",
                    s.service_enable_tag_override ? "true" : "false", ",\"CreateIndex\":", s.create_index,
                    ",\"ModifyIndex\":", s.modify_index, "}");
  }
  out.push_back(']');
  return out;
}

std::string HandEncodeSession(const SessionCreate& s) {
  std::string out = "{\"Name\":";
  HandString(&out, s.name);
  out.append(",\"Node\":");
  HandString(&out, s.node);
  out.append(",\"LockDelay\":");
  HandString(&out, s.lock_delay);
  out.append(",\"Behavior\":");
  HandString(&out, s.behavior);
  out.append(",\"TTL\":");
  HandString(&out, s.ttl);
  out.append(",\"Checks\":");
  HandStrings(&out, s.checks);
  out.push_back('}');
  return out;
}

std::string HandEncodeRegistration(const ServiceRegistration& r) {
  std::string out = "{\"ID\":";
  HandString(&out, r.id);
  out.append(",\"Name\":");
  HandString(&out, r.name);
  out.append(",\"Tags\":");
  HandStrings(&out, r.tags);
  out.append(",\"Address\":");
  HandString(&out, r.address);
  absl::StrAppend(&out, ",\"Port\":", r.port, ",\"Meta\":");
  HandMap(&out, r.meta);
  absl::StrAppend(&out, ",\"EnableTagOverride\":", r.enable_tag_override ? "true" : "false", ",\"Weights\":");
  HandWeights(&out, r.weights);
  out.append(",\"Check\":{\"CheckID\":");
  HandString(&out, r.check.check_id);
  out.append(",\"Name\":");
  HandString(&out, r.check.name);
  out.append(",\"HTTP\":");
  HandString(&out, r.check.http);
  out.append(",\"Method\":");
  HandString(&out, r.check.method);
  out.append(",\"Interval\":");
  HandString(&out, r.check.interval);
  out.append(",\"Timeout\":");
  HandString(&out, r.check.timeout);
  out.append(",\"DeregisterCriticalServiceAfter\":");
  HandString(&out, r.check.deregister_after);
  out.append("}}");
  return out;
}

// ---- One payload: its value, its encoders and decoders by library name. ----

template <typename T>
struct Payload {
  std::string name;
  T value;
  std::vector<std::pair<std::string, std::function<std::string(const T&)>>> encoders;
  std::vector<std::pair<std::string, std::function<bool(std::string_view, T*)>>> decoders;
};

// Checks that every encoder that keeps Consul's field order gives the same bytes, and every
// decoder reads those bytes back into the source value; then registers the benchmarks.
template <typename T>
void Register(const Payload<T>& p) {
  const std::string reference = p.encoders.front().second(p.value);
  for (const auto& [lib, encode] : p.encoders) {
    const std::string out = encode(p.value);
    if (lib != "nlohmann-json" && out != reference) {
      std::fprintf(stderr, "json_bench: %s encodes %s differently:\n%s\n%s\n", lib.c_str(), p.name.c_str(),
                   reference.c_str(), out.c_str());
      std::exit(1);
    }
    benchmark::RegisterBenchmark(absl::StrCat("Encode/", p.name, "/", lib).c_str(),
                                 [&p, encode = encode, bytes = out.size()](benchmark::State& state) {
                                   for (auto _ : state) benchmark::DoNotOptimize(encode(p.value));
                                   state.SetBytesProcessed(state.iterations() * bytes);
                                 });
  }
  for (const auto& [lib, decode] : p.decoders) {
    T back{};
    if (!decode(reference, &back) || !(back == p.value)) {
      std::fprintf(stderr, "json_bench: %s does not decode %s back to its source\n", lib.c_str(), p.name.c_str());
      std::exit(1);
    }
    benchmark::RegisterBenchmark(absl::StrCat("Decode/", p.name, "/", lib).c_str(),
                                 [decode = decode, reference](benchmark::State& state) {
                                   for (auto _ : state) {
                                     T out{};
                                     benchmark::DoNotOptimize(decode(reference, &out));
                                     benchmark::DoNotOptimize(out);
                                   }
                                   state.SetBytesProcessed(state.iterations() * reference.size());
                                 });
  }
  std::printf("%s: %zu bytes\n", p.name.c_str(), reference.size());
}

using Ordered = nlohmann::ordered_json;
using Sorted = nlohmann::json;

// Parsers are reused across calls, as simdjson intends (they keep their buffers).
od::parser& OnDemandParser() {
  static od::parser* parser = new od::parser();
  return *parser;
}

dom::parser& DomParser() {
  static dom::parser* parser = new dom::parser();
  return *parser;
}

template <typename T>
Payload<T> Make(std::string name, T value, std::string (*ordered)(const T&), std::string (*sorted)(const T&),
                std::string (*rapid)(const T&), std::string (*hand)(const T&),
                bool (*ordered_decode)(std::string_view, T*), bool (*sorted_decode)(std::string_view, T*),
                bool (*rapid_decode)(std::string_view, T*), bool (*dom_decode)(dom::parser&, std::string_view, T*),
                bool (*on_demand_decode)(od::parser&, std::string_view, T*)) {
  Payload<T> p{std::move(name), std::move(value), {}, {}};
  p.encoders = {{"nlohmann-ordered_json", ordered}, {"nlohmann-json", sorted}, {"rapidjson", rapid}, {"by-hand", hand}};
  p.decoders = {{"nlohmann-ordered_json", ordered_decode},
                {"nlohmann-json", sorted_decode},
                {"rapidjson", rapid_decode},
                {"simdjson-dom",
                 [dom_decode](std::string_view text, T* out) { return dom_decode(DomParser(), text, out); }},
                {"simdjson-ondemand-fallback", [on_demand_decode](std::string_view text, T* out) {
                   return on_demand_decode(OnDemandParser(), text, out);
                 }}};
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  // Held for the whole run: the registered benchmarks refer to them.
  static const Payload<std::vector<KVEntry>> kv1 =
      Make<std::vector<KVEntry>>("kv_get_1", MakeKV(1), NlohmannEncodeKV<Ordered>, NlohmannEncodeKV<Sorted>,
                                 RapidEncodeKV, HandEncodeKV, NlohmannDecodeKV<Ordered>, NlohmannDecodeKV<Sorted>,
                                 RapidDecodeKV, DomDecodeKV, SimdDecodeKV);
  static const Payload<std::vector<KVEntry>> kv100 =
      Make<std::vector<KVEntry>>("kv_get_100", MakeKV(100), NlohmannEncodeKV<Ordered>, NlohmannEncodeKV<Sorted>,
                                 RapidEncodeKV, HandEncodeKV, NlohmannDecodeKV<Ordered>, NlohmannDecodeKV<Sorted>,
                                 RapidDecodeKV, DomDecodeKV, SimdDecodeKV);
  static const Payload<std::vector<ServiceInstance>> catalog = Make<std::vector<ServiceInstance>>(
      "catalog_service_50", MakeInstances(50), NlohmannEncodeInstances<Ordered>, NlohmannEncodeInstances<Sorted>,
      RapidEncodeInstances, HandEncodeInstances, NlohmannDecodeInstances<Ordered>, NlohmannDecodeInstances<Sorted>,
      RapidDecodeInstances, DomDecodeInstances, SimdDecodeInstances);
  static const Payload<SessionCreate> session =
      Make<SessionCreate>("session_create", MakeSession(), NlohmannEncodeSession<Ordered>,
                          NlohmannEncodeSession<Sorted>, RapidEncodeSession, HandEncodeSession,
                          NlohmannDecodeSession<Ordered>, NlohmannDecodeSession<Sorted>, RapidDecodeSession,
                          DomDecodeSession, SimdDecodeSession);
  static const Payload<ServiceRegistration> registration = Make<ServiceRegistration>(
      "service_register", MakeRegistration(), NlohmannEncodeRegistration<Ordered>,
      NlohmannEncodeRegistration<Sorted>, RapidEncodeRegistration, HandEncodeRegistration,
      NlohmannDecodeRegistration<Ordered>, NlohmannDecodeRegistration<Sorted>, RapidDecodeRegistration,
      DomDecodeRegistration, SimdDecodeRegistration);
  Register(kv1);
  Register(kv100);
  Register(catalog);
  Register(session);
  Register(registration);
  std::printf("every encoder gives the same bytes (nlohmann-json: its keys sorted), every decoder the source\n");
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
