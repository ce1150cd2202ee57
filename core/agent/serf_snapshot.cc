#include "core/agent/serf_snapshot.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/strings.h"
#include "core/gossip/limits.h"

namespace muster::agent {
namespace {

constexpr std::string_view kAlivePrefix = "alive: ";
constexpr std::string_view kFailedPrefix = "failed: ";
constexpr std::string_view kClockPrefix = "clock: ";
constexpr std::string_view kEventClockPrefix = "event-clock: ";
constexpr std::string_view kQueryClockPrefix = "query-clock: ";
constexpr std::string_view kLeaveLine = "leave";

bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool NameReadsBack(std::string_view name) {
  return !name.empty() && name.size() <= gossip::kNodeNameBytesMax && !HasControl(name);
}

bool AddressReadsBack(std::string_view address) {
  return !address.empty() && address.size() <= gossip::kAddressBytesMax && !HasControl(address) &&
         address.find(' ') == std::string_view::npos;
}

// What a line shows in a warning: bounded and printable.
std::string Shown(std::string_view line) {
  constexpr size_t kShownBytesMax = 80;
  std::string out;
  for (char c : line.substr(0, kShownBytesMax)) {
    out.push_back(static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f ? '?' : c);
  }
  if (line.size() > kShownBytesMax) out += "...";
  return out;
}

std::vector<Address> AddressesOf(const std::vector<const SnapshotMember*>& members, const gossip::Serf& pool) {
  std::vector<Address> out;
  for (const SnapshotMember* m : members) {
    const gossip::Member* known = pool.member(m->name);
    out.push_back(known != nullptr && !known->addr.empty() ? known->addr : m->address);
  }
  return out;
}

}  // namespace

std::string EncodeSerfSnapshot(const SerfSnapshotRecord& record) {
  std::string out = "# muster serf snapshot\n";
  size_t kept = 0;
  for (const SnapshotMember& m : record.members) {
    if (kept >= kSnapshotMembersMax) break;
    if (!NameReadsBack(m.name) || !AddressReadsBack(m.address)) continue;
    absl::StrAppend(&out, Absl(m.failed ? kFailedPrefix : kAlivePrefix), m.name, " ", m.address, "\n");
    ++kept;
  }
  absl::StrAppend(&out, Absl(kClockPrefix), record.clock, "\n");
  absl::StrAppend(&out, Absl(kEventClockPrefix), record.event_clock, "\n");
  absl::StrAppend(&out, Absl(kQueryClockPrefix), record.query_clock, "\n");
  if (record.left) absl::StrAppend(&out, Absl(kLeaveLine), "\n");
  return out;
}

DecodedSerfSnapshot DecodeSerfSnapshot(std::string_view text) {
  DecodedSerfSnapshot d;
  auto bad = [&](std::string what) {
    if (d.warnings.size() < kSnapshotWarningsMax) d.warnings.push_back(std::move(what));
    ++d.bad_lines;
  };
  if (text.size() > kSnapshotBytesMax) {
    const size_t last_newline = text.substr(0, kSnapshotBytesMax).rfind('\n');
    text = text.substr(0, last_newline == std::string_view::npos ? 0 : last_newline + 1);
    bad(absl::StrCat("snapshot cut at ", text.size(), " bytes (at most ", kSnapshotBytesMax, " are read)"));
  }
  absl::btree_map<std::string, size_t> index;  // name -> position in d.record.members
  bool members_cut = false;
  auto clock = [&](std::string_view line, std::string_view prefix, uint64_t* to) {
    uint64_t v = 0;
    if (!absl::SimpleAtoi(Absl(line.substr(prefix.size())), &v)) {
      bad(absl::StrCat("bad clock line: ", Shown(line)));
      return;
    }
    *to = v;
  };
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) {
      // A line without its newline is a torn write's (Serf's replay stops there too).
      bad(absl::StrCat("unterminated last line: ", Shown(text.substr(begin))));
      break;
    }
    std::string_view line = text.substr(begin, end - begin);
    begin = end + 1;
    if (line.empty() || line.front() == '#') continue;
    const bool alive = absl::StartsWith(Absl(line), Absl(kAlivePrefix));
    if (alive || absl::StartsWith(Absl(line), Absl(kFailedPrefix))) {
      std::string_view info = line.substr((alive ? kAlivePrefix : kFailedPrefix).size());
      const size_t space = info.rfind(' ');
      if (space == std::string_view::npos || !NameReadsBack(info.substr(0, space)) ||
          !AddressReadsBack(info.substr(space + 1))) {
        bad(absl::StrCat("bad member line: ", Shown(line)));
        continue;
      }
      SnapshotMember m{std::string(info.substr(0, space)), std::string(info.substr(space + 1)), !alive};
      auto it = index.find(m.name);
      if (it != index.end()) {
        d.record.members[it->second] = std::move(m);
      } else if (d.record.members.size() >= kSnapshotMembersMax) {
        members_cut = true;
      } else {
        index[m.name] = d.record.members.size();
        d.record.members.push_back(std::move(m));
      }
    } else if (absl::StartsWith(Absl(line), Absl(kClockPrefix))) {
      clock(line, kClockPrefix, &d.record.clock);
    } else if (absl::StartsWith(Absl(line), Absl(kEventClockPrefix))) {
      clock(line, kEventClockPrefix, &d.record.event_clock);
    } else if (absl::StartsWith(Absl(line), Absl(kQueryClockPrefix))) {
      clock(line, kQueryClockPrefix, &d.record.query_clock);
    } else if (line == kLeaveLine) {
      d.record.left = true;
    } else {
      bad(absl::StrCat("unrecognized snapshot line: ", Shown(line)));
    }
  }
  if (members_cut) bad(absl::StrCat("members past the first ", kSnapshotMembersMax, " cut"));
  if (d.bad_lines > d.warnings.size()) {
    d.warnings.push_back(absl::StrCat(d.bad_lines - d.warnings.size(), " more bad lines"));
  }
  return d;
}

