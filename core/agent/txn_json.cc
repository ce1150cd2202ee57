#include "core/agent/txn_json.h"

#include <map>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/agent/consul_json.h"

namespace muster::agent {
namespace {

// The deepest a txn body nests: the list, an op, its KV/Node/Service/Check object, the
// node/service/check inside it, a map in that (TaggedAddresses, Meta, Weights), and a
// service's tagged address object.
constexpr int kTxnDepthMax = 6;

// Bounds on a catalog op's fields: as PUT /v1/catalog/register's (consul_json.cc), Consul's
// meta limits (structs.metaMaxKeyPairs, metaKeyMaxLength, metaValueMaxLength).
constexpr size_t kNameBytesMax = 512;        // node, IDs, names, addresses, types
constexpr size_t kTextBytesMax = 64 * 1024;  // a check's Notes and Output
constexpr size_t kTagsMax = 256;
constexpr size_t kTagBytesMax = 1024;
constexpr size_t kMetaPairsMax = 64;
constexpr size_t kMetaKeyBytesMax = 128;
constexpr size_t kMetaValueBytesMax = 512;
constexpr size_t kTaggedAddressesMax = 64;

absl::Status OpError(size_t op, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("Failed to parse transaction operation ", op, ": ", what));
}

std::optional<uint64_t> Unsigned(const Json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

// Reads one op's object fields into the store's records; errors are "<Object>.<Field>: ...".
class FieldReader {
 public:
  FieldReader(const Json& object, std::string where) : object_(object), where_(std::move(where)) {}

  absl::Status String(std::string_view name, size_t bytes_max, std::string* out) const {
    const Json* v = Member(object_, name);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_string()) return Error(name, "want a string");
    if (v->get_ref<const std::string&>().size() > bytes_max) return Error(name, absl::StrCat("longer than ", bytes_max, " bytes"));
    *out = v->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status Unsigned(std::string_view name, uint64_t* out) const {
    const Json* v = Member(object_, name);
    if (v == nullptr) return absl::OkStatus();
    std::optional<uint64_t> n = agent::Unsigned(*v);
    if (!n.has_value()) return Error(name, "want an unsigned integer");
    *out = *n;
    return absl::OkStatus();
  }

  absl::Status Int(std::string_view name, int64_t max, int32_t* out) const {
    const Json* v = Member(object_, name);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > max) {
      return Error(name, absl::StrCat("want an integer from 0 to ", max));
    }
    *out = static_cast<int32_t>(v->get<int64_t>());
    return absl::OkStatus();
  }

  absl::Status Bool(std::string_view name, bool* out) const {
    const Json* v = Member(object_, name);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_boolean()) return Error(name, "want true or false");
    *out = v->get<bool>();
    return absl::OkStatus();
  }

  absl::Status Strings(std::string_view name, std::vector<std::string>* out) const {
    const Json* v = Member(object_, name);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_array() || v->size() > kTagsMax) return Error(name, absl::StrCat("want a list of at most ", kTagsMax, " strings"));
    out->clear();
    for (const Json& e : *v) {
      if (!e.is_string() || e.get_ref<const std::string&>().size() > kTagBytesMax) {
        return Error(name, absl::StrCat("want strings of at most ", kTagBytesMax, " bytes"));
      }
      out->push_back(e.get<std::string>());
    }
    return absl::OkStatus();
  }

  absl::Status StringMap(std::string_view name, std::map<std::string, std::string>* out) const {
    const Json* v = Member(object_, name);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_object() || v->size() > kMetaPairsMax) {
      return Error(name, absl::StrCat("want an object of at most ", kMetaPairsMax, " strings"));
    }
    out->clear();
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (it.key().empty() || it.key().size() > kMetaKeyBytesMax || !it.value().is_string() ||
          it.value().get_ref<const std::string&>().size() > kMetaValueBytesMax) {
        return Error(name, absl::StrCat("want keys of 1 to ", kMetaKeyBytesMax, " bytes and string values of at most ",
                                        kMetaValueBytesMax));
      }
      (*out)[it.key()] = it.value().get<std::string>();
    }
    return absl::OkStatus();
  }

  absl::Status ServiceAddresses(std::string_view name, std::map<std::string, state::ServiceAddress>* out) const {
    const Json* v = Member(object_, name);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_object() || v->size() > kTaggedAddressesMax) {
      return Error(name, absl::StrCat("want an object of at most ", kTaggedAddressesMax, " {\"Address\", \"Port\"}"));
    }
    out->clear();
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (it.key().empty() || it.key().size() > kMetaKeyBytesMax || !it.value().is_object()) {
        return Error(name, "want {\"Address\", \"Port\"} objects");
      }
      FieldReader a(it.value(), absl::StrCat(where_, ".", std::string(name), ".", it.key()));
      state::ServiceAddress address;
      if (absl::Status s = a.String("Address", kNameBytesMax, &address.address); !s.ok()) return s;
      if (absl::Status s = a.Int("Port", 65535, &address.port); !s.ok()) return s;
      (*out)[it.key()] = std::move(address);
    }
    return absl::OkStatus();
  }

  const Json* Object(std::string_view name) const { return Member(object_, name); }
  absl::Status Error(std::string_view name, std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(where_, ".", std::string(name), ": ", std::string(what)));
  }

 private:
  const Json& object_;
  std::string where_;
};

