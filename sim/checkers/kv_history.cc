// The KvHistory builder and the one-line rendering of an op.
#include "sim/checkers/kv_history.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/check.h"

namespace muster::sim::checkers {

KvOpId KvHistory::Invoke(KvOp op) {
  MUSTER_CHECK(ops_.size() < UINT32_MAX, "history full");
  op.status = KvOpStatus::kPending;
  op.ok = false;
  op.read.reset();
  op.ret = op.call;
  ops_.push_back(std::move(op));
  return static_cast<KvOpId>(ops_.size() - 1);
}

KvOpId KvHistory::InvokePut(int32_t client, std::string key, std::string value, Time call) {
  KvOp op;
  op.client = client;
  op.key = std::move(key);
  op.kind = KvOpKind::kPut;
  op.value = std::move(value);
  op.call = call;
  return Invoke(std::move(op));
}

KvOpId KvHistory::InvokeGet(int32_t client, std::string key, ReadMode mode, Time call) {
  KvOp op;
  op.client = client;
  op.key = std::move(key);
  op.kind = KvOpKind::kGet;
  op.read_mode = mode;
  op.call = call;
  return Invoke(std::move(op));
}

KvOpId KvHistory::InvokeCas(int32_t client, std::string key, std::optional<std::string> expected,
                            std::string value, Time call) {
  KvOp op;
  op.client = client;
  op.key = std::move(key);
  op.kind = KvOpKind::kCas;
  op.expected = std::move(expected);
  op.value = std::move(value);
  op.call = call;
  return Invoke(std::move(op));
}

KvOpId KvHistory::InvokeDelete(int32_t client, std::string key, Time call) {
  KvOp op;
  op.client = client;
  op.key = std::move(key);
  op.kind = KvOpKind::kDelete;
  op.call = call;
  return Invoke(std::move(op));
}

KvOpId KvHistory::InvokeDeleteCas(int32_t client, std::string key,
                                  std::optional<std::string> expected, Time call) {
  KvOp op;
  op.client = client;
  op.key = std::move(key);
  op.kind = KvOpKind::kDeleteCas;
  op.expected = std::move(expected);
  op.call = call;
  return Invoke(std::move(op));
}

KvHistory KvHistory::FromOps(std::vector<KvOp> ops) {
  KvHistory history;
  for (KvOp& op : ops) {
    const KvOpStatus status = op.status;
    const Time ret = op.ret;
    const bool ok = op.ok;
    std::optional<std::string> read = op.read;
    const KvOpKind kind = op.kind;
    const KvOpId id = history.Invoke(std::move(op));
    if (status == KvOpStatus::kUnknown) {
      history.Unknown(id);
    } else if (status == KvOpStatus::kOk) {
      if (kind == KvOpKind::kGet) {
        history.CompleteGet(id, ret, std::move(read));
      } else {
        history.CompleteWrite(id, ret, ok);
      }
    }
  }
  return history;
}

void KvHistory::SetStalenessBound(KvOpId id, Duration bound) {
  MUSTER_CHECK_LT(id, ops_.size());
  MUSTER_CHECK(ops_[id].kind == KvOpKind::kGet, "op ", id, " is not a get");
  ops_[id].staleness_bound = bound;
}

const KvOp& KvHistory::op(KvOpId id) const {
  MUSTER_CHECK_LT(id, ops_.size());
  return ops_[id];
}

KvOp& KvHistory::Pending(KvOpId id, Time ret) {
  MUSTER_CHECK_LT(id, ops_.size());
  KvOp& op = ops_[id];
  MUSTER_CHECK(op.status == KvOpStatus::kPending, "op ", id, " answered twice");
  MUSTER_CHECK(ret >= op.call, "op ", id, " returns before its call");
  return op;
}

void KvHistory::CompleteWrite(KvOpId id, Time ret, bool ok) {
  KvOp& op = Pending(id, ret);
  MUSTER_CHECK(op.kind != KvOpKind::kGet, "op ", id, " is a get");
  op.ret = ret;
  op.ok = ok;
  op.status = KvOpStatus::kOk;
}

void KvHistory::CompleteGet(KvOpId id, Time ret, std::optional<std::string> read) {
  KvOp& op = Pending(id, ret);
  MUSTER_CHECK(op.kind == KvOpKind::kGet, "op ", id, " is not a get");
  op.ret = ret;
  op.read = std::move(read);
  op.ok = true;
  op.status = KvOpStatus::kOk;
}

void KvHistory::Unknown(KvOpId id) {
  KvOp& op = Pending(id, ops_[id].call);
  op.status = KvOpStatus::kUnknown;
}

const char* KvOpKindName(KvOpKind kind) {
  switch (kind) {
    case KvOpKind::kPut:
      return "put";
    case KvOpKind::kGet:
      return "get";
    case KvOpKind::kCas:
      return "cas";
    case KvOpKind::kDelete:
      return "delete";
    case KvOpKind::kDeleteCas:
      return "delete-cas";
  }
  MUSTER_UNREACHABLE("op kind ", static_cast<int>(kind));
}

namespace {

std::string Quoted(const std::optional<std::string>& value) {
  return value.has_value() ? absl::StrCat("'", *value, "'") : "absent";
}

std::string SinceEpoch(Time t) { return absl::FormatDuration(t - SimEpoch()); }

const char* ReadModeName(ReadMode mode) {
  switch (mode) {
    case ReadMode::kConsistent:
      return "";
    case ReadMode::kDefault:
      return "(default)";
    case ReadMode::kStale:
      return "(stale)";
  }
  MUSTER_UNREACHABLE("read mode ", static_cast<int>(mode));
}

}  // namespace

std::string FormatKvOp(const KvOp& op) {
  std::string what =
      absl::StrCat("c", op.client, " ", KvOpKindName(op.kind),
                   op.kind == KvOpKind::kGet ? ReadModeName(op.read_mode) : "", " ", op.key);
  switch (op.kind) {
    case KvOpKind::kPut:
      absl::StrAppend(&what, " '", op.value, "'");
      break;
    case KvOpKind::kCas:
      absl::StrAppend(&what, " ", Quoted(op.expected), "->'", op.value, "'");
      break;
    case KvOpKind::kDeleteCas:
      absl::StrAppend(&what, " ", Quoted(op.expected), "->absent");
      break;
    case KvOpKind::kGet:
    case KvOpKind::kDelete:
      break;
  }
  switch (op.status) {
    case KvOpStatus::kOk:
      absl::StrAppend(&what, " [", SinceEpoch(op.call), ", ", SinceEpoch(op.ret), "] -> ",
                      op.kind == KvOpKind::kGet ? Quoted(op.read) : (op.ok ? "true" : "false"));
      break;
    case KvOpStatus::kPending:
    case KvOpStatus::kUnknown:
      absl::StrAppend(&what, " [", SinceEpoch(op.call), ", ?] -> unknown");
      break;
  }
  return what;
}

}  // namespace muster::sim::checkers
