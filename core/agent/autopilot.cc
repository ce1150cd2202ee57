#include "core/agent/autopilot.h"

#include "core/agent/go_duration.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace muster::agent {
namespace {

using Json = nlohmann::ordered_json;

std::string GossipName(ServerFacts::Gossip g) {
  switch (g) {
    case ServerFacts::Gossip::kAlive: return "alive";
    case ServerFacts::Gossip::kFailed: return "failed";
    case ServerFacts::Gossip::kLeft: return "left";
    case ServerFacts::Gossip::kUnknown: break;
  }
  return "none";
}

}  // namespace

std::string AutopilotConfigJson(const AutopilotConfig& c) {
  Json j;
  j["CleanupDeadServers"] = c.cleanup_dead_servers;
  j["LastContactThreshold"] = GoDuration(c.last_contact_threshold);
  j["MaxTrailingLogs"] = c.max_trailing_logs;
  j["MinQuorum"] = c.min_quorum;
  j["ServerStabilizationTime"] = GoDuration(c.server_stabilization_time);
  j["RedundancyZoneTag"] = c.redundancy_zone_tag;
  j["DisableUpgradeMigration"] = c.disable_upgrade_migration;
  j["UpgradeVersionTag"] = c.upgrade_version_tag;
  j["CreateIndex"] = c.create_index;
  j["ModifyIndex"] = c.modify_index;
  return j.dump();
}

absl::StatusOr<AutopilotConfig> ParseAutopilotConfigJson(std::string_view text, const AutopilotConfig& base) {
  if (text.size() > 64 * 1024) return absl::InvalidArgumentError("autopilot configuration: body too large");
  // nlohmann's lexer ends the input at a NUL, so "{}\0garbage" would pass; Go refuses it.
  if (text.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("autopilot configuration: not JSON (a NUL byte)");
  }
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("autopilot configuration: not a JSON object");
  }
  AutopilotConfig c = base;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const Json& v = it.value();
    auto want = [&](bool ok, std::string_view type) -> absl::Status {
      if (ok) return absl::OkStatus();
      return absl::InvalidArgumentError(absl::StrCat("autopilot configuration: ", k, " must be ", std::string(type)));
    };
    absl::Status s;
    if (k == "CleanupDeadServers") {
      s = want(v.is_boolean(), "a boolean");
      if (s.ok()) c.cleanup_dead_servers = v.get<bool>();
    } else if (k == "DisableUpgradeMigration") {
      s = want(v.is_boolean(), "a boolean");
      if (s.ok()) c.disable_upgrade_migration = v.get<bool>();
    } else if (k == "LastContactThreshold" || k == "ServerStabilizationTime") {
      Duration d;
      if (v.is_string()) {
        absl::StatusOr<Duration> p = ParseGoDuration(v.get<std::string>(), k);
        if (!p.ok()) return p.status();
        d = *p;
      } else if (v.is_number_unsigned()) {  // Go encodes a bare Duration as nanoseconds
        absl::StatusOr<Duration> p = DurationFromNanoseconds(v.get<uint64_t>(), k);
        if (!p.ok()) return p.status();
        d = *p;
      } else {
        s = want(false, "a duration (\"200ms\")");
      }
      if (s.ok()) (k == "LastContactThreshold" ? c.last_contact_threshold : c.server_stabilization_time) = d;
    } else if (k == "MaxTrailingLogs" || k == "MinQuorum") {
      s = want(v.is_number_unsigned() && v.get<uint64_t>() <= (k == "MinQuorum" ? 1000u : (uint64_t{1} << 40)),
               "a non-negative integer in range");
      if (s.ok()) {
        if (k == "MinQuorum") c.min_quorum = static_cast<uint32_t>(v.get<uint64_t>());
        else c.max_trailing_logs = v.get<uint64_t>();
      }
    } else if (k == "RedundancyZoneTag" || k == "UpgradeVersionTag") {
      s = want(v.is_string() && v.get<std::string>().size() <= 256, "a string (at most 256 bytes)");
      if (s.ok()) (k == "RedundancyZoneTag" ? c.redundancy_zone_tag : c.upgrade_version_tag) = v.get<std::string>();
    } else if (k == "CreateIndex" || k == "ModifyIndex") {
      // Read-only facts of the stored configuration; Consul ignores them on a write.
    } else {
      return absl::InvalidArgumentError(absl::StrCat("autopilot configuration: unknown field ", k));
    }
    if (!s.ok()) return s;
  }
  return c;
}

