#include "core/agent/event_handlers.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/base/check.h"
#include "core/base/strings.h"

namespace muster::agent {
namespace {

constexpr std::string_view kMemberTypes[] = {"member-join", "member-leave", "member-failed", "member-update",
                                             "member-reap"};

bool IsMemberType(std::string_view type) {
  for (std::string_view t : kMemberTypes) {
    if (t == type) return true;
  }
  return false;
}

std::string TagsText(const gossip::TagMap& tags) {
  std::vector<std::string> pairs;
  for (const auto& [k, v] : tags) pairs.push_back(absl::StrCat(k, "=", v));
  return absl::StrJoin(pairs, ",");
}

// The line Serf publishes for one member ("name\taddr\trole\ttags\n"), read back: the name and
// address are safe to split on (node names and addresses hold no tab); the tags are read from
// the last field only for a member the pool no longer knows (a reaped one).
std::optional<HandlerMember> MemberOfLine(std::string_view payload,
                                          const absl::btree_map<std::string, gossip::Member>& members) {
  absl::string_view line = absl::StripSuffix(Absl(payload), "\n");
  std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits('\t', 3));
  if (fields.size() < 2 || fields[0].empty()) return std::nullopt;
  HandlerMember m;
  m.name = std::string(fields[0]);
  auto known = members.find(m.name);
  if (known != members.end()) {
    m.address = HostOfAddress(known->second.addr);
    m.tags = known->second.tags;
    return m;
  }
  m.address = HostOfAddress(Std(fields[1]));
  if (fields.size() == 4) {
    for (absl::string_view pair : absl::StrSplit(fields[3], ',', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
      m.tags[kv.first] = kv.second;
    }
  }
  return m;
}

}  // namespace

absl::StatusOr<EventHandlerDefinition> ParseEventHandler(std::string_view spec) {
  if (spec.size() > kEventHandlerBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat("event handler longer than ", kEventHandlerBytesMax, " bytes"));
  }
  EventHandlerDefinition h;
  const size_t eq = spec.find('=');
  if (eq != std::string_view::npos) {
    h.filter = std::string(spec.substr(0, eq));
    h.script = std::string(spec.substr(eq + 1));
  } else {
    h.script = std::string(spec);
  }
  if (absl::StripAsciiWhitespace(h.script).empty()) {
    return absl::InvalidArgumentError(absl::StrCat("event handler \"", Absl(spec), "\": no script"));
  }
  absl::StatusOr<std::vector<gossip::EventFilter>> filters = gossip::ParseEventFilters(h.filter);
  if (!filters.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("event handler \"", Absl(spec), "\": ", filters.status().message()));
  }
  h.filters = std::move(*filters);
  return h;
}

std::string MemberEventStdin(const std::vector<HandlerMember>& members) {
  std::string out;
  for (const HandlerMember& m : members) {
    auto role = m.tags.find("role");
    absl::StrAppend(&out, gossip::EventClean(m.name), "\t", m.address, "\t", gossip::EventClean(role == m.tags.end() ? "" : role->second),
                    "\t", gossip::EventClean(TagsText(m.tags)), "\n");
  }
  return out;
}

std::string UserEventStdin(std::string_view payload) {
  std::string out(payload);
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  return out;
}

std::string HostOfAddress(std::string_view address) {
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close != std::string_view::npos) return std::string(address.substr(1, close - 1));
  }
  const size_t colon = address.rfind(':');
  // One colon: host:port. None (a bare host) or several (a bare IPv6 address): as it is.
  if (colon == std::string_view::npos || address.find(':') != colon) return std::string(address);
  return std::string(address.substr(0, colon));
}

EventHandlers::EventHandlers(std::vector<EventHandlerDefinition> handlers, std::string self_name,
                             gossip::TagMap self_tags, Logger log, Duration coalesce_period,
                             Duration quiescent_period)
    : handlers_(std::move(handlers)),
      self_name_(std::move(self_name)),
      self_tags_(std::move(self_tags)),
      log_(std::move(log)),
      coalesce_period_(coalesce_period),
      quiescent_period_(quiescent_period) {
  MUSTER_CHECK_LE(handlers_.size(), kEventHandlersMax, "the config's validation bounds the event handlers");
}

