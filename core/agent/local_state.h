// The services and checks registered on this agent (Consul's agent/local State and the
// agent's check runners): by ID, each with its anti-entropy mark (in step with the catalog or
// not) and, for checks, the definition and the status machine of check_state.h. A component
// in the calling convention of core/seam/README.md: it numbers its own storage writes and
// processes, and every entry point states its next wake-up in the batch.
//
// Storage keys (the prefix "local/" is this component's): "local/service/<id>" and
// "local/check/<id>", one JSON record each, read back at start, so a restart keeps what was
// registered; each change is one atomic StorageWrite, so a crash mid-write leaves the previous
// version. A registration is answered after its write is durable (the write id returned).
//
// Checks run on one timer queue: an interval check's next run, a TTL check's deadline; a run
// is a ProcessStart (kHttp, kTcp, kExec, kShell) whose ProcessExitedInput is its result. A
// check critical for its deregister_critical_service_after has its service removed by the
// reaper (Consul's reapServices, every reap_interval). Alias checks (Consul's AliasService)
// are never run: every entry point ends by recomputing them from the local checks and
// services, so a change of what they alias is a status change of theirs in the same batch.
// An alias of another node (AliasNode not this one) is not computed here: remote_alias.h
// reads that node's checks from the catalog and sets its status (SetRemoteAliasResult).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/status/statusor.h"
#include "core/agent/check_state.h"
#include "core/agent/local_json.h"
#include "core/base/log.h"
#include "core/base/rng.h"
#include "core/base/timer_queue.h"
#include "core/seam/effects.h"
#include "core/seam/input.h"
#include "core/seam/storage_view.h"
#include "core/state/types.h"

namespace muster::agent {

inline constexpr std::string_view kLocalServiceKeyPrefix = "local/service/";
inline constexpr std::string_view kLocalCheckKeyPrefix = "local/check/";
// Per agent (Consul sets none; ours keeps one agent's memory and timer queue bounded).
inline constexpr size_t kLocalServicesMax = 16384;
inline constexpr size_t kLocalChecksMax = 32768;
// How many times one change re-evaluates the alias checks (an alias of a service whose check
// is itself an alias needs one pass per link); a ring of aliases stops there.
inline constexpr size_t kAliasPassesMax = 8;
// Aliases of other nodes' services on one agent: each holds one blocking read at a server
// (Consul sets no bound; ours keeps one agent's reads in flight well under the machine's).
inline constexpr size_t kRemoteAliasesMax = 1024;
// Consul's defaults for maintenance notes.
inline constexpr std::string_view kNodeMaintenanceDefaultReason =
    "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.";
inline constexpr std::string_view kServiceMaintenanceDefaultReason =
    "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.";

struct LocalStateOptions {
  std::string node_name;
  bool enable_script_checks = false;
  // Consul's check_reap_interval and check_deregister_interval_min (dev mode: 3 s and 0).
  Duration reap_interval = absl::Seconds(30);
  Duration deregister_interval_min = absl::Minutes(1);
  // Services and checks from the configuration (Consul's `services` and `checks` blocks, one
  // JSON object each, in the API's shapes): added at every start and never persisted, so one
  // taken out of the configuration is gone after the next restart. One that does not parse or
  // validate is logged and skipped.
  std::vector<std::string> config_services;
  std::vector<std::string> config_checks;
};

struct LocalService {
  state::Service service;
  bool persisted = true;  // false: from the configuration
  bool in_sync = false;
  uint64_t revision = 0;  // bumped on each change, so a sync answered late marks only what it sent
};

struct LocalCheck {
  CheckDefinition def;
  CheckState state;
  bool persisted = true;  // false: from the configuration
  bool in_sync = false;
  uint64_t revision = 0;
  uint64_t timer = 0;    // the next run, or the TTL deadline
  uint64_t process = 0;  // this component's process id while a run is out, else 0
};

class LocalState {
 public:
  LocalState(LocalStateOptions options, const StorageView* storage, uint64_t seed, Time now, Logger log);

  // Registry changes. Each fills `out` with its StorageWrite and returns the write's id (the
  // answer waits for it to be durable); 0 when nothing changed. INVALID_ARGUMENT for a bad
  // definition, NOT_FOUND for an unknown service or check, RESOURCE_EXHAUSTED past the bounds.
  absl::StatusOr<uint64_t> AddService(Time now, ServiceRegistration reg, bool replace_existing_checks, Effects* out,
                                      bool persist = true);
  uint64_t RemoveService(Time now, std::string_view id, Effects* out);
  absl::StatusOr<uint64_t> AddCheck(Time now, CheckDefinition def, Effects* out, bool persist = true);
  uint64_t RemoveCheck(Time now, std::string_view id, Effects* out);
  // A TTL check's pass/warn/fail/update (output cut at 4 KiB; the thresholds apply). Its
  // write is not synced and not waited for: the id returned is 0.
  absl::StatusOr<uint64_t> UpdateTtl(Time now, std::string_view id, state::HealthStatus status, std::string output,
                                     Effects* out);
  // Maintenance: adds (enable) or removes Consul's _node_maintenance check.
  uint64_t SetNodeMaintenance(Time now, bool enable, std::string_view reason, Effects* out);
  absl::StatusOr<uint64_t> SetServiceMaintenance(Time now, std::string_view service_id, bool enable,
                                                 std::string_view reason, Effects* out);

