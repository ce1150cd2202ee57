#include "core/gossip/event_handler.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/strings.h"

namespace muster::gossip {
namespace {

bool KnownType(std::string_view t) {
  static constexpr std::string_view kTypes[] = {"member-join", "member-leave", "member-failed", "member-update",
                                                "member-reap", "user",         "query",         "*"};
  return std::find(std::begin(kTypes), std::end(kTypes), t) != std::end(kTypes);
}

std::string TagsString(const TagMap& tags) {
  std::vector<std::string> kv;
  for (const auto& [k, v] : tags) kv.push_back(absl::StrCat(k, "=", v));
  return absl::StrJoin(kv, ",");
}

std::string EnvName(std::string_view key) {
  std::string out = "SERF_TAG_";
  for (char c : key) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? std::toupper(c) : '_');
  return out;
}

}  // namespace

absl::StatusOr<std::vector<EventFilter>> ParseEventFilters(std::string_view spec) {
  std::vector<EventFilter> out;
  for (absl::string_view term : absl::StrSplit(Absl(spec), ',', absl::SkipWhitespace())) {
    term = absl::StripAsciiWhitespace(term);
    EventFilter f;
    size_t colon = term.find(':');
    f.type = std::string(term.substr(0, colon));
    if (colon != absl::string_view::npos) f.name = std::string(term.substr(colon + 1));
    if (!KnownType(f.type)) return absl::InvalidArgumentError(absl::StrCat("unknown event type: ", f.type));
    if (!f.name.empty() && f.type != "user" && f.type != "query") {
      return absl::InvalidArgumentError(absl::StrCat("only user and query events take a name: ", term));
    }
    out.push_back(std::move(f));
  }
  if (out.empty()) out.push_back({"*", ""});
  return out;
}

bool FilterMatches(const std::vector<EventFilter>& filters, const SerfEvent& event) {
  for (const EventFilter& f : filters) {
    if (f.type == "*") return true;
    if (f.type != event.type) continue;
    if (f.name.empty() || f.name == event.name) return true;
  }
  return false;
}

std::string EventClean(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string HostOnly(std::string_view addr) {
  if (!addr.empty() && addr.front() == '[') {
    const size_t close = addr.find(']');
    if (close != std::string_view::npos) return std::string(addr.substr(1, close - 1));
  }
  const size_t colon = addr.rfind(':');
  // One colon: host:port. None, or several (a bare IPv6 address): as it is.
  if (colon == std::string_view::npos || addr.find(':') != colon) return std::string(addr);
  return std::string(addr.substr(0, colon));
}

namespace {

// One line per member; every field from the network cleaned, so a name or tag holding a line
// break cannot add a line of its own.
std::string MemberLines(const SerfEvent& event, bool host_only) {
  std::string out;
  for (const EventMember& m : event.members) {
    auto role = m.tags.find("role");
    absl::StrAppend(&out, EventClean(m.name), "\t", EventClean(host_only ? HostOnly(m.addr) : m.addr), "\t",
                    EventClean(role == m.tags.end() ? "" : role->second), "\t", EventClean(TagsString(m.tags)),
                    "\n");
  }
  return out;
}

}  // namespace

std::string EventStdin(const SerfEvent& event) {
  if (event.type == "user" || event.type == "query") {
    std::string out = event.payload;
    if (!out.empty() && out.back() != '\n') out.push_back('\n');
    return out;
  }
  return MemberLines(event, /*host_only=*/true);
}

std::vector<std::pair<std::string, std::string>> EventEnv(const SerfEvent& event, std::string_view self_name,
                                                          const TagMap& self_tags) {
  absl::btree_map<std::string, std::string> env;
  env["SERF_EVENT"] = event.type;
  env["SERF_SELF_NAME"] = std::string(self_name);
  auto role = self_tags.find("role");
  env["SERF_SELF_ROLE"] = role == self_tags.end() ? "" : role->second;
  for (const auto& [k, v] : self_tags) env[EnvName(k)] = v;
  if (event.type == "user") {
    env["SERF_USER_EVENT"] = event.name;
    env["SERF_USER_LTIME"] = absl::StrCat(event.ltime);
  } else if (event.type == "query") {
    env["SERF_QUERY_NAME"] = event.name;
    env["SERF_QUERY_LTIME"] = absl::StrCat(event.ltime);
  }
  return {env.begin(), env.end()};
}

Event ToSeamEvent(const SerfEvent& event) {
  Event e;
  e.kind = event.type;
  if (event.type == "user" || event.type == "query") absl::StrAppend(&e.kind, ":", event.name);
  const bool user_or_query = event.type == "user" || event.type == "query";
  e.payload = user_or_query ? event.payload : MemberLines(event, /*host_only=*/false);
  if (user_or_query) e.ltime = event.ltime;
  return e;
}

}  // namespace muster::gossip