SerfSnapshot::SerfSnapshot(std::string key, const StorageView* storage, bool rejoin_after_leave, uint64_t seed,
                           Time now, Logger log)
    : key_(std::move(key)), rejoin_after_leave_(rejoin_after_leave), log_(std::move(log)), rng_(seed) {
  if (storage == nullptr) return;
  std::optional<std::string> text = storage->Get(key_);
  if (!text.has_value()) return;
  DecodedSerfSnapshot d = DecodeSerfSnapshot(*text);
  for (const std::string& w : d.warnings) log_.Warn(now, "serf: snapshot ", key_, ": ", w);
  if (d.record.left && !rejoin_after_leave_) {
    // As Serf's replay of "leave": the previous life left for good; this one starts fresh.
    log_.Info(now, "serf: the snapshot ends with a leave: not re-joining its ", d.record.members.size(),
               " members (rejoin_after_leave is off)");
    return;
  }
  if (d.record.left) log_.Info(now, "serf: Ignoring previous leave in snapshot");
  previous_ = std::move(d.record.members);
  restored_clock_ = d.record.clock;
  restored_event_clock_ = d.record.event_clock;
  restored_query_clock_ = d.record.query_clock;
  restored_ = true;
}

void SerfSnapshot::RestoreClocks(gossip::Serf& pool) const {
  if (!restored_) return;
  pool.RestoreClocks(restored_clock_, restored_event_clock_, restored_query_clock_);
}

std::vector<const SnapshotMember*> SerfSnapshot::Missing(const gossip::Serf& pool) const {
  std::vector<const SnapshotMember*> out;
  const std::string& self = pool.config().memberlist.name;
  for (const SnapshotMember& p : previous_) {
    if (p.name == self) continue;
    const gossip::Member* m = pool.member(p.name);
    if (m != nullptr && m->status != gossip::MemberStatus::kFailed) continue;  // alive, or it left
    out.push_back(&p);
  }
  return out;
}

std::vector<Address> SerfSnapshot::Pick(std::vector<const SnapshotMember*> from, const gossip::Serf& pool) {
  // A partial Fisher-Yates: the first kSnapshotRejoinSeedsMax are a uniform sample.
  const size_t n = std::min(from.size(), kSnapshotRejoinSeedsMax);
  for (size_t i = 0; i < n; ++i) std::swap(from[i], from[i + rng_.Uniform(from.size() - i)]);
  from.resize(n);
  return AddressesOf(from, pool);
}

std::vector<Address> SerfSnapshot::StartRejoin(Time now, const gossip::Serf& pool, const Address& self) {
  std::vector<const SnapshotMember*> targets;
  for (const SnapshotMember* m : Missing(pool)) {
    if (m->address != self) targets.push_back(m);
  }
  if (targets.empty()) return {};
  rejoin_until_ = now + kSnapshotRejoinWindow;
  next_rejoin_ = now + kSnapshotRejoinInterval;
  std::vector<Address> seeds = Pick(std::move(targets), pool);
  log_.Info(now, "serf: Attempting re-join to previously known nodes: ", absl::StrJoin(seeds, ","), " (",
            previous_.size(), " in the snapshot)");
  return seeds;
}

