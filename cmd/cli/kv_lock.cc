// Consul's client-side lock and semaphore over the KV store (see kv_lock.h).
#include "cmd/cli/kv_lock.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cmd/cli/go_json.h"
#include "cmd/cli/json_fields.h"
#include "core/base/go_duration.h"
#include "core/base/strings.h"

namespace muster::cli {
namespace {

absl::Status NotAcquired() { return absl::Status(KvLock::kNotAcquired, "not acquired"); }

// Go's durToMsec, as the client writes ?wait=: whole milliseconds, at least 1.
std::string WaitParam(absl::Duration wait) {
  return absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(wait)), "ms");
}

// Consul's IsRetryableError: a failed connection, or a 500 from the agent.
bool Retryable(const absl::Status& status) {
  return status.code() != absl::StatusCode::kUnknown ||
         absl::StrContains(status.message(), "Unexpected response code: 500");
}

absl::Status Prefixed(std::string_view what, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(Absl(what), status.message()));
}

}  // namespace

KvLock::KvLock(ApiClient& client, Environment& env, Options options)
    : client_(client), env_(env), options_(std::move(options)) {}

// Go's path.Join(prefix, ".lock"): an empty prefix is the root's ".lock".
std::string KvLock::LockKey() const {
  return options_.prefix.empty() ? ".lock" : absl::StrCat(options_.prefix, "/.lock");
}

const KvPair* KvLock::Find(const std::vector<KvPair>& pairs, const std::string& key) {
  for (const KvPair& pair : pairs) {
    if (pair.key == key) return &pair;
  }
  return nullptr;
}

absl::StatusOr<KvLock::Read> KvLock::Get(const std::string& key, bool recurse, uint64_t wait_index, absl::Duration wait,
                                         bool consistent) {
  QueryParams params;
  if (recurse) params.emplace_back("recurse", "");
  if (wait_index != 0) {
    params.emplace_back("index", absl::StrCat(wait_index));
    params.emplace_back("wait", WaitParam(wait));
  }
  if (consistent) params.emplace_back("consistent", "");
  absl::StatusOr<HttpResponse> response = client_.DoOk("GET", absl::StrCat("/v1/kv/", key), params, "", 404);
  if (!response.ok()) return response.status();
  absl::StatusOr<uint64_t> index = ConsulIndex(*response);
  if (!index.ok()) return index.status();
  Read read;
  read.index = *index;
  if (response->status == 200) {
    absl::StatusOr<std::vector<KvPair>> pairs = ParseKvPairs(response->body);
    if (!pairs.ok()) return pairs.status();
    read.pairs = std::move(*pairs);
  }
  return read;
}

absl::Status KvLock::CreateSession() {
  std::string body = absl::StrCat("{\"Name\":", GoJsonString(options_.session_name));
  if (options_.limit > 1) absl::StrAppend(&body, ",\"Behavior\":\"delete\"");  // a dead holder's contender key goes
  absl::StrAppend(&body, ",\"TTL\":\"", Absl(kLockSessionTtl), "\"}");
  absl::StatusOr<HttpResponse> response = client_.DoOk("PUT", "/v1/session/create", {}, body);
  if (!response.ok()) return response.status();
  std::optional<Json> json = ParseJson(response->body);
  const std::string id = json ? StringField(*json, "ID") : "";
  if (id.empty()) return absl::DataLossError("the agent's answer to /v1/session/create has no ID");
  session_ = id;
  renewing_ = true;
  ttl_ = *ParseGoDuration(kLockSessionTtl);
  renew_due_ = env_.now() + ttl_ / 2;
  return absl::OkStatus();
}

void KvLock::DestroySession() {
  renewing_ = false;
  if (session_.empty()) return;
  // As the Go client, a failed destroy is not reported: the TTL ends the session anyway.
  (void)client_.DoOk("PUT", absl::StrCat("/v1/session/destroy/", session_), {});
  session_.clear();
}

void KvLock::RenewIfDue() {
  if (!renewing_ || env_.now() < renew_due_) return;
  absl::StatusOr<HttpResponse> response = client_.Do("PUT", absl::StrCat("/v1/session/renew/", session_), {});
  std::optional<Json> json;
  if (response.ok() && response->status == 200) json = ParseJson(response->body);
  // The Go client stops renewing on any failure, and on a 404 (the session is gone): the lock
  // is then lost when the TTL runs out, which the monitor sees.
  if (!json || !json->is_array() || json->empty()) {
    renewing_ = false;
    return;
  }
  if (absl::StatusOr<absl::Duration> ttl = ParseGoDuration(StringField((*json)[0], "TTL"));
      ttl.ok() && *ttl > absl::ZeroDuration()) {
    ttl_ = *ttl;  // the agent may raise it
  }
  renew_due_ = env_.now() + ttl_ / 2;
}

