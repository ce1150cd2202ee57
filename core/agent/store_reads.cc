#include "core/agent/store_reads.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/agent/catalog_filter.h"
#include "core/agent/consul_json.h"
#include "core/agent/coordinates.h"
#include "core/agent/txn_json.h"

namespace muster::agent {

namespace pba = ::muster::proto::agent;

namespace {

// Whether Json's dump() writes `s` as it is between quotes: printable ASCII but quotes and
// backslashes. A listing of keys is most of what the watchers of a simulated cluster cost, so
// such keys are written directly, and any other sends the listing through nlohmann (its
// escapes, its UTF-8 checks): the same bytes either way.
bool IsPlainJsonString(std::string_view s) {
  for (const char c : s) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

// ?node-meta=key:value, repeatable (Consul's parseMetaFilter: split at the first ':'): a node
// matches when it carries every pair.
bool NodeMetaMatches(const state::Node& node, const pba::Call& call) {
  for (const std::string& pair : call.node_meta()) {
    const size_t colon = pair.find(':');
    auto it = node.meta.find(pair.substr(0, colon));
    if (it == node.meta.end() || it->second != (colon == std::string::npos ? "" : pair.substr(colon + 1))) {
      return false;
    }
  }
  return true;
}

// The rows of one catalog or health answer: kept when the call's filter matches them, then
// ordered for ?near as Consul's sortNodesByDistanceFrom: by the estimated round-trip time
// between the near node's network coordinate and each row's node's (Serf's DistanceTo), a
// stable sort, rows whose node has no coordinate last. Unlike Consul, the near node's own rows
// always come first (its distance to itself is its heights, which a close neighbour's can
// undercut), and a near node without a coordinate still comes first, the rest in the default
// (lexical) order, where Consul leaves the order alone. near=_agent names the agent serving
// the request.
class Rows {
 public:
  Rows(const state::Store& store, const CatalogFilter& filter, const pba::Call& call, const StoreReadContext& context)
      : store_(store),
        filter_(filter),
        near_(call.near() == "_agent" ? std::string(context.node_name) : call.near()) {}

  void Add(const std::string& node, Json row) {
    if (filter_.Matches(row)) rows_.emplace_back(node, std::move(row));
  }

  std::string Dump() {
    if (!near_.empty()) {
      auto rest = std::stable_partition(rows_.begin(), rows_.end(), [&](const auto& r) { return r.first == near_; });
      if (const state::NodeCoordinate* from = store_.CoordinateOf(near_); from != nullptr) {
        const gossip::Coordinate source = ToGossip(*from);
        absl::btree_map<std::string, double> distance;  // by node: each computed once
        for (auto it = rest; it != rows_.end(); ++it) {
          if (distance.contains(it->first)) continue;
          const state::NodeCoordinate* to = store_.CoordinateOf(it->first);
          distance[it->first] = to != nullptr && to->vec.size() == source.vec.size()
                                    ? source.DistanceSeconds(ToGossip(*to))
                                    : std::numeric_limits<double>::infinity();
        }
        std::stable_sort(rest, rows_.end(),
                         [&](const auto& a, const auto& b) { return distance.at(a.first) < distance.at(b.first); });
      }
    }
    Json out = Json::array();
    for (auto& [node, row] : rows_) out.push_back(std::move(row));
    return Dump(out);
  }

  // A check's output is whatever its script printed: bytes that are not UTF-8 become U+FFFD,
  // as Go's encoding/json writes them, instead of failing the answer.
  static std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

 private:
  const state::Store& store_;
  const CatalogFilter& filter_;
  const std::string near_;
  std::vector<std::pair<std::string, Json>> rows_;
};

std::optional<FilterSubject> FilterSubjectOf(std::string_view method) {
  if (method == "catalog.nodes") return FilterSubject::kNode;
  if (method == "catalog.services" || method == "catalog.service") return FilterSubject::kServiceNode;
  if (method == "catalog.node" || method == "catalog.node-services") return FilterSubject::kNodeService;
  if (method == "health.node" || method == "health.checks" || method == "health.state") {
    return FilterSubject::kHealthCheck;
  }
  if (method == "health.service") return FilterSubject::kCheckServiceNode;
  return std::nullopt;
}

std::vector<std::string> TagsOf(const pba::Call& call) { return {call.tags().begin(), call.tags().end()}; }

// The catalog and health reads (docs: api-docs/catalog, api-docs/health). Each answers `[]`
// when nothing matches (a node's own reads: `null` for an unknown node), indexed by what it
// reads: a service's own index for one service's reads (Consul's per-service index, so churn
// elsewhere does not wake its watchers), the table's otherwise.
absl::Status ServeCatalogRead(const state::Store& store, const StoreReadContext& context, std::string_view method,
                              const pba::Call& call, pba::Reply* reply) {
  const std::optional<FilterSubject> subject = FilterSubjectOf(method);
  if (!subject.has_value()) return absl::InvalidArgumentError(absl::StrCat("not a read: ", std::string(method)));
  absl::StatusOr<CatalogFilter> filter = CatalogFilter::Parse(call.filter(), *subject);
  if (!filter.ok()) return filter.status();
  Rows rows(store, *filter, call, context);
  auto node_meta_of = [&](const std::string& name) {
    if (call.node_meta().empty()) return true;
    std::optional<state::Node> node = store.GetNode(name);
    return node.has_value() && NodeMetaMatches(*node, call);
  };
  if (method == "catalog.nodes") {
    state::Indexed<std::vector<state::Node>> nodes = store.Nodes();
    reply->set_index(nodes.index);
    for (const state::Node& n : nodes.value) {
      if (NodeMetaMatches(n, call)) rows.Add(n.name, NodeJson(n));
    }
    reply->set_body(rows.Dump());
  } else if (method == "catalog.services") {
    auto services = store.Services();
    reply->set_index(services.index);
    Json obj = Json::object();
    for (const auto& [name, tags] : services.value) {
      if (call.node_meta().empty() && filter->empty()) {
        obj[name] = tags;
        continue;
      }
      // Only the instances on matching nodes (or matching the filter) count, tags included.
      absl::btree_set<std::string> kept_tags;
      bool kept = false;
      for (const state::ServiceInstance& i : store.ServiceNodes(name, {}).value) {
        if (!NodeMetaMatches(i.node, call) || !filter->Matches(CatalogServiceJson(i))) continue;
        kept = true;
        kept_tags.insert(i.service.tags.begin(), i.service.tags.end());
      }
      if (kept) obj[name] = std::vector<std::string>(kept_tags.begin(), kept_tags.end());
    }
    reply->set_body(Rows::Dump(obj));
  } else if (method == "catalog.service") {
    state::Indexed<std::vector<state::ServiceInstance>> instances = store.ServiceNodes(call.key(), TagsOf(call));
    reply->set_index(instances.index);
    for (const state::ServiceInstance& i : instances.value) {
      if (NodeMetaMatches(i.node, call)) rows.Add(i.node.name, CatalogServiceJson(i));
    }
    reply->set_body(rows.Dump());
  } else if (method == "catalog.node" || method == "catalog.node-services") {
    auto node = store.GetNodeServices(call.key());
    reply->set_index(node.index);
    if (!node.value.has_value()) {
      reply->set_body("null");  // Consul answers 200 null for an unknown node
      return absl::OkStatus();
    }
    // catalog/node: {"Node", "Services": {"<id>": ...}}; node-services (Consul 1.7+):
    // {"Node", "Services": [...]}.
    Json services = method == "catalog.node" ? Json::object() : Json::array();
    for (const state::Service& s : node.value->services) {
      Json service = ServiceJson(s);
      if (!filter->Matches(service)) continue;
      if (services.is_object()) {
        services[s.id] = std::move(service);
      } else {
        services.push_back(std::move(service));
      }
    }
    Json j;
    j["Node"] = NodeJson(node.value->node);
    j["Services"] = std::move(services);
    reply->set_body(Rows::Dump(j));
  } else if (method == "health.node" || method == "health.checks" || method == "health.state") {
    state::Indexed<std::vector<state::Check>> checks;
    if (method == "health.node") {
      checks = store.NodeChecks(call.key());
    } else if (method == "health.checks") {
      checks = store.ServiceChecks(call.key());
    } else {
      absl::StatusOr<state::Indexed<std::vector<state::Check>>> in_state = store.ChecksInState(call.key());
      if (!in_state.ok()) return absl::InvalidArgumentError(in_state.status().message());
      checks = std::move(*in_state);
    }
    reply->set_index(checks.index);
    for (const state::Check& c : checks.value) {
      if (node_meta_of(c.node)) rows.Add(c.node, CheckJson(c));
    }
    reply->set_body(rows.Dump());
  } else if (method == "health.service") {
    state::Indexed<std::vector<state::ServiceHealth>> healths =
        store.ServiceHealthQuery(call.key(), TagsOf(call), call.passing());
    reply->set_index(healths.index);
    for (const state::ServiceHealth& h : healths.value) {
      if (NodeMetaMatches(h.node, call)) rows.Add(h.node.name, HealthServiceJson(h));
    }
    reply->set_body(rows.Dump());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ServeStoreRead(const state::Store& store, const StoreReadContext& context, std::string_view method,
                            const pba::Call& call, pba::Reply* reply) {
  if (FilterSubjectOf(method).has_value()) return ServeCatalogRead(store, context, method, call, reply);
  if (method == "kv.get") {
    if (call.key().size() > 2048) return absl::InvalidArgumentError("key too long");
    if (call.keys()) {
      // The same listing as last time while nothing under the prefix changed (Store's memo).
      if (const state::Store::KeyListingMemo* memo = store.FindKeyListingMemo(call.key(), call.separator())) {
        reply->set_index(memo->index);
        reply->set_body(memo->body);
        return absl::OkStatus();
      }
      std::string body = "[";
      bool plain = true;
      size_t count = 0;
      reply->set_index(store.ForEachKVKey(call.key(), call.separator(), [&](std::string_view key) {
        plain = plain && IsPlainJsonString(key);
        if (!plain) return;
        if (count++ > 0) body += ',';
        body += '"';
        body += key;
        body += '"';
      }));
      if (plain && count == 0) return absl::NotFoundError("");
      if (plain) {
        body += ']';
        store.KeepKeyListingMemo({std::string(call.key()), std::string(call.separator()), reply->index(), body});
      } else {
        body = Json(store.KVKeys(call.key(), call.separator()).value).dump();
      }
      reply->set_body(std::move(body));
    } else if (call.recurse()) {
      state::Indexed<std::vector<state::KVEntry>> list = store.KVList(call.key());
      reply->set_index(list.index);
      if (list.value.empty()) return absl::NotFoundError("");
      if (call.raw()) {
        reply->set_body(list.value.front().value);
      } else {
        Json arr = Json::array();
        for (const state::KVEntry& e : list.value) arr.push_back(KVJson(e));
        reply->set_body(arr.dump());
      }
    } else {
      state::Indexed<std::optional<state::KVEntry>> e = store.KVGet(call.key());
      reply->set_index(e.index);
      if (!e.value.has_value()) return absl::NotFoundError("");
      reply->set_body(call.raw() ? e.value->value : Json::array({KVJson(*e.value)}).dump());
    }
  } else if (method == "session.info" || method == "session.list") {
    Json arr = Json::array();
    if (method == "session.info") {
      state::Indexed<std::optional<state::Session>> one = store.SessionGet(call.key());
      reply->set_index(one.index);
      if (one.value.has_value()) arr.push_back(SessionJson(*one.value));
    } else {
      state::Indexed<std::vector<state::Session>> all = store.SessionList();
      reply->set_index(all.index);
      for (const state::Session& s : all.value) arr.push_back(SessionJson(s));
    }
    reply->set_body(arr.dump());
  } else if (method == "session.node") {
    state::Indexed<std::vector<state::Session>> mine = store.NodeSessions(call.key());
    reply->set_index(mine.index);
    Json arr = Json::array();
    for (const state::Session& s : mine.value) arr.push_back(SessionJson(s));
    reply->set_body(arr.dump());
  } else if (method == "txn.read") {
    absl::StatusOr<std::vector<state::TxnOp>> ops = ParseTxnOps(call.json(), store.config().txn_ops_max);
    if (!ops.ok()) return ops.status();
    if (!TxnReadOnly(*ops)) return absl::InvalidArgumentError("txn.read: a write in a read-only transaction");
    absl::StatusOr<state::TxnResponse> response = store.TxnRead(*ops);
    if (!response.ok()) return response.status();
    reply->set_index(store.TxnReadIndex());
    reply->set_body(TxnResponseJson(*response));
    // Rolled back: Consul's 409 with the errors as the JSON body.
    if (!response->ok()) return absl::AbortedError("transaction rolled back");
  } else if (method == "coordinate.nodes" || method == "coordinate.node") {
    // Consul's /v1/coordinate/nodes ([] when none) and /v1/coordinate/node/:node (404 when the
    // node has none), both indexed by the coordinates table.
    state::Indexed<std::vector<state::NodeCoordinate>> coordinates =
        method == "coordinate.nodes" ? store.Coordinates() : store.NodeCoordinates(call.key());
    reply->set_index(coordinates.index);
    Json arr = Json::array();
    for (const state::NodeCoordinate& c : coordinates.value) arr.push_back(NodeCoordinateJson(c));
    if (method == "coordinate.node" && arr.empty()) return absl::NotFoundError("");
    reply->set_body(arr.dump());
  } else if (method == "operator.autopilot.get") {
    std::optional<state::AutopilotConfiguration> stored = store.Autopilot();
    reply->set_index(stored.has_value() ? stored->modify_index : 1);
    reply->set_body(AutopilotConfigJson(stored.has_value() ? *stored : context.default_autopilot));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("not a read: ", std::string(method)));
  }
  return absl::OkStatus();
}

std::vector<state::WatchTopic> StoreReadTopics(std::string_view method, const pba::Call& call) {
  using state::WatchTopic;
  if (method == "kv.get") {
    return {call.recurse() || call.keys() ? WatchTopic::KVPrefix(call.key()) : WatchTopic::KVKey(call.key())};
  }
  if (method == "catalog.nodes") return {WatchTopic::Table(state::kTableNodes)};
  if (method == "catalog.services") return {WatchTopic::Table(state::kTableServices)};
  if (method == "catalog.node" || method == "catalog.node-services") {
    return {WatchTopic::Table(state::kTableNodes), WatchTopic::Table(state::kTableServices)};
  }
  // One service's reads: its instances, their nodes and checks (the store's ServiceIndex).
  if (method == "catalog.service" || method == "health.service" || method == "health.checks") {
    return {WatchTopic::ServiceName(call.key())};
  }
  if (method == "health.state") return {WatchTopic::Table(state::kTableChecks)};
  if (method == "health.node") return {WatchTopic::Table(state::kTableChecks)};
  if (method == "session.info" || method == "session.list" || method == "session.node") {
    return {WatchTopic::Table(state::kTableSessions)};
  }
  if (method == "operator.autopilot.get") return {WatchTopic::Table(state::kTableAutopilot)};
  if (method == "coordinate.nodes" || method == "coordinate.node") return {WatchTopic::Table(state::kTableCoordinates)};
  return {};
}

}  // namespace muster::agent
