#include "core/state/fsm.h"

#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "core/state/codec.h"

namespace muster::state {

ApplyResult Fsm::Apply(uint64_t index, std::string_view command_bytes) {
  proto::state::Command c;
  if (!c.ParseFromArray(command_bytes.data(), static_cast<int>(command_bytes.size()))) {
    MUSTER_CHECK_LT(store_.last_index(), index, "FSM applied out of order");
    store_.SetLastIndex(index);
    ApplyResult r;
    r.index = index;
    r.status = absl::InvalidArgumentError("state command does not parse");
    r.ok = false;
    return r;
  }
  return Apply(index, c);
}

ApplyResult Fsm::Apply(uint64_t index, const proto::state::Command& c) {
  MUSTER_CHECK_LT(store_.last_index(), index, "FSM applied out of order");
  ApplyResult r;
  r.index = index;
  // The entry's stamp, never earlier than one applied before (Store::AdvanceTime).
  Dispatch(index, store_.AdvanceTime(NanosToTime(c.time_unix_ns())), c, r);
  store_.SetLastIndex(index);
  ChangeSet changes = store_.TakeChanges();
  MUSTER_CHECK(r.status.ok() || changes.empty(), "a rejected command changed state");
  r.woken = watches_.Notify(changes);
  return r;
}

void Fsm::Dispatch(uint64_t index, Time now, const proto::state::Command& c, ApplyResult& r) {
  using proto::state::Command;
  using proto::state::KVRequest;
  using proto::state::SessionRequest;
  auto set_bool = [&](const absl::StatusOr<bool>& b) {
    r.status = b.status();
    r.ok = b.ok() && *b;
  };
  switch (c.cmd_case()) {
    case Command::kCatalogRegister:
      r.status = store_.Register(index, now, FromProto(c.catalog_register()));
      break;
    case Command::kCatalogDeregister: {
      const auto& d = c.catalog_deregister();
      if (d.service_id().empty() && d.check_id().empty()) {
        r.status = store_.DeregisterNode(index, now, d.node());
        break;
      }
      if (!d.service_id().empty()) r.status = store_.DeregisterService(index, now, d.node(), d.service_id());
      if (r.status.ok() && !d.check_id().empty()) {
        r.status = store_.DeregisterCheck(index, now, d.node(), d.check_id());
      }
      break;
    }
    case Command::kKv: {
      const KVRequest& kv = c.kv();
      KVEntry e = FromProto(kv.entry());
      switch (kv.op()) {
        case KVRequest::SET: set_bool(store_.KVSet(index, std::move(e))); break;
        case KVRequest::CAS: set_bool(store_.KVCas(index, std::move(e), kv.cas_index())); break;
        case KVRequest::LOCK: set_bool(store_.KVLock(index, now, std::move(e))); break;
        case KVRequest::UNLOCK: set_bool(store_.KVUnlock(index, std::move(e))); break;
        case KVRequest::DELETE: set_bool(store_.KVDelete(index, e.key)); break;
        case KVRequest::DELETE_CAS: set_bool(store_.KVDeleteCas(index, e.key, kv.cas_index())); break;
        case KVRequest::DELETE_TREE: set_bool(store_.KVDeleteTree(index, e.key)); break;
        default: r.status = absl::InvalidArgumentError(absl::StrCat("unknown KV op ", kv.op()));
      }
      break;
    }
    case Command::kSession: {
      const SessionRequest& s = c.session();
      switch (s.op()) {
        case SessionRequest::CREATE: {
          absl::StatusOr<Session> created =
              store_.SessionCreate(index, now, FromProto(s.session()), s.default_node_checks());
          r.status = created.status();
          if (created.ok()) r.session = *std::move(created);
          break;
        }
        case SessionRequest::DESTROY: r.status = store_.SessionDestroy(index, now, s.session().id()); break;
        case SessionRequest::RENEW: {
          absl::StatusOr<Session> renewed = store_.SessionRenew(now, s.session().id());
          r.status = renewed.status();
          if (renewed.ok()) r.session = *std::move(renewed);
          break;
        }
        case SessionRequest::EXPIRE: r.ok = store_.SessionExpire(index, now, s.session().id()); break;
        default: r.status = absl::InvalidArgumentError(absl::StrCat("unknown session op ", s.op()));
      }
      break;
    }
    case Command::kTxn: {
      std::vector<TxnOp> ops;
      for (const auto& op : c.txn().ops()) {
        if (op.verb() > static_cast<uint32_t>(TxnVerb::kDeleteTree)) {
          r.status = absl::InvalidArgumentError(absl::StrCat("unknown txn verb ", op.verb()));
          return;
        }
        if (op.kind() > static_cast<uint32_t>(TxnKind::kCheck)) {
          r.status = absl::InvalidArgumentError(absl::StrCat("unknown txn op kind ", op.kind()));
          return;
        }
        TxnOp t{static_cast<TxnVerb>(op.verb()), FromProto(op.entry()), op.index()};
        t.kind = static_cast<TxnKind>(op.kind());
        switch (t.kind) {
          case TxnKind::kKV: break;
          case TxnKind::kNode: t.node = FromProto(op.node()); break;
          case TxnKind::kService:
            t.service_node = op.service_node();
            t.service = FromProto(op.service());
            break;
          case TxnKind::kCheck: t.check = FromProto(op.check()); break;
        }
        ops.push_back(std::move(t));
      }
      absl::StatusOr<TxnResponse> resp = store_.Txn(index, now, ops);
      r.status = resp.status();
      if (resp.ok()) {
        r.ok = resp->ok();
        r.txn = *std::move(resp);
      }
      break;
    }
    case Command::kReapTombstones:
      if (c.reap_tombstones().up_to_index() > index) {
        r.status = absl::InvalidArgumentError("reap index beyond the entry's own");
        break;
      }
      store_.ReapTombstones(index, c.reap_tombstones().up_to_index());
      break;
    case Command::kAutopilotSet: {
      const proto::state::AutopilotSetRequest& a = c.autopilot_set();
      set_bool(store_.AutopilotSet(index, FromProto(a.config()), a.has_cas(), a.cas()));
      break;
    }
    case Command::kCoordinateBatchUpdate: {
      std::vector<NodeCoordinate> updates;
      for (const proto::state::NodeCoordinate& u : c.coordinate_batch_update().updates()) {
        updates.push_back(FromProto(u));
      }
      store_.CoordinateBatchUpdate(index, updates);
      break;
    }
    case Command::CMD_NOT_SET:
      r.status = absl::InvalidArgumentError("empty state command");
      break;
  }
  if (!r.status.ok()) r.ok = false;
}

absl::StatusOr<std::vector<uint64_t>> Fsm::Restore(std::string_view bytes) {
  if (absl::Status s = store_.Restore(bytes); !s.ok()) return s;
  return watches_.Notify(store_.TakeChanges());
}

namespace commands {

using proto::state::Command;

namespace {
Command At(Time now) {
  Command c;
  c.set_time_unix_ns(TimeToNanos(now));
  return c;
}
}  // namespace

Command Register(Time now, const RegisterRequest& req) {
  Command c = At(now);
  *c.mutable_catalog_register() = ToProto(req);
  return c;
}

Command Deregister(Time now, std::string_view node, std::string_view service_id,
                   std::string_view check_id) {
  Command c = At(now);
  auto* d = c.mutable_catalog_deregister();
  d->set_node(std::string(node));
  d->set_service_id(std::string(service_id));
  d->set_check_id(std::string(check_id));
  return c;
}

Command KV(Time now, proto::state::KVRequest::Op op, const KVEntry& entry, uint64_t cas_index) {
  Command c = At(now);
  c.mutable_kv()->set_op(op);
  *c.mutable_kv()->mutable_entry() = ToProto(entry);
  c.mutable_kv()->set_cas_index(cas_index);
  return c;
}

Command SessionCreate(Time now, const Session& s, bool default_node_checks) {
  Command c = At(now);
  c.mutable_session()->set_op(proto::state::SessionRequest::CREATE);
  *c.mutable_session()->mutable_session() = ToProto(s);
  c.mutable_session()->set_default_node_checks(default_node_checks);
  return c;
}

Command SessionOp(Time now, proto::state::SessionRequest::Op op, std::string_view id) {
  Command c = At(now);
  c.mutable_session()->set_op(op);
  c.mutable_session()->mutable_session()->set_id(std::string(id));
  return c;
}

Command Txn(Time now, const std::vector<TxnOp>& ops) {
  Command c = At(now);
  for (const TxnOp& op : ops) {
    auto* p = c.mutable_txn()->add_ops();
    p->set_verb(static_cast<uint32_t>(op.verb));
    *p->mutable_entry() = ToProto(op.entry);
    p->set_index(op.index);
    // A KV op leaves the catalog fields unset, so its bytes are those of before they came.
    switch (op.kind) {
      case TxnKind::kKV: break;
      case TxnKind::kNode: *p->mutable_node() = ToProto(op.node); break;
      case TxnKind::kService:
        p->set_service_node(op.service_node);
        *p->mutable_service() = ToProto(op.service);
        break;
      case TxnKind::kCheck: *p->mutable_check() = ToProto(op.check); break;
    }
    if (op.kind != TxnKind::kKV) p->set_kind(static_cast<uint32_t>(op.kind));
  }
  return c;
}

Command ReapTombstones(Time now, uint64_t up_to_index) {
  Command c = At(now);
  c.mutable_reap_tombstones()->set_up_to_index(up_to_index);
  return c;
}

Command AutopilotSet(Time now, const AutopilotConfiguration& config, bool has_cas, uint64_t cas) {
  Command c = At(now);
  *c.mutable_autopilot_set()->mutable_config() = ToProto(config);
  c.mutable_autopilot_set()->set_has_cas(has_cas);
  c.mutable_autopilot_set()->set_cas(cas);
  return c;
}

Command CoordinateBatchUpdate(Time now, const std::vector<NodeCoordinate>& updates) {
  Command c = At(now);
  auto* batch = c.mutable_coordinate_batch_update();
  for (const NodeCoordinate& u : updates) *batch->add_updates() = ToProto(u);
  return c;
}

}  // namespace commands
}  // namespace muster::state