absl::Duration KvLock::WaitNow(absl::Time start) const {
  const absl::Time now = env_.now();
  absl::Duration wait = kLockWaitMax;
  if (renewing_) wait = std::min(wait, renew_due_ - now);
  if (options_.wait_max > absl::ZeroDuration()) wait = std::min(wait, start + options_.wait_max - now);
  return std::max(wait, absl::ZeroDuration());
}

absl::Status KvLock::Acquire() {
  const absl::Time start = env_.now();
  if (absl::Status s = CreateSession(); !s.ok()) return Prefixed("failed to create session: ", s);
  absl::Status status = options_.limit == 1 ? AcquireLock(start) : AcquireSemaphore(start);
  if (!status.ok()) {
    DestroySession();
    return status;
  }
  held_ = true;
  lost_ = false;
  retries_left_ = options_.monitor_retries;
  next_check_ = env_.now() + kMonitorInterval;
  return absl::OkStatus();
}

absl::Status KvLock::AcquireLock(absl::Time start) {
  const std::string key = LockKey();
  uint64_t wait_index = 0;
  for (bool first = true;; first = false) {
    if (Interrupted()) return NotAcquired();
    // -timeout: one try, then only as long as it allows (Consul's LockTryOnce).
    if (!first && options_.wait_max > absl::ZeroDuration() && env_.now() - start >= options_.wait_max) {
      return NotAcquired();
    }
    RenewIfDue();
    absl::StatusOr<Read> read = Get(key, false, wait_index, WaitNow(start), false);
    if (!read.ok() && Interrupted()) return NotAcquired();  // the read was cut short by it
    if (!read.ok()) return Prefixed("failed to read lock: ", read.status());
    const KvPair* pair = Find(read->pairs, key);
    if (pair != nullptr && pair->flags != kLockFlagValue) {
      return absl::AbortedError("Existing key does not match lock use");
    }
    if (pair != nullptr && pair->session == session_) return absl::OkStatus();
    if (pair != nullptr && !pair->session.empty()) {
      wait_index = read->index;  // held by another: wait for a change
      continue;
    }
    absl::StatusOr<HttpResponse> acquired = client_.DoOk(
        "PUT", absl::StrCat("/v1/kv/", key), {{"acquire", session_}, {"flags", absl::StrCat(kLockFlagValue)}}, "");
    if (!acquired.ok()) return Prefixed("failed to acquire lock: ", acquired.status());
    if (IsJsonTrue(acquired->body)) return absl::OkStatus();
    // Refused: taken in between (wait for it), or in its lock-delay with nobody holding it
    // (no change will come to wake a blocking read: retry after a pause).
    absl::StatusOr<Read> again = Get(key, false, 0, absl::ZeroDuration(), false);
    if (!again.ok()) return Prefixed("failed to read lock: ", again.status());
    const KvPair* now_pair = Find(again->pairs, key);
    if (now_pair != nullptr && !now_pair->session.empty()) {
      wait_index = again->index;
      continue;
    }
    env_.sleep(kLockRetryDelay);
    wait_index = 0;
  }
}

absl::StatusOr<KvLock::SemaphoreState> KvLock::DecodeSemaphore(const KvPair* lock_pair) const {
  SemaphoreState state;
  if (lock_pair == nullptr || lock_pair->value.empty()) {
    state.limit = options_.limit;
    return state;
  }
  std::optional<Json> json = ParseJson(lock_pair->value);
  if (!json || !json->is_object()) return absl::DataLossError("lock decoding failed: the value is not a JSON object");
  state.limit = UintField(*json, "Limit");
  if (json->contains("Holders") && (*json)["Holders"].is_object()) {
    for (const auto& [holder, present] : (*json)["Holders"].items()) {
      if (present.is_boolean() && present.get<bool>()) state.holders.push_back(holder);
    }
  }
  std::sort(state.holders.begin(), state.holders.end());
  return state;
}