// Chains reads, keeping the first error.
#define TXN_READ(expr)                        \
  do {                                        \
    if (absl::Status s_ = (expr); !s_.ok()) { \
      return s_;                              \
    }                                         \
  } while (false)

absl::Status ReadNode(const Json& v, state::TxnOp& t) {
  if (!v.is_object()) return absl::InvalidArgumentError("Node: want an object");
  FieldReader r(v, "Node");
  TXN_READ(r.String("ID", kNameBytesMax, &t.node.id));
  TXN_READ(r.String("Node", kNameBytesMax, &t.node.name));
  TXN_READ(r.String("Address", kNameBytesMax, &t.node.address));
  TXN_READ(r.String("Datacenter", kNameBytesMax, &t.node.datacenter));
  TXN_READ(r.StringMap("TaggedAddresses", &t.node.tagged_addresses));
  TXN_READ(r.StringMap("Meta", &t.node.meta));
  TXN_READ(r.Unsigned("ModifyIndex", &t.index));
  return absl::OkStatus();
}

absl::Status ReadService(const Json& v, state::TxnOp& t) {
  if (!v.is_object()) return absl::InvalidArgumentError("Service: want an object");
  FieldReader r(v, "Service");
  state::Service& s = t.service;
  TXN_READ(r.String("ID", kNameBytesMax, &s.id));
  TXN_READ(r.String("Service", kNameBytesMax, &s.name));
  TXN_READ(r.Strings("Tags", &s.tags));
  TXN_READ(r.String("Address", kNameBytesMax, &s.address));
  TXN_READ(r.Int("Port", 65535, &s.port));
  TXN_READ(r.StringMap("Meta", &s.meta));
  TXN_READ(r.Bool("EnableTagOverride", &s.enable_tag_override));
  TXN_READ(r.ServiceAddresses("TaggedAddresses", &s.tagged_addresses));
  if (const Json* w = r.Object("Weights"); w != nullptr) {
    if (!w->is_object()) return r.Error("Weights", "want {\"Passing\", \"Warning\"}");
    s.weights = state::Weights{0, 0};  // a Weights sent is Go's zero value, then its fields
    FieldReader weights(*w, "Service.Weights");
    TXN_READ(weights.Int("Passing", INT32_MAX, &s.weights.passing));
    TXN_READ(weights.Int("Warning", INT32_MAX, &s.weights.warning));
  }
  TXN_READ(r.Unsigned("ModifyIndex", &t.index));
  if (s.id.empty()) s.id = s.name;  // Consul's servicePreApply
  return absl::OkStatus();
}