void EventHandlers::ObserveMemberEvents(Time now, const std::vector<Event>& events,
                                        const absl::btree_map<std::string, gossip::Member>& members) {
  if (handlers_.empty()) return;
  for (const Event& e : events) {
    if (!IsMemberType(e.kind)) continue;
    std::optional<HandlerMember> m = MemberOfLine(e.payload, members);
    if (!m.has_value()) continue;
    if (pending_.empty()) first_pending_ = now;
    last_pending_ = now;
    std::string name = m->name;
    pending_[name] = Pending{e.kind, std::move(*m)};
    if (pending_.size() >= kCoalescedMembersMax) flush_now_ = true;
  }
}

std::optional<Time> EventHandlers::FlushAt() const {
  if (pending_.empty()) return std::nullopt;
  if (flush_now_) return last_pending_;
  return std::min(first_pending_ + coalesce_period_, last_pending_ + quiescent_period_);
}

void EventHandlers::Tick(Time now, HandlerQueue& queue, Effects* out) {
  if (std::optional<Time> at = FlushAt(); at.has_value() && now >= *at) Flush(now, queue, out);
  if (std::optional<Time> at = FlushAt()) out->WakeAt(*at);
}

void EventHandlers::Flush(Time now, HandlerQueue& queue, Effects* out) {
  absl::btree_map<std::string, Pending> pending = std::exchange(pending_, {});
  flush_now_ = false;
  if (last_handed_.size() + pending.size() > kCoalescedMembersMax) last_handed_.clear();
  for (std::string_view type : kMemberTypes) {
    std::vector<HandlerMember> members;
    for (auto& [name, p] : pending) {
      if (p.type != type) continue;
      auto last = last_handed_.find(name);
      // Serf's coalescer: the same event again (a failed member still failed) is not news.
      if (last != last_handed_.end() && last->second == type && type != "member-update") continue;
      if (type == "member-reap") {
        last_handed_.erase(name);  // forgotten by the pool: a later join is news
      } else if (auto it = last_handed_.find(name); it != last_handed_.end()) {
        it->second = std::string(type);
      } else if (last_handed_.size() < kCoalescedMembersMax) {  // past it: only less suppression
        last_handed_.emplace(name, std::string(type));
      }
      members.push_back(std::move(p.member));
    }
    if (members.empty()) continue;
    gossip::SerfEvent event;
    event.type = std::string(type);
    Run(now, event, MemberEventStdin(members), queue, out);
  }
  MUSTER_CHECK_LE(last_handed_.size(), kCoalescedMembersMax);
}

void EventHandlers::OnUserEvent(Time now, const std::string& name, const std::string& payload, uint64_t ltime,
                                HandlerQueue& queue, Effects* out) {
  if (handlers_.empty()) return;
  gossip::SerfEvent event;
  event.type = "user";
  event.name = name;
  event.payload = payload;
  event.ltime = ltime;
  Run(now, event, UserEventStdin(payload), queue, out);
}

void EventHandlers::Run(Time now, const gossip::SerfEvent& event, std::string stdin_data, HandlerQueue& queue,
                        Effects* out) {
  for (const EventHandlerDefinition& h : handlers_) {
    if (!gossip::FilterMatches(h.filters, event)) continue;
    HandlerRun run;
    run.what = absl::StrCat("event handler \"", h.script, "\" (", event.type,
                            event.type == "user" ? absl::StrCat(" ", event.name) : "", ")");
    run.start.kind = ProcessStart::Kind::kShell;
    run.start.command = h.script;
    run.start.env = gossip::EventEnv(event, self_name_, self_tags_);
    run.start.stdin_data = stdin_data;
    run.start.timeout = kHandlerTimeoutDefault;
    queue.Enqueue(now, std::move(run), out);
  }
}

}  // namespace muster::agent