SerfSnapshotRecord SerfSnapshot::Current(const gossip::Serf& pool) const {
  SerfSnapshotRecord r;
  const std::string& self = pool.config().memberlist.name;
  for (bool failed : {false, true}) {
    for (const auto& [name, m] : pool.members()) {
      if (name == self) continue;
      const bool is_failed = m.status == gossip::MemberStatus::kFailed;
      if ((m.status == gossip::MemberStatus::kAlive && !failed) || (is_failed && failed)) {
        r.members.push_back({name, m.addr, is_failed});
      }
    }
  }
  // While re-joining, the previous members not seen again are kept: a crash now must not
  // lose them.
  if (rejoin_until_.has_value()) {
    for (const SnapshotMember& p : previous_) {
      if (p.name != self && pool.member(p.name) == nullptr) r.members.push_back(p);
    }
  }
  // Serf's lastSeen: the clocks' latest time taken (the restore witnesses it).
  auto seen = [](uint64_t t) { return t > 0 ? t - 1 : 0; };
  r.clock = seen(pool.member_ltime());
  r.event_clock = seen(pool.event_ltime());
  r.query_clock = seen(pool.query_ltime());
  return r;
}

void SerfSnapshot::Write(Time now, const gossip::Serf& pool, bool left, Effects* out) {
  SerfSnapshotRecord r = Current(pool);
  r.left = left;
  if (r.members.size() > kSnapshotMembersMax && !warned_members_cut_) {
    warned_members_cut_ = true;
    log_.Warn(now, "serf: snapshot ", key_, " keeps ", kSnapshotMembersMax, " of ", r.members.size(), " members");
  }
  StorageWrite w;
  w.id = next_write_id_++;
  // Synced: a crash (the simulator's is a power loss) must find the members to rejoin; at
  // most one fsync a kSnapshotWritePeriod.
  w.sync = true;
  w.Put(key_, EncodeSerfSnapshot(r));
  out->writes.push_back(std::move(w));
  last_write_ = now;
  dirty_ = false;
  written_clocks_[0] = pool.member_ltime();
  written_clocks_[1] = pool.event_ltime();
  written_clocks_[2] = pool.query_ltime();
}

std::vector<Address> SerfSnapshot::Tick(Time now, const gossip::Serf& pool, bool members_changed, Effects* out) {
  if (left_) return {};
  std::vector<Address> seeds;
  // Who is missing is looked at only when the pool's members changed or an attempt is due
  // (it is a pass over up to kSnapshotMembersMax names; steps are many more).
  if (rejoin_until_.has_value() && (members_changed || now >= next_rejoin_ || now >= *rejoin_until_)) {
    std::vector<const SnapshotMember*> missing = Missing(pool);
    if (missing.empty()) {
      log_.Info(now, "serf: Re-joined every previously known node");
      rejoin_until_.reset();
      dirty_ = true;  // the previous members not seen again are no longer kept
    } else if (now >= *rejoin_until_) {
      log_.Warn(now, "serf: ", missing.size(), " previously known nodes not re-joined within ",
                absl::FormatDuration(kSnapshotRejoinWindow), "; leaving them to reconnect");
      rejoin_until_.reset();
      dirty_ = true;
    } else if (now >= next_rejoin_) {
      next_rejoin_ = now + kSnapshotRejoinInterval;
      seeds = Pick(std::move(missing), pool);
      log_.Debug(now, "serf: re-join attempt to previously known nodes: ", absl::StrJoin(seeds, ","));
    }
  }
  if (rejoin_until_.has_value()) out->WakeAt(std::min(next_rejoin_, *rejoin_until_));
  if (members_changed || written_clocks_[0] != pool.member_ltime() || written_clocks_[1] != pool.event_ltime() ||
      written_clocks_[2] != pool.query_ltime()) {
    dirty_ = true;
  }
  if (dirty_) {
    const Time due = last_write_.has_value() ? *last_write_ + kSnapshotWritePeriod : now;
    if (now >= due) {
      Write(now, pool, /*left=*/false, out);
    } else {
      out->WakeAt(due);
    }
  }
  return seeds;
}

void SerfSnapshot::Leave(Time now, const gossip::Serf& pool, Effects* out) {
  if (left_) return;
  rejoin_until_.reset();
  Write(now, pool, /*left=*/true, out);
  left_ = true;
}

}  // namespace muster::agent
