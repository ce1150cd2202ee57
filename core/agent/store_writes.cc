#include "core/agent/store_writes.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/agent/consul_json.h"
#include "core/agent/txn_json.h"
#include "core/state/fsm.h"

namespace muster::agent {

namespace pba = ::muster::proto::agent;
namespace pbs = ::muster::proto::state;

namespace {

absl::StatusOr<StoreWrite> KvWrite(std::string_view method, const pba::Call& call, Time stamp) {
  state::KVEntry e;
  e.key = call.key();
  pbs::KVRequest::Op op;
  uint64_t cas = 0;
  if (method == "kv.put") {
    e.value = call.value();
    e.flags = call.flags();
    if (!call.acquire().empty() && !call.release().empty()) {
      return absl::InvalidArgumentError("acquire and release together");
    }
    if (!call.acquire().empty()) {
      op = pbs::KVRequest::LOCK;
      e.session = call.acquire();
    } else if (!call.release().empty()) {
      op = pbs::KVRequest::UNLOCK;
      e.session = call.release();
    } else if (call.has_cas()) {
      op = pbs::KVRequest::CAS;
      cas = call.cas();
    } else {
      op = pbs::KVRequest::SET;
    }
  } else if (call.recurse()) {
    op = pbs::KVRequest::DELETE_TREE;
  } else if (call.has_cas()) {
    op = pbs::KVRequest::DELETE_CAS;
    cas = call.cas();
  } else {
    op = pbs::KVRequest::DELETE;
  }
  return StoreWrite{state::commands::KV(stamp, op, e, cas), WriteAnswer::kTrueFalse};
}

// PUT /v1/catalog/register and /v1/catalog/deregister (docs: api-docs/catalog), from clients
// and from the agents' anti-entropy alike: Consul's JSON bodies, checked before anything is
// proposed; what only the state can decide (a check's service, a node ID taken by another
// node) is decided when the entry applies.
absl::StatusOr<StoreWrite> CatalogWrite(const state::Store& store, const StoreWriteContext& context,
                                        std::string_view method, const pba::Call& call, Time stamp) {
  auto other_datacenter = [&](const std::string& dc) { return !dc.empty() && dc != context.datacenter; };
  if (method == "catalog.register") {
    absl::StatusOr<CatalogRegistration> r = ParseCatalogRegister(call.json());
    if (!r.ok()) return r.status();
    // Consul forwards to that datacenter; until the WAN issue does, no path (a 500, as Consul's).
    if (other_datacenter(r->datacenter)) return absl::UnavailableError("No path to datacenter");
    state::RegisterRequest& req = r->request;
    req.node.datacenter = std::string(context.datacenter);
    if (req.node.address.empty() && !(req.skip_node_update && store.GetNode(req.node.name).has_value())) {
      return absl::InvalidArgumentError("Must provide address");
    }
    return StoreWrite{state::commands::Register(stamp, req), WriteAnswer::kTrue};
  }
  absl::StatusOr<CatalogDeregistration> d = ParseCatalogDeregister(call.json());
  if (!d.ok()) return d.status();
  if (other_datacenter(d->datacenter)) return absl::UnavailableError("No path to datacenter");
  return StoreWrite{state::commands::Deregister(stamp, d->node, d->service_id, d->check_id), WriteAnswer::kTrue};
}

}  // namespace

absl::StatusOr<StoreWrite> BuildStoreWrite(const state::Store& store, const StoreWriteContext& context,
                                           std::string_view method, const pba::Call& call, Time stamp) {
  if (method == "kv.put" && !call.acquire().empty() &&
      (context.unsafe_acquire_takes_held_locks || context.unsafe_holder_node_suspect)) {
    // The injected bugs: a key another session holds (any, or one whose node gossip suspects)
    // is released for it and acquired, in one transaction, while that session still believes
    // it holds the lock, and before its invalidation and lock-delay.
    const std::optional<state::KVEntry> held = store.KVGet(call.key()).value;
    auto taken = [&] {
      if (context.unsafe_acquire_takes_held_locks) return true;
      const std::optional<state::Session> holder = store.SessionGet(held->session).value;
      return holder.has_value() && context.unsafe_holder_node_suspect(holder->node);
    };
    if (held.has_value() && !held->session.empty() && held->session != call.acquire() && taken()) {
      state::TxnOp take_from;
      take_from.verb = state::TxnVerb::kUnlock;
      take_from.entry = *held;
      state::TxnOp acquire;
      acquire.verb = state::TxnVerb::kLock;
      acquire.entry.key = call.key();
      acquire.entry.value = call.value();
      acquire.entry.flags = call.flags();
      acquire.entry.session = call.acquire();
      return StoreWrite{state::commands::Txn(stamp, {take_from, acquire}), WriteAnswer::kTrueFalse};
    }
  }
  if (method == "kv.put" || method == "kv.delete") return KvWrite(method, call, stamp);
  if (method == "catalog.register" || method == "catalog.deregister") {
    return CatalogWrite(store, context, method, call, stamp);
  }
  if (method == "txn") {
    absl::StatusOr<std::vector<state::TxnOp>> ops = ParseTxnOps(call.json(), store.config().txn_ops_max);
    if (!ops.ok()) return ops.status();
    // A node written by a transaction is in this datacenter, as one registered through
    // /v1/catalog/register: another one named has no path yet (the WAN issue forwards).
    for (state::TxnOp& op : *ops) {
      if (op.kind != state::TxnKind::kNode) continue;
      if (!op.node.datacenter.empty() && op.node.datacenter != context.datacenter) {
        return absl::UnavailableError("No path to datacenter");
      }
      op.node.datacenter = std::string(context.datacenter);
    }
    return StoreWrite{state::commands::Txn(stamp, *ops), WriteAnswer::kTxn};
  }
  return absl::NotFoundError(absl::StrCat("not a store write: ", std::string(method)));
}

absl::Status RenderWriteAnswer(WriteAnswer answer, const state::ApplyResult& result, pba::Reply* reply) {
  switch (answer) {
    case WriteAnswer::kTrueFalse:
      reply->set_body(result.ok ? "true" : "false");
      break;
    case WriteAnswer::kTrue:
      reply->set_body("true");
      break;
    case WriteAnswer::kEmpty:
      break;
    case WriteAnswer::kTxn:
      if (!result.txn.has_value()) return absl::InternalError("a transaction applied without a response");
      reply->set_body(TxnResponseJson(*result.txn));
      // Rolled back: Consul's 409 with the errors as the JSON body (the Reply's).
      if (!result.txn->ok()) return absl::AbortedError("transaction rolled back");
      break;
  }
  return absl::OkStatus();
}

}  // namespace muster::agent
