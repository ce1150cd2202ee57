// The generator of linearizable KV histories and the one-answer mutation.
#include "sim/checkers/random_kv_history.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "core/base/rng.h"

namespace muster::sim::checkers {
namespace {

struct PlannedOp {
  KvOp op;
  Time effect;               // when it takes effect (its linearization point)
  bool takes_effect = true;  // false: a maybe-op that never happened
};

Duration ExponentialDuration(Rng& rng, Duration mean) {
  return absl::Nanoseconds(static_cast<int64_t>(rng.Exponential(absl::ToDoubleNanoseconds(mean))));
}

}  // namespace

KvHistory RandomLinearizableKvHistory(const RandomKvHistoryOptions& options) {
  MUSTER_CHECK(options.clients > 0 && options.keys > 0 && options.ops >= 0);
  Rng rng(options.seed);
  std::vector<Time> client_free(options.clients, SimEpoch());
  std::vector<PlannedOp> planned;
  planned.reserve(options.ops);
  for (int i = 0; i < options.ops; ++i) {
    // The client that is free first issues the next op: calls come in time order.
    const int client = static_cast<int>(std::min_element(client_free.begin(), client_free.end()) -
                                        client_free.begin());
    PlannedOp p;
    p.op.client = client;
    p.op.key = absl::StrCat("k", rng.Uniform(options.keys));
    p.op.call = client_free[client];
    const Duration latency = ExponentialDuration(rng, options.latency_mean) + absl::Microseconds(1);
    p.op.ret = p.op.call + latency;
    p.effect = p.op.call + rng.UniformDuration(absl::ZeroDuration(), latency);
    const double kind = rng.UniformDouble();
    if (kind < options.put_share) {
      p.op.kind = KvOpKind::kPut;
      p.op.value = absl::StrCat("v", i);
    } else if (kind < options.put_share + options.cas_share) {
      p.op.kind = KvOpKind::kCas;
      p.op.value = absl::StrCat("v", i);
    } else if (kind < options.put_share + options.cas_share + options.delete_share) {
      p.op.kind = KvOpKind::kDelete;
    } else {
      p.op.kind = KvOpKind::kGet;
    }
    if (rng.Bernoulli(options.maybe_share)) {
      p.op.status = KvOpStatus::kUnknown;
      p.takes_effect = rng.Bernoulli(0.5);
    } else {
      p.op.status = KvOpStatus::kOk;
    }
    client_free[client] = p.op.ret + ExponentialDuration(rng, options.think_mean);
    planned.push_back(std::move(p));
  }

  // Apply in effect order to the registers; a cas expects the current value most of the time
  // (a client that read it just before), else the key's previous value or absent.
  std::vector<size_t> by_effect(planned.size());
  for (size_t i = 0; i < planned.size(); ++i) by_effect[i] = i;
  std::stable_sort(by_effect.begin(), by_effect.end(),
                   [&](size_t a, size_t b) { return planned[a].effect < planned[b].effect; });
  absl::btree_map<std::string, std::optional<std::string>> registers;
  absl::btree_map<std::string, std::optional<std::string>> previous;
  for (size_t i : by_effect) {
    KvOp& op = planned[i].op;
    std::optional<std::string>& current = registers[op.key];
    if (op.kind == KvOpKind::kCas) {
      const double pick = rng.UniformDouble();
      op.expected = pick < 0.7 ? current : (pick < 0.9 ? previous[op.key] : std::nullopt);
    }
    if (!planned[i].takes_effect) continue;
    switch (op.kind) {
      case KvOpKind::kGet:
        op.read = current;
        break;
      case KvOpKind::kPut:
        op.ok = true;
        previous[op.key] = current;
        current = op.value;
        break;
      case KvOpKind::kDelete:
        op.ok = true;
        previous[op.key] = current;
        current.reset();
        break;
      case KvOpKind::kCas:
        op.ok = current == op.expected;
        if (op.ok) {
          previous[op.key] = current;
          current = op.value;
        }
        break;
      case KvOpKind::kDeleteCas:
        MUSTER_UNREACHABLE("not generated");
    }
  }
  std::vector<KvOp> ops;
  ops.reserve(planned.size());
  for (PlannedOp& p : planned) ops.push_back(std::move(p.op));
  return KvHistory::FromOps(std::move(ops));
}

KvHistory FlipOneAnswer(const KvHistory& history, uint64_t seed) {
  std::vector<KvOp> ops = history.ops();
  std::vector<size_t> candidates;
  for (size_t i = 0; i < ops.size(); ++i) {
    const KvOp& op = ops[i];
    if (op.status != KvOpStatus::kOk) continue;
    if (op.kind == KvOpKind::kGet || op.kind == KvOpKind::kCas || op.kind == KvOpKind::kDeleteCas) {
      candidates.push_back(i);
    }
  }
  if (candidates.empty()) return KvHistory::FromOps(std::move(ops));
  Rng rng(seed);
  KvOp& victim = ops[candidates[rng.Uniform(candidates.size())]];
  if (victim.kind == KvOpKind::kGet) {
    // Another value written to the same key, or absent.
    std::vector<std::optional<std::string>> others{std::nullopt};
    for (const KvOp& op : ops) {
      if (op.key == victim.key && (op.kind == KvOpKind::kPut || op.kind == KvOpKind::kCas)) {
        others.emplace_back(op.value);
      }
    }
    std::erase(others, victim.read);
    if (!others.empty()) victim.read = others[rng.Uniform(others.size())];
  } else {
    victim.ok = !victim.ok;
  }
  return KvHistory::FromOps(std::move(ops));
}

}  // namespace muster::sim::checkers
