#include "core/agent/remote_alias.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/agent/anti_entropy.h"
#include "core/base/strings.h"

namespace muster::agent {
namespace {

namespace pba = ::muster::proto::agent;

constexpr std::string_view kFailurePrefix = "Failure checking aliased node or service: ";

}  // namespace

void RemoteAliases::Follow(Time now, const LocalState& local) {
  if (local.remote_aliases_revision() == followed_revision_) return;
  followed_revision_ = local.remote_aliases_revision();
  const absl::btree_set<std::string>& ids = local.remote_alias_ids();
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (ids.contains(it->first)) {
      ++it;
      continue;
    }
    if (it->second.answer.has_value()) --answers_waiting_;
    it = reads_.erase(it);  // its read's answer finds no generation of its own
  }
  for (const std::string& id : ids) {
    const CheckDefinition& def = local.checks().at(id).def;
    auto it = reads_.find(id);
    if (it != reads_.end() && it->second.alias.alias_node == def.alias_node &&
        it->second.alias.alias_service == def.alias_service) {
      continue;  // registered again aliasing the same: its read goes on
    }
    if (it != reads_.end() && it->second.answer.has_value()) --answers_waiting_;
    Read r;
    r.alias.kind = CheckKind::kAlias;
    r.alias.alias_node = def.alias_node;
    r.alias.alias_service = def.alias_service;
    r.generation = next_generation_++;
    r.due = now;
    reads_[id] = std::move(r);
    next_due_ = now;
  }
}

void RemoteAliases::Tick(Time now, LocalState& local, const Requester& request, Effects* out) {
  Follow(now, local);
  if (reads_.empty()) return;
  if (answers_waiting_ == 0 && now < next_due_) {
    out->WakeAt(next_due_);  // nothing answered, nothing due: no walk over the reads
    return;
  }
  // Answers first (one that comes at once, from a read issued below, waits for the next Tick,
  // which wants_tick asks for).
  if (answers_waiting_ > 0) {
    for (auto& [id, r] : reads_) {
      if (r.answer.has_value()) HandleAnswer(now, id, r, local, out);
    }
  }
  for (auto& [id, r] : reads_) {
    if ((r.phase == Phase::kIdle || r.phase == Phase::kLookupIdle) && now >= r.due) Issue(now, id, r, request);
  }
  next_due_ = absl::InfiniteFuture();
  for (const auto& [id, r] : reads_) {
    if (r.phase == Phase::kIdle || r.phase == Phase::kLookupIdle) next_due_ = std::min(next_due_, r.due);
  }
  if (next_due_ != absl::InfiniteFuture()) out->WakeAt(next_due_);
  if (answers_waiting_ > 0) out->WakeAt(now);
}

void RemoteAliases::Issue(Time now, const std::string& id, Read& r, const Requester& request) {
  pba::Call call;
  call.set_key(r.alias.alias_node);
  std::string method;
  if (r.phase == Phase::kIdle) {
    method = "health.node";
    r.issued_stale = !r.fresh;
    if (r.issued_stale) call.set_consistency("stale");
    if (r.min_index > 0) {
      call.set_min_index(r.min_index);
      call.set_wait_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(kRemoteAliasWait)));
    }
    r.phase = Phase::kQuerying;
    r.issued_at = now;
  } else {
    method = "catalog.node";
    call.set_consistency("stale");
    r.phase = Phase::kLookingUp;
  }
  ++queries_;
  const uint64_t generation = r.generation;
  request(method, call, [this, id, generation](const absl::Status& status, const pba::Reply& reply) {
    auto it = reads_.find(id);
    if (it == reads_.end() || it->second.generation != generation) return;  // removed or replaced
    Read& read = it->second;
    if ((read.phase != Phase::kQuerying && read.phase != Phase::kLookingUp) || read.answer.has_value()) return;
    read.answer = std::make_pair(status, reply);
    ++answers_waiting_;
  });
}