void KvLock::PruneDeadHolders(SemaphoreState& state, const std::vector<KvPair>& pairs) {
  std::vector<std::string> alive;
  for (const std::string& holder : state.holders) {
    const bool has_key = std::any_of(pairs.begin(), pairs.end(), [&](const KvPair& p) { return p.session == holder; });
    if (has_key) alive.push_back(holder);
  }
  state.holders = std::move(alive);
}

std::string KvLock::EncodeSemaphore(const SemaphoreState& state) const {
  // Go's json.Marshal of {Limit int; Holders map[string]bool}: fields in order, keys sorted.
  std::vector<std::string> holders;
  for (const std::string& holder : state.holders) holders.push_back(absl::StrCat(GoJsonString(holder), ":true"));
  return absl::StrCat("{\"Limit\":", state.limit, ",\"Holders\":{", absl::StrJoin(holders, ","), "}}");
}

absl::Status KvLock::AcquireSemaphore(absl::Time start) {
  const std::string contender = absl::StrCat(options_.prefix, "/", session_);
  absl::StatusOr<HttpResponse> made =
      client_.DoOk("PUT", absl::StrCat("/v1/kv/", contender),
                   {{"acquire", session_}, {"flags", absl::StrCat(kSemaphoreFlagValue)}}, "");
  if (!made.ok()) return Prefixed("failed to make contender entry: ", made.status());
  if (!IsJsonTrue(made->body)) return absl::AbortedError("failed to make contender entry: <nil>");
  uint64_t wait_index = 0;
  for (bool first = true;; first = false) {
    if (Interrupted()) return NotAcquired();
    if (!first && options_.wait_max > absl::ZeroDuration() && env_.now() - start >= options_.wait_max) {
      return NotAcquired();
    }
    RenewIfDue();
    absl::StatusOr<Read> read = Get(options_.prefix, true, wait_index, WaitNow(start), false);
    if (!read.ok() && Interrupted()) return NotAcquired();
    if (!read.ok()) return Prefixed("failed to read prefix: ", read.status());
    const KvPair* lock_pair = Find(read->pairs, LockKey());
    if ((lock_pair != nullptr ? lock_pair->flags : kSemaphoreFlagValue) != kSemaphoreFlagValue) {
      return absl::AbortedError("Existing key does not match semaphore use");
    }
    absl::StatusOr<SemaphoreState> state = DecodeSemaphore(lock_pair);
    if (!state.ok()) return state.status();
    if (state->limit != options_.limit) {
      return absl::AbortedError(
          absl::StrCat("semaphore limit conflict (lock: ", state->limit, ", local: ", options_.limit, ")"));
    }
    PruneDeadHolders(*state, read->pairs);
    if (state->holders.size() >= state->limit) {
      wait_index = read->index;  // full: wait for a change
      continue;
    }
    state->holders.push_back(session_);
    std::sort(state->holders.begin(), state->holders.end());
    const uint64_t cas = lock_pair != nullptr ? lock_pair->modify_index : 0;
    absl::StatusOr<HttpResponse> set = client_.DoOk(
        "PUT", absl::StrCat("/v1/kv/", LockKey()),
        {{"cas", absl::StrCat(cas)}, {"flags", absl::StrCat(kSemaphoreFlagValue)}}, EncodeSemaphore(*state));
    if (!set.ok()) return Prefixed("failed to update lock: ", set.status());
    if (IsJsonTrue(set->body)) return absl::OkStatus();
    // Another contender updated it in between: read again.
  }
}

bool KvLock::StillHeld() {
  if (!held_ || lost_) return false;
  RenewIfDue();
  if (env_.now() < next_check_) return true;
  const bool semaphore = options_.limit > 1;
  absl::StatusOr<Read> read = semaphore ? Get(options_.prefix, true, 0, absl::ZeroDuration(), true)
                                        : Get(LockKey(), false, 0, absl::ZeroDuration(), true);
  if (!read.ok() && Interrupted()) return true;  // the caller stops for the interrupt itself
  if (!read.ok()) {
    // Ride out a brief unavailability, as Consul's -monitor-retry: the lock counts as held.
    if (retries_left_ > 0 && Retryable(read.status())) {
      --retries_left_;
      next_check_ = env_.now() + kMonitorRetryTime;
      return true;
    }
    lost_ = true;
    return false;
  }
  retries_left_ = options_.monitor_retries;
  next_check_ = env_.now() + kMonitorInterval;
  bool ours = false;
  if (!semaphore) {
    const KvPair* pair = Find(read->pairs, LockKey());
    ours = pair != nullptr && pair->session == session_;
  } else {
    absl::StatusOr<SemaphoreState> state = DecodeSemaphore(Find(read->pairs, LockKey()));
    if (state.ok()) {
      PruneDeadHolders(*state, read->pairs);
      ours = std::find(state->holders.begin(), state->holders.end(), session_) != state->holders.end();
    }
  }
  if (!ours) lost_ = true;
  return ours;
}