absl::Status ReadCheck(const Json& v, state::TxnOp& t) {
  if (!v.is_object()) return absl::InvalidArgumentError("Check: want an object");
  FieldReader r(v, "Check");
  state::Check& c = t.check;
  std::string status;
  TXN_READ(r.String("Node", kNameBytesMax, &c.node));
  TXN_READ(r.String("CheckID", kNameBytesMax, &c.check_id));
  TXN_READ(r.String("Name", kNameBytesMax, &c.name));
  TXN_READ(r.String("Status", kNameBytesMax, &status));
  TXN_READ(r.String("Notes", kTextBytesMax, &c.notes));
  TXN_READ(r.String("Output", kTextBytesMax, &c.output));
  TXN_READ(r.String("ServiceID", kNameBytesMax, &c.service_id));
  TXN_READ(r.String("Type", kNameBytesMax, &c.type));
  TXN_READ(r.Unsigned("ModifyIndex", &t.index));
  if (c.check_id.empty()) c.check_id = c.name;
  c.status = state::HealthStatus::kCritical;  // the state store's default for a new check
  if (!status.empty()) {
    absl::StatusOr<state::HealthStatus> parsed = state::ParseHealthStatus(status);
    if (!parsed.ok()) return r.Error("Status", "want passing, warning or critical");
    c.status = *parsed;
  }
  return absl::OkStatus();
}

#undef TXN_READ

absl::Status ReadKV(const Json& kv, state::TxnOp& t) {
  if (const Json* key = Member(kv, "Key"); key != nullptr) {
    if (!key->is_string()) return absl::InvalidArgumentError("Key: want a string");
    t.entry.key = key->get<std::string>();
  }
  if (const Json* value = Member(kv, "Value"); value != nullptr) {
    if (!value->is_string()) return absl::InvalidArgumentError("Value: want base64 in a string");
    if (!absl::Base64Unescape(value->get<std::string>(), &t.entry.value)) {
      return absl::InvalidArgumentError("Value: not base64");
    }
  }
  if (const Json* flags = Member(kv, "Flags"); flags != nullptr) {
    std::optional<uint64_t> f = Unsigned(*flags);
    if (!f.has_value()) return absl::InvalidArgumentError("Flags: want an unsigned integer");
    t.entry.flags = *f;
  }
  if (const Json* index = Member(kv, "Index"); index != nullptr) {
    std::optional<uint64_t> n = Unsigned(*index);
    if (!n.has_value()) return absl::InvalidArgumentError("Index: want an unsigned integer");
    t.index = *n;
  }
  if (const Json* session = Member(kv, "Session"); session != nullptr) {
    if (!session->is_string()) return absl::InvalidArgumentError("Session: want a string");
    t.entry.session = session->get<std::string>();
  }
  return absl::OkStatus();
}

// One element of the body: exactly one of KV, Node, Service, Check.
absl::StatusOr<state::TxnOp> ReadOp(const Json& op) {
  if (!op.is_object()) return absl::InvalidArgumentError("want an object");
  for (std::string_view other : {"Intention", "Session"}) {
    if (Member(op, other) != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(other), " operations are not supported"));
    }
  }
  constexpr state::TxnKind kKinds[] = {state::TxnKind::kKV, state::TxnKind::kNode, state::TxnKind::kService,
                                       state::TxnKind::kCheck};
  state::TxnOp t;
  const Json* body = nullptr;
  for (state::TxnKind kind : kKinds) {
    const Json* v = Member(op, state::TxnKindName(kind));
    if (v == nullptr) continue;
    if (body != nullptr) return absl::InvalidArgumentError("want one of KV, Node, Service or Check, not two");
    body = v;
    t.kind = kind;
  }
  if (body == nullptr || !body->is_object()) {
    return absl::InvalidArgumentError("want a KV, Node, Service or Check operation");
  }
  const std::string kind_name(state::TxnKindName(t.kind));
  const Json* verb = Member(*body, "Verb");
  if (verb == nullptr || !verb->is_string()) return absl::InvalidArgumentError("Verb is required");
  absl::StatusOr<state::TxnVerb> parsed = state::ParseTxnVerb(verb->get<std::string>());
  if (!parsed.ok() || !state::TxnKindTakes(t.kind, *parsed)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown ", kind_name, " verb \"", verb->get<std::string>(), "\""));
  }
  t.verb = *parsed;
  switch (t.kind) {
    case state::TxnKind::kKV:
      if (absl::Status s = ReadKV(*body, t); !s.ok()) return s;
      break;
    case state::TxnKind::kNode: {
      const Json* node = Member(*body, "Node");
      if (node == nullptr) return absl::InvalidArgumentError("Node.Node is required");
      if (absl::Status s = ReadNode(*node, t); !s.ok()) return s;
      break;
    }
    case state::TxnKind::kService: {
      const Json* node = Member(*body, "Node");
      if (node == nullptr || !node->is_string()) return absl::InvalidArgumentError("Service.Node: want a node name");
      if (node->get_ref<const std::string&>().size() > kNameBytesMax) {
        return absl::InvalidArgumentError(absl::StrCat("Service.Node: longer than ", kNameBytesMax, " bytes"));
      }
      t.service_node = node->get<std::string>();
      const Json* service = Member(*body, "Service");
      if (service == nullptr) return absl::InvalidArgumentError("Service.Service is required");
      if (absl::Status s = ReadService(*service, t); !s.ok()) return s;
      break;
    }
    case state::TxnKind::kCheck: {
      const Json* check = Member(*body, "Check");
      if (check == nullptr) return absl::InvalidArgumentError("Check.Check is required");
      if (absl::Status s = ReadCheck(*check, t); !s.ok()) return s;
      break;
    }
  }
  return t;
}

}  // namespace