void RemoteAliases::HandleAnswer(Time now, const std::string& id, Read& r, LocalState& local, Effects* out) {
  auto [status, reply] = std::move(*r.answer);
  r.answer.reset();
  --answers_waiting_;
  if (r.phase == Phase::kLookingUp) return HandleLookup(now, id, r, status, reply, local, out);
  if (!status.ok()) return Failed(now, id, r, Std(status.message()), local, out);
  if (r.issued_stale && absl::Milliseconds(reply.last_contact_ms()) > kRemoteAliasStaleMax) {
    // Consul's server would have sent this read to the leader: ask the leader now.
    log_.Debug(now, "alias check ", id, ": the answer is ", reply.last_contact_ms(),
               " ms behind the leader; reading from the leader");
    r.fresh = true;
    r.phase = Phase::kIdle;
    r.due = now;
    return;
  }
  HandleChecks(now, id, r, reply, local, out);
}

void RemoteAliases::HandleChecks(Time now, const std::string& id, Read& r, const pba::Reply& reply,
                                 LocalState& local, Effects* out) {
  std::optional<RemoteNode> node = ParseRemoteNode("null", reply.body());
  if (!node.has_value()) return Failed(now, id, r, "the node's checks did not parse", local, out);
  r.failures = 0;
  r.fresh = false;
  r.min_index = std::max<uint64_t>(1, reply.index());  // Consul: never 0, so the next one blocks
  r.checks = std::move(node->checks);
  if (AliasSeesService(r.alias, "", r.checks)) return Settle(now, id, r, /*service_registered=*/true, local, out);
  // No check of the service: whether the node has it decides (Consul's
  // checkServiceExistsOnRemoteServer).
  r.lookup_failures = 0;
  r.phase = Phase::kLookupIdle;
  r.due = now;
}

void RemoteAliases::HandleLookup(Time now, const std::string& id, Read& r, const absl::Status& status,
                                 const pba::Reply& reply, LocalState& local, Effects* out) {
  std::optional<RemoteNode> node = status.ok() ? ParseRemoteNode(reply.body(), "[]") : std::nullopt;
  if (!node.has_value()) {
    ++r.lookup_failures;
    if (r.lookup_failures <= kRemoteAliasLookupRetriesMax) {
      r.phase = Phase::kLookupIdle;
      r.due = now + absl::Seconds(r.lookup_failures);
      return;
    }
    // Consul: "We cannot determine if node has the check, let's assume it exists".
    return Settle(now, id, r, /*service_registered=*/true, local, out);
  }
  const bool registered = std::any_of(node->services.begin(), node->services.end(),
                                      [&](const state::Service& s) { return s.id == r.alias.alias_service; });
  Settle(now, id, r, registered, local, out);
}

void RemoteAliases::Settle(Time now, const std::string& id, Read& r, bool service_registered, LocalState& local,
                           Effects* out) {
  CheckResult result = AliasResult(r.alias, "", r.checks, service_registered);
  r.checks.clear();
  r.phase = Phase::kIdle;
  r.due = std::max(now, r.issued_at + kRemoteAliasQueryIntervalMin);
  local.SetRemoteAliasResult(now, id, std::move(result), out);
}

void RemoteAliases::Failed(Time now, const std::string& id, Read& r, std::string_view error, LocalState& local,
                           Effects* out) {
  ++r.failures;
  r.fresh = false;
  r.phase = Phase::kIdle;
  r.due = std::max(now, r.issued_at + kRemoteAliasQueryIntervalMin);
  if (r.failures > kRemoteAliasBackoffAttemptsMin) {
    const int shift = std::min(r.failures - kRemoteAliasBackoffAttemptsMin, 30);
    r.due = now + std::min(kRemoteAliasBackoffMax, absl::Seconds(int64_t{1} << shift));
  }
  if (r.failures == 2) {
    log_.Warn(now, "alias check ", id, ": reading node ", r.alias.alias_node, "'s checks failed: ", Absl(error));
  }
  // Consul lets one failure pass (a server changing) before the alias turns critical.
  if (r.failures > 1) {
    local.SetRemoteAliasResult(now, id, CheckResult{state::HealthStatus::kCritical, absl::StrCat(Absl(kFailurePrefix), Absl(error))},
                               out);
  }
}

}  // namespace muster::agent