absl::Status KvLock::Release() {
  if (!held_) return absl::AbortedError(options_.limit > 1 ? "Semaphore not held" : "Lock not held");
  held_ = false;
  absl::Status status = absl::OkStatus();
  if (options_.limit == 1) {
    absl::StatusOr<HttpResponse> released =
        client_.DoOk("PUT", absl::StrCat("/v1/kv/", LockKey()),
                     {{"flags", absl::StrCat(kLockFlagValue)}, {"release", session_}}, "");
    if (!released.ok()) status = Prefixed("failed to release lock: ", released.status());
  } else {
    // Out of the holders (check-and-set, again until it takes), then the contender key.
    for (;;) {
      absl::StatusOr<Read> read = Get(LockKey(), false, 0, absl::ZeroDuration(), false);
      if (!read.ok()) {
        status = read.status();
        break;
      }
      const KvPair* lock_pair = Find(read->pairs, LockKey());
      absl::StatusOr<SemaphoreState> state = DecodeSemaphore(lock_pair);
      if (!state.ok()) {
        status = state.status();
        break;
      }
      auto it = std::find(state->holders.begin(), state->holders.end(), session_);
      if (it == state->holders.end()) break;
      state->holders.erase(it);
      const uint64_t cas = lock_pair != nullptr ? lock_pair->modify_index : 0;
      absl::StatusOr<HttpResponse> set = client_.DoOk(
          "PUT", absl::StrCat("/v1/kv/", LockKey()),
          {{"cas", absl::StrCat(cas)}, {"flags", absl::StrCat(kSemaphoreFlagValue)}}, EncodeSemaphore(*state));
      if (!set.ok()) {
        status = Prefixed("failed to update lock: ", set.status());
        break;
      }
      if (IsJsonTrue(set->body)) break;
    }
    if (status.ok()) {
      absl::StatusOr<HttpResponse> deleted =
          client_.DoOk("DELETE", absl::StrCat("/v1/kv/", options_.prefix, "/", session_), {});
      if (!deleted.ok()) status = deleted.status();
    }
  }
  DestroySession();
  return status;
}

absl::Status KvLock::Cleanup() {
  if (held_) return absl::AbortedError(options_.limit > 1 ? "Semaphore already held" : "Lock already held");
  const bool semaphore = options_.limit > 1;
  absl::StatusOr<Read> read = semaphore ? Get(options_.prefix, true, 0, absl::ZeroDuration(), false)
                                        : Get(LockKey(), false, 0, absl::ZeroDuration(), false);
  if (!read.ok()) return Prefixed(semaphore ? "failed to read prefix: " : "failed to read lock: ", read.status());
  const KvPair* lock_pair = Find(read->pairs, LockKey());
  if (lock_pair == nullptr) return absl::OkStatus();
  if (!semaphore) {
    if (lock_pair->flags != kLockFlagValue) return absl::AbortedError("Existing key does not match lock use");
    if (!lock_pair->session.empty()) return absl::Status(kInUse, "Lock in use");
  } else {
    if (lock_pair->flags != kSemaphoreFlagValue) {
      return absl::AbortedError("Existing key does not match semaphore use");
    }
    absl::StatusOr<SemaphoreState> state = DecodeSemaphore(lock_pair);
    if (!state.ok()) return state.status();
    PruneDeadHolders(*state, read->pairs);
    if (!state->holders.empty()) return absl::Status(kInUse, "Semaphore in use");
  }
  absl::StatusOr<HttpResponse> deleted =
      client_.DoOk("DELETE", absl::StrCat("/v1/kv/", LockKey()), {{"cas", absl::StrCat(lock_pair->modify_index)}});
  if (!deleted.ok())
    return Prefixed(semaphore ? "failed to remove semaphore: " : "failed to remove lock: ", deleted.status());
  if (!IsJsonTrue(deleted->body)) return absl::Status(kInUse, semaphore ? "Semaphore in use" : "Lock in use");
  return absl::OkStatus();
}

}  // namespace muster::cli