absl::StatusOr<std::vector<state::TxnOp>> ParseTxnOps(std::string_view json, size_t ops_max) {
  // The depth is measured while parsing (nlohmann's parser is iterative), never by recursing
  // over the result: a body of 100,000 nested arrays fits the body limit and would overflow
  // the stack (found by tests/integration:bad_input_test). Values past the bound are not kept.
  int depth_max = 0;
  Json::parser_callback_t deepest = [&depth_max](int depth, Json::parse_event_t, Json&) {
    depth_max = std::max(depth_max, depth);
    return depth <= kTxnDepthMax;
  };
  Json body = Json::parse(json.begin(), json.end(), deepest, /*allow_exceptions=*/false);
  if (body.is_discarded()) return absl::InvalidArgumentError("Failed to parse body: not JSON");
  if (depth_max > kTxnDepthMax) return absl::InvalidArgumentError("Failed to parse body: nested too deeply");
  if (!body.is_array()) return absl::InvalidArgumentError("Failed to parse body: want a list of operations");
  if (body.size() > ops_max) {
    return absl::ResourceExhaustedError(
        absl::StrCat("Transaction contains too many operations (", body.size(), " > ", ops_max, ")"));
  }
  std::vector<state::TxnOp> ops;
  ops.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    absl::StatusOr<state::TxnOp> op = ReadOp(body[i]);
    if (!op.ok()) return OpError(i, op.status().message());
    ops.push_back(*std::move(op));
  }
  return ops;
}

bool TxnReadOnly(const std::vector<state::TxnOp>& ops) {
  for (const state::TxnOp& op : ops) {
    switch (op.verb) {
      case state::TxnVerb::kGet:
      case state::TxnVerb::kGetTree:
      case state::TxnVerb::kCheckIndex:
      case state::TxnVerb::kCheckSession:
      case state::TxnVerb::kCheckNotExists:
        break;
      default:
        return false;
    }
  }
  return true;
}

std::string TxnResponseJson(const state::TxnResponse& response) {
  Json j;
  if (response.ok()) {
    Json results = Json::array();
    for (const state::TxnResult& e : response.results) {
      Json r;
      switch (e.kind) {
        case state::TxnKind::kKV: r["KV"] = KVJson(e.kv); break;
        case state::TxnKind::kNode: r["Node"] = NodeJson(e.node); break;
        case state::TxnKind::kService: r["Service"] = ServiceJson(e.service); break;
        case state::TxnKind::kCheck: r["Check"] = CheckJson(e.check); break;
      }
      results.push_back(std::move(r));
    }
    j["Results"] = std::move(results);
    j["Errors"] = nullptr;
  } else {
    Json errors = Json::array();
    for (const state::TxnError& e : response.errors) {
      Json r;
      r["OpIndex"] = e.op_index;
      r["What"] = e.what;
      errors.push_back(std::move(r));
    }
    j["Results"] = nullptr;
    j["Errors"] = std::move(errors);
  }
  return j.dump();
}

}  // namespace muster::agent
