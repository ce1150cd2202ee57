#include "core/agent/store_writes.h"

#include <string>

#include "absl/strings/str_cat.h"
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

}  // namespace

absl::StatusOr<StoreWrite> BuildStoreWrite(const state::Store& store, const StoreWriteContext& context,
                                           std::string_view method, const pba::Call& call, Time stamp) {
  (void)context;
  if (method == "kv.put" || method == "kv.delete") return KvWrite(method, call, stamp);
  if (method == "txn") {
    absl::StatusOr<std::vector<state::TxnOp>> ops = ParseTxnOps(call.json(), store.config().txn_ops_max);
    if (!ops.ok()) return ops.status();
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
