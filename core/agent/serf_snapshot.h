// Serf's snapshot (Consul's data_dir/serf/local.snapshot and remote.snapshot), kept by the
// agent for each of its pools: the members it knew (alive, and failed: the ones Serf's
// reconnect would have tried), the pool's three Lamport clocks, and a mark after a graceful
// leave. At start the clocks are restored (so user events and queries handled before the
// restart are not handled again) and the previous members are re-joined, unless the last life
// left gracefully and rejoin_after_leave is off, as Serf's snapshotter.
//
// Storage key: "serf/lan" or "serf/wan" (this component's prefix "serf/"), one record in
// Serf's line format, always compacted ("alive: NAME ADDR", "failed: NAME ADDR", "clock: N",
// "event-clock: N", "query-clock: N", "leave"), replaced by one atomic synced StorageWrite, at
// most one a kSnapshotWritePeriod, coalesced. A record that does not read (garbage, a torn or
// foreign file) is read as far as it goes, every bad line skipped with a warning: never a
// crash, at worst nobody to rejoin.
//
// Beyond Serf (found by tests/agent_sim:local_sync_test's ClientsConverge): Serf re-joins
// once, through the first previous member that answers, and a member failed at the time is
// forgotten. An agent restarted while partitioned from part of the pool then knows only the
// members on its side; after the heal only Serf's reconnect (every 30 s, with probability
// failed / alive, one random failed member) can merge the two sides, and only from members
// that still list the others. Here failed members are kept, and every previous member that is
// not alive in the pool (unknown, or failed) is tried again every kSnapshotRejoinInterval
// through up to kSnapshotRejoinSeedsMax of them at random, until each is alive or left, for at
// most kSnapshotRejoinWindow after the start.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/base/log.h"
#include "core/base/rng.h"
#include "core/gossip/serf.h"
#include "core/seam/effects.h"
#include "core/seam/storage_view.h"

namespace muster::agent {

inline constexpr std::string_view kSerfSnapshotLanKey = "serf/lan";
inline constexpr std::string_view kSerfSnapshotWanKey = "serf/wan";
// Members a record keeps (alive first, then failed, then previous ones not yet seen again, by
// name within each); past it the rest are left out with a warning.
inline constexpr size_t kSnapshotMembersMax = 4096;
// A record read back is read up to here (its last whole line); what follows is cut with a
// warning. Each member line is at most 8 + 128 + 1 + 260 + 1 bytes.
inline constexpr size_t kSnapshotBytesMax = 2 * 1024 * 1024;
// Bad lines named in the warnings of one read (the rest only counted).
inline constexpr size_t kSnapshotWarningsMax = 8;
inline constexpr Duration kSnapshotWritePeriod = absl::Seconds(1);
inline constexpr Duration kSnapshotRejoinInterval = absl::Seconds(10);
inline constexpr Duration kSnapshotRejoinWindow = absl::Minutes(30);
inline constexpr size_t kSnapshotRejoinSeedsMax = 3;

struct SnapshotMember {
  std::string name;
  std::string address;
  bool failed = false;  // failed when written (alive otherwise)
  bool operator==(const SnapshotMember&) const = default;
};

struct SerfSnapshotRecord {
  std::vector<SnapshotMember> members;  // each name once; the encoder keeps the first kSnapshotMembersMax
  uint64_t clock = 0;
  uint64_t event_clock = 0;
  uint64_t query_clock = 0;
  bool left = false;  // written by a graceful leave
  bool operator==(const SerfSnapshotRecord&) const = default;
};

// The record's text. Members whose name or address would not read back (empty, over the
// gossip limits, or holding a line break; an address holding a space) are left out, and so
// are those past kSnapshotMembersMax.
std::string EncodeSerfSnapshot(const SerfSnapshotRecord& record);

struct DecodedSerfSnapshot {
  SerfSnapshotRecord record;
  size_t bad_lines = 0;               // skipped
  std::vector<std::string> warnings;  // at most kSnapshotWarningsMax + 1 (the count of the rest)
};
// Reads a record: unknown and malformed lines skipped with a warning, a member named twice
// kept once (the last line), members past kSnapshotMembersMax and text past
// kSnapshotBytesMax cut with a warning.
DecodedSerfSnapshot DecodeSerfSnapshot(std::string_view text);

class SerfSnapshot {
 public:
  // `key`: kSerfSnapshotLanKey or kSerfSnapshotWanKey. Reads the previous life's record.
  SerfSnapshot(std::string key, const StorageView* storage, bool rejoin_after_leave, uint64_t seed, Time now,
               Logger log);

  // Before the pool starts: its clocks moved past the previous life's (none after a graceful
  // leave without rejoin_after_leave: the pool starts fresh, as Serf's replay of "leave").
  void RestoreClocks(gossip::Serf& pool) const;
  // The previous life's members this life re-joins.
  const std::vector<SnapshotMember>& previous() const { return previous_; }

  // At start: the first seeds to join through (at most kSnapshotRejoinSeedsMax, at random,
  // never `self`); empty when there is nobody to rejoin.
  std::vector<Address> StartRejoin(Time now, const gossip::Serf& pool, const Address& self);
  // After each step of the pool (`members_changed`: it had member events): the record written
  // when it changed, at most once a kSnapshotWritePeriod; returns the seeds of a re-join
  // attempt when one is due (a memberlist join: no new intent). States its next wake-up.
  std::vector<Address> Tick(Time now, const gossip::Serf& pool, bool members_changed, Effects* out);
  // A graceful leave: the record with its leave mark, at once and synced; nothing after it.
  void Leave(Time now, const gossip::Serf& pool, Effects* out);

  bool rejoining() const { return rejoin_until_.has_value(); }
  uint64_t writes() const { return next_write_id_ - 1; }

 private:
  SerfSnapshotRecord Current(const gossip::Serf& pool) const;
  void Write(Time now, const gossip::Serf& pool, bool left, Effects* out);
  // Previous members not alive nor left in the pool.
  std::vector<const SnapshotMember*> Missing(const gossip::Serf& pool) const;
  std::vector<Address> Pick(std::vector<const SnapshotMember*> from, const gossip::Serf& pool);

  std::string key_;
  bool rejoin_after_leave_;
  Logger log_;
  Rng rng_;
  std::vector<SnapshotMember> previous_;
  bool restored_ = false;  // a previous life's record was taken
  uint64_t restored_clock_ = 0, restored_event_clock_ = 0, restored_query_clock_ = 0;
  std::optional<Time> rejoin_until_;  // set while previous members are being re-joined
  Time next_rejoin_;
  std::optional<Time> last_write_;
  bool dirty_ = false;
  bool left_ = false;
  bool warned_members_cut_ = false;
  uint64_t written_clocks_[3] = {0, 0, 0};
  uint64_t next_write_id_ = 1;
};

}  // namespace muster::agent