void Autopilot::Update(Time now, const AutopilotConfig& config, uint64_t leader_last_index,
                       const std::vector<ServerFacts>& servers) {
  absl::btree_map<NodeId, ServerHealth> next;
  for (const ServerFacts& f : servers) {
    ServerHealth h;
    h.facts = f;
    const bool contact_ok =
        f.leader || (f.last_contact.has_value() && *f.last_contact <= config.last_contact_threshold);
    const bool logs_ok = f.leader || f.last_index + config.max_trailing_logs >= leader_last_index;
    h.healthy = f.gossip == ServerFacts::Gossip::kAlive && contact_ok && logs_ok;
    auto old = servers_.find(f.raft_id);
    if (old != servers_.end() && old->second.healthy == h.healthy) {
      h.stable_since = old->second.stable_since;
    } else {
      h.stable_since = now;
    }
    next.emplace(f.raft_id, std::move(h));
  }
  servers_ = std::move(next);
}

std::vector<NodeId> Autopilot::ToPromote(Time now, const AutopilotConfig& config) const {
  std::vector<NodeId> out;
  for (const auto& [id, h] : servers_) {
    if (!h.facts.voter && h.healthy && now - h.stable_since >= config.server_stabilization_time) out.push_back(id);
  }
  return out;
}

std::vector<NodeId> Autopilot::ToRemove(const AutopilotConfig& config) const {
  std::vector<NodeId> out;
  if (!config.cleanup_dead_servers) return out;
  size_t voters = 0, healthy_voters = 0;
  for (const auto& [id, h] : servers_) {
    if (!h.facts.voter) continue;
    ++voters;
    if (h.healthy) ++healthy_voters;
  }
  size_t remaining = voters;
  // At most (voters - 1) / 2 dead voters go in one round, as raft-autopilot's pruning: none of
  // two (a leader still seeing its peer failed in a stale gossip view just after a heal must
  // not make itself the only voter), one of three or four, two of five.
  const size_t removals_max = voters == 0 ? 0 : (voters - 1) / 2;
  size_t removals = 0;
  for (const auto& [id, h] : servers_) {
    const bool dead = h.facts.gossip == ServerFacts::Gossip::kFailed || h.facts.gossip == ServerFacts::Gossip::kLeft;
    if (!dead || h.facts.leader) continue;
    if (!h.facts.voter) {
      out.push_back(id);  // a dead non-voter never counts toward a quorum
      continue;
    }
    // Remove a dead voter only while the healthy voters still make a quorum of what is left
    // and the voters stay at or above MinQuorum (Consul's rule: never remove past a quorum).
    const size_t after = remaining - 1;
    if (removals >= removals_max || after < config.min_quorum || healthy_voters < after / 2 + 1) continue;
    ++removals;
    remaining = after;
    out.push_back(id);
  }
  return out;
}

bool Autopilot::healthy() const {
  if (servers_.empty()) return false;
  for (const auto& [id, h] : servers_) {
    if (!h.healthy) return false;
  }
  return true;
}

int Autopilot::failure_tolerance() const {
  int voters = 0, healthy_voters = 0;
  for (const auto& [id, h] : servers_) {
    if (!h.facts.voter) continue;
    ++voters;
    if (h.healthy) ++healthy_voters;
  }
  const int quorum = voters / 2 + 1;
  return std::max(0, healthy_voters - quorum);
}

std::string Autopilot::HealthJson(Time now) const {
  Json j;
  j["Healthy"] = healthy();
  j["FailureTolerance"] = failure_tolerance();
  Json servers = Json::array();
  for (const auto& [id, h] : servers_) {
    Json s;
    s["ID"] = h.facts.node_id;
    s["Name"] = h.facts.name;
    s["Address"] = h.facts.address;
    s["SerfStatus"] = GossipName(h.facts.gossip);
    s["Version"] = "";
    s["Leader"] = h.facts.leader;
    s["LastContact"] = h.facts.last_contact.has_value() ? GoDuration(absl::Trunc(*h.facts.last_contact, absl::Milliseconds(1))) : "";
    s["LastTerm"] = h.facts.last_term;
    s["LastIndex"] = h.facts.last_index;
    s["Healthy"] = h.healthy;
    s["Voter"] = h.facts.voter;
    s["StableSince"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", h.stable_since, absl::UTCTimeZone());
    servers.push_back(std::move(s));
  }
  j["Servers"] = std::move(servers);
  (void)now;
  return j.dump();
}

}  // namespace muster::agent
