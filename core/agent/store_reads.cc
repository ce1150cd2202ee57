#include "core/agent/store_reads.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/agent/consul_json.h"
#include "core/agent/txn_json.h"

namespace muster::agent {

namespace pba = ::muster::proto::agent;

absl::Status ServeStoreRead(const state::Store& store, const StoreReadContext& context, std::string_view method,
                            const pba::Call& call, pba::Reply* reply) {
  if (method == "kv.get") {
    if (call.key().size() > 2048) return absl::InvalidArgumentError("key too long");
    if (call.keys()) {
      state::Indexed<std::vector<std::string>> keys = store.KVKeys(call.key(), call.separator());
      reply->set_index(keys.index);
      if (keys.value.empty()) return absl::NotFoundError("");
      reply->set_body(Json(keys.value).dump());
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
  } else if (method == "catalog.nodes") {
    state::Indexed<std::vector<state::Node>> nodes = store.Nodes();
    reply->set_index(nodes.index);
    Json arr = Json::array();
    for (const state::Node& n : nodes.value) arr.push_back(NodeJson(n));
    reply->set_body(arr.dump());
  } else if (method == "health.node") {
    state::Indexed<std::vector<state::Check>> checks = store.NodeChecks(call.key());
    reply->set_index(checks.index);
    Json arr = Json::array();
    for (const state::Check& c : checks.value) arr.push_back(CheckJson(c));
    reply->set_body(arr.dump());
  } else if (method == "catalog.services") {
    auto services = store.Services();
    reply->set_index(services.index);
    Json obj = Json::object();
    for (const auto& [name, tags] : services.value) obj[name] = tags;
    reply->set_body(obj.dump());
  } else if (method == "catalog.node") {
    auto node = store.GetNodeServices(call.key());
    reply->set_index(node.index);
    if (!node.value.has_value()) {
      reply->set_body("null");  // Consul answers 200 null for an unknown node
    } else {
      Json services = Json::object();
      for (const state::Service& s : node.value->services) services[s.id] = ServiceJson(s);
      Json j;
      j["Node"] = NodeJson(node.value->node);
      j["Services"] = std::move(services);
      reply->set_body(j.dump());
    }
  } else if (method == "health.state") {
    absl::StatusOr<state::Indexed<std::vector<state::Check>>> checks = store.ChecksInState(call.key());
    if (!checks.ok()) return absl::InvalidArgumentError(checks.status().message());
    reply->set_index(checks->index);
    Json arr = Json::array();
    for (const state::Check& c : checks->value) arr.push_back(CheckJson(c));
    reply->set_body(arr.dump());
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
  if (method == "catalog.node") return {WatchTopic::Table(state::kTableNodes), WatchTopic::Table(state::kTableServices)};
  if (method == "health.state") return {WatchTopic::Table(state::kTableChecks)};
  if (method == "health.node") return {WatchTopic::Table(state::kTableChecks)};
  if (method == "session.info" || method == "session.list") return {WatchTopic::Table(state::kTableSessions)};
  if (method == "operator.autopilot.get") return {WatchTopic::Table(state::kTableAutopilot)};
  return {};
}

}  // namespace muster::agent