  // Host input: a check run ended (this component's process id).
  void HandleProcessExit(Time now, const ProcessExitedInput& exit, Effects* out);
  // Runs what is due; states the next wake-up.
  void Tick(Time now, Effects* out);

  const absl::btree_map<std::string, LocalService>& services() const { return services_; }
  const absl::btree_map<std::string, LocalCheck>& checks() const { return checks_; }
  // A check as the catalog shows it (this node, the service's name and tags).
  state::Check CheckRecord(const LocalCheck& c) const;
  // The checks of a service, as CheckRecords.
  std::vector<state::Check> ServiceChecks(std::string_view service_id) const;

  // Anti-entropy's view: what was removed here but may still be in the catalog, and marks.
  const absl::btree_set<std::string>& deleted_services() const { return deleted_services_; }
  const absl::btree_set<std::string>& deleted_checks() const { return deleted_checks_; }
  void MarkServiceSynced(std::string_view id, uint64_t revision);
  void MarkCheckSynced(std::string_view id, uint64_t revision);
  void MarkServiceOutOfSync(std::string_view id);
  void MarkCheckOutOfSync(std::string_view id);
  void ForgetDeletedService(std::string_view id) { deleted_services_.erase(std::string(id)); }
  void ForgetDeletedCheck(std::string_view id) { deleted_checks_.erase(std::string(id)); }
  // The alias checks of another node (remote_alias.h follows them), and a count bumped when
  // one is added, replaced or removed.
  const absl::btree_set<std::string>& remote_alias_ids() const { return remote_alias_ids_; }
  uint64_t remote_aliases_revision() const { return remote_aliases_revision_; }
  // A remote alias's status from the catalog (no thresholds, as Consul's alias updates its
  // check directly); an unknown or other check is ignored. A status change syncs; an output
  // change waits for the full sync, as a local alias's.
  void SetRemoteAliasResult(Time now, std::string_view id, CheckResult result, Effects* out);
  // Counts the changes that call for a partial sync (a registration, a status change).
  uint64_t changes() const { return changes_; }
  size_t running() const { return processes_.size(); }

 private:
  uint64_t NewWrite(Effects* out, bool sync);
  // Takes back the last write of `out` (a change that is not persisted); returns 0.
  uint64_t DropWrite(Effects* out, uint64_t write_id);
  void PersistService(const LocalService& s, StorageWrite* w) const;
  void PersistCheck(const LocalCheck& c, StorageWrite* w) const;
  void Load(const StorageView* storage, Time now);
  void AddConfigured(Time now);
  // Starts a check's timer: its first run (staggered within the interval) or its TTL.
  void Schedule(Time now, LocalCheck& c, bool first);
  void Run(Time now, const std::string& id);
  void ExpireTtl(Time now, const std::string& id);
  void Reap(Time now);
  // Removes a check and what runs it; DropCheck also deletes its record and leaves a
  // tombstone for anti-entropy.
  void Detach(const std::string& id);
  void DropCheck(const std::string& id, StorageWrite* w);
  void WakeUp(Effects* out) const;
  // The end of every entry point: local alias checks follow what changed, then the wake-up.
  // Alias statuses are not persisted (they are recomputed at start).
  void Settle(Time now, Effects* out);
  void RefreshAliases(Time now);
  bool IsRemoteAlias(const CheckDefinition& def) const;
  // Files a kAlias check under alias_ids_ or remote_alias_ids_.
  void TrackAlias(const std::string& id);
  // RESOURCE_EXHAUSTED when `defs` would take the remote aliases past kRemoteAliasesMax.
  absl::Status CheckRemoteAliasBound(const std::vector<const CheckDefinition*>& defs) const;
  void Changed(LocalCheck& c);
  void Changed(LocalService& s);
  // Persists a status change (not synced: a lost status is re-run after a crash).
  void PersistStatus(Time now, const LocalCheck& c);
  absl::Status CheckBounds(size_t services_added, size_t checks_added) const;

  LocalStateOptions opt_;
  Logger log_;
  Rng rng_;
  TimerQueue timers_;
  Effects* out_ = nullptr;  // the batch of the entry point running (timers' callbacks write to it)
  Time timers_now_;         // the time of the Tick running the timers
  uint64_t next_write_id_ = 1;
  uint64_t next_process_id_ = 1;
  uint64_t reap_timer_ = 0;
  uint64_t changes_ = 0;
  absl::btree_map<std::string, LocalService> services_;
  absl::btree_map<std::string, LocalCheck> checks_;
  absl::btree_map<uint64_t, std::string> processes_;  // own process id -> check id
  absl::btree_set<std::string> deleted_services_;
  absl::btree_set<std::string> deleted_checks_;
  absl::btree_set<std::string> alias_ids_;         // the kAlias checks among checks_ of this node
  absl::btree_set<std::string> remote_alias_ids_;  // those of another node
  uint64_t remote_aliases_revision_ = 0;
};

}  // namespace muster::agent
