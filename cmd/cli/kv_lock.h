// The KV lock and semaphore `muster lock` holds, as Consul's Go client builds them
// (api/lock.go, api/semaphore.go), so a muster lock and a `consul lock` on the same agent
// exclude each other:
//   - lock (limit 1): the key PREFIX/.lock acquired with the session, flags 0x2ddccbc058a50c18;
//   - semaphore (limit > 1): a contender key PREFIX/<session> acquired with the session, and
//     PREFIX/.lock holding {"Limit":N,"Holders":{"<session>":true,...}} (flags
//     0xe0f69a2baa414de0), updated by check-and-set; holders whose session is gone are pruned.
// The session has a 15s TTL, renewed at TTL/2 (the TTL the agent answers with, afterwards).
//
// One thread drives it, where the Go client runs goroutines: Acquire blocks (blocking GETs,
// their wait cut short when a renewal falls due), and the caller then calls StillHeld often;
// it renews when due and reads the lock every kMonitorInterval, without blocking, so the
// caller's loop also sees its child end at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/environment.h"
#include "cmd/cli/kv_pair.h"

namespace muster::cli {

inline constexpr uint64_t kLockFlagValue = 0x2ddccbc058a50c18;
inline constexpr uint64_t kSemaphoreFlagValue = 0xe0f69a2baa414de0;
inline constexpr std::string_view kLockSessionTtl = "15s";
// Consul's DefaultLockWaitTime: the longest a blocking read of the lock is held.
inline constexpr absl::Duration kLockWaitMax = absl::Seconds(15);
// Consul's DefaultLockRetryTime: after an acquire refused with no holder (a lock-delay).
inline constexpr absl::Duration kLockRetryDelay = absl::Seconds(5);
// How often a held lock is read back. Consul watches it with a blocking read; one thread
// polls instead, so a lost lock is seen within this.
inline constexpr absl::Duration kMonitorInterval = absl::Seconds(1);
// Consul's defaultMonitorRetryTime: the pause after a failed read, before the next try.
inline constexpr absl::Duration kMonitorRetryTime = absl::Seconds(1);

class KvLock {
 public:
  struct Options {
    std::string prefix;  // without leading or trailing '/'
    uint64_t limit = 1;  // 1: a lock; more: a semaphore
    std::string session_name;
    absl::Duration wait_max = absl::ZeroDuration();  // zero: wait forever (-timeout)
    uint64_t monitor_retries = 3;                    // failed reads tolerated while held
  };
  // Acquire's answer when interrupted or out of time: not an error, the lock is not held.
  static constexpr absl::StatusCode kNotAcquired = absl::StatusCode::kDeadlineExceeded;
  // Cleanup's answer when others still use the lock.
  static constexpr absl::StatusCode kInUse = absl::StatusCode::kFailedPrecondition;

  KvLock(ApiClient& client, Environment& env, Options options);

  // The lock's key (PREFIX/.lock), for messages.
  std::string LockKey() const;
  // Creates the session and blocks until the lock is held (OK), the wait runs out or an
  // interrupt comes (kNotAcquired), or something fails (an error, as Consul words it). The
  // session is destroyed unless the lock is held.
  absl::Status Acquire();
  // While held: renews the session when due and, every kMonitorInterval, reads whether the
  // lock is still this session's. False once it is lost.
  bool StillHeld();
  // Gives the lock back and destroys the session.
  absl::Status Release();
  // Deletes the lock's key if nobody holds it (Consul's Destroy); kInUse when someone does.
  absl::Status Cleanup();

 private:
  struct Read {
    uint64_t index = 0;
    std::vector<KvPair> pairs;
  };
  struct SemaphoreState {
    uint64_t limit = 0;
    std::vector<std::string> holders;  // sorted
  };

  absl::StatusOr<Read> Get(const std::string& key, bool recurse, uint64_t wait_index, absl::Duration wait,
                           bool consistent);
  absl::Status CreateSession();
  void DestroySession();
  void RenewIfDue();
  // How long a blocking read may wait now: up to kLockWaitMax, the next renewal, and the end
  // of -timeout. Zero when the time is up.
  absl::Duration WaitNow(absl::Time start) const;
  bool Interrupted() const { return env_.interrupted && env_.interrupted(); }

  absl::Status AcquireLock(absl::Time start);
  absl::Status AcquireSemaphore(absl::Time start);
  absl::StatusOr<SemaphoreState> DecodeSemaphore(const KvPair* lock_pair) const;
  static void PruneDeadHolders(SemaphoreState& state, const std::vector<KvPair>& pairs);
  std::string EncodeSemaphore(const SemaphoreState& state) const;
  static const KvPair* Find(const std::vector<KvPair>& pairs, const std::string& key);

  ApiClient& client_;
  Environment& env_;
  Options options_;
  std::string session_;
  bool held_ = false;
  bool lost_ = false;
  bool renewing_ = false;
  absl::Duration ttl_;
  absl::Time renew_due_;
  absl::Time next_check_;
  uint64_t retries_left_ = 0;
};

}  // namespace muster::cli
