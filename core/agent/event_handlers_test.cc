// Event handlers: Serf's "[filter=]script" parse, the member lines and user payload on
// standard input, the SERF_* environment, filters per event, and the coalescing of member
// events (one run per type after the quiescent period or the period at the latest; a member
// handed the same event again is left out; updates always pass).
#include "core/agent/event_handlers.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace muster::agent {
namespace {

const Time kT0 = absl::FromUnixSeconds(1'000'000);

std::map<std::string, std::string> EnvOf(const ProcessStart& p) { return {p.env.begin(), p.env.end()}; }

Event MemberEvent(std::string type, std::string name, std::string addr, std::string role = "node") {
  Event e;
  e.kind = std::move(type);
  e.payload = absl::StrCat(name, "\t", addr, "\t", role, "\trole=", role, "\n");
  return e;
}

absl::btree_map<std::string, gossip::Member> Members(std::vector<std::pair<std::string, std::string>> named) {
  absl::btree_map<std::string, gossip::Member> out;
  for (auto& [name, addr] : named) {
    gossip::Member m;
    m.name = name;
    m.addr = addr;
    m.tags = {{"role", "node"}, {"dc", "dc1"}};
    out[name] = m;
  }
  return out;
}

EventHandlers Make(std::vector<std::string> specs) {
  std::vector<EventHandlerDefinition> defs;
  for (const std::string& s : specs) {
    absl::StatusOr<EventHandlerDefinition> d = ParseEventHandler(s);
    EXPECT_TRUE(d.ok()) << s << ": " << d.status();
    defs.push_back(*d);
  }
  return EventHandlers(defs, "self", {{"role", "consul"}, {"dc", "dc1"}, {"wan-join.port", "8302"}}, Logger());
}

// Every process the queue starts, finishing each at once.
std::vector<ProcessStart> Drain(HandlerQueue& q, Effects& out) {
  std::vector<ProcessStart> all;
  for (size_t i = 0; i < out.processes.size(); ++i) {
    all.push_back(out.processes[i]);
    ProcessExitedInput e;
    e.process_id = out.processes[i].id;
    q.HandleProcessExit(kT0, e, &out);
  }
  out.processes.clear();
  return all;
}

TEST(ParseEventHandler, SerfsFilterEqualsScript) {
  absl::StatusOr<EventHandlerDefinition> h = ParseEventHandler("handler.sh");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->script, "handler.sh");
  EXPECT_EQ(h->filter, "*");
  h = ParseEventHandler("member-join,user:deploy=./x.sh --flag=1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->filter, "member-join,user:deploy");
  EXPECT_EQ(h->script, "./x.sh --flag=1");  // only the first '=' splits
  ASSERT_EQ(h->filters.size(), 2u);
  EXPECT_EQ(h->filters[1].type, "user");
  EXPECT_EQ(h->filters[1].name, "deploy");
  EXPECT_TRUE(ParseEventHandler("query:load=q.sh").ok());
  EXPECT_TRUE(ParseEventHandler("member-reap=r.sh").ok());

  EXPECT_FALSE(ParseEventHandler("FOO=1 ./handler.sh").ok());  // "FOO" read as a filter, as Serf
  EXPECT_FALSE(ParseEventHandler("member-join:x=a.sh").ok());  // names only on user and query
  EXPECT_FALSE(ParseEventHandler("user=").ok());
  EXPECT_FALSE(ParseEventHandler("").ok());
  EXPECT_FALSE(ParseEventHandler(std::string(kEventHandlerBytesMax + 1, 'a')).ok());
}

TEST(EventStdin, MemberLinesAndPayloadAsSerf) {
  std::vector<HandlerMember> members = {{"web-1", "10.0.0.1", {{"role", "node"}, {"dc", "dc1"}}},
                                        {"odd\tname", "::1", {{"note", "a\nb"}}}};
  EXPECT_EQ(MemberEventStdin(members),
            "web-1\t10.0.0.1\tnode\tdc=dc1,role=node\n"
            "odd\\tname\t::1\t\tnote=a\\nb\n");
  EXPECT_EQ(UserEventStdin("deploy v2"), "deploy v2\n");
  EXPECT_EQ(UserEventStdin("line\n"), "line\n");
  EXPECT_EQ(UserEventStdin(""), "");
  EXPECT_EQ(HostOfAddress("10.0.0.1:8301"), "10.0.0.1");
  EXPECT_EQ(HostOfAddress("[::1]:8301"), "::1");
  EXPECT_EQ(HostOfAddress("10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(HostOfAddress("fe80::1"), "fe80::1");
}

TEST(EventHandlers, MemberEventsAreCoalescedIntoOneRunPerType) {
  EventHandlers h = Make({"handler.sh"});
  HandlerQueue q{Logger()};
  Effects out;
  auto members = Members({{"a", "127.0.0.1:8301"}, {"b", "127.0.0.2:8301"}, {"c", "127.0.0.3:8301"}});
  h.ObserveMemberEvents(kT0, {MemberEvent("member-join", "a", "127.0.0.1:8301"),
                              MemberEvent("member-join", "b", "127.0.0.2:8301")},
                        members);
  h.Tick(kT0, q, &out);
  EXPECT_TRUE(out.processes.empty());
  ASSERT_TRUE(out.wake_at.has_value());
  EXPECT_EQ(*out.wake_at, kT0 + kMemberQuiescentPeriod);
  // Another arrives within the quiescent period: the flush moves with it.
  h.ObserveMemberEvents(kT0 + absl::Milliseconds(500),
                        {MemberEvent("member-failed", "c", "127.0.0.3:8301"),
                         MemberEvent("member-join", "c", "127.0.0.3:8301")},
                        members);
  // ... and fails again: its latest event is the one handed.
  h.ObserveMemberEvents(kT0 + absl::Milliseconds(600), {MemberEvent("member-failed", "c", "127.0.0.3:8301")}, members);
  out.wake_at.reset();
  h.Tick(kT0 + absl::Milliseconds(1500), q, &out);
  EXPECT_TRUE(out.processes.empty());
  h.Tick(kT0 + absl::Milliseconds(1600), q, &out);
  std::vector<ProcessStart> runs = Drain(q, out);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(EnvOf(runs[0])["SERF_EVENT"], "member-join");
  EXPECT_EQ(runs[0].stdin_data, "a\t127.0.0.1\tnode\tdc=dc1,role=node\nb\t127.0.0.2\tnode\tdc=dc1,role=node\n");
  EXPECT_EQ(EnvOf(runs[1])["SERF_EVENT"], "member-failed");  // c's latest event only
  EXPECT_EQ(runs[1].stdin_data, "c\t127.0.0.3\tnode\tdc=dc1,role=node\n");
  EXPECT_EQ(runs[0].kind, ProcessStart::Kind::kShell);
  EXPECT_EQ(runs[0].command, "handler.sh");
  EXPECT_EQ(h.pending_members(), 0u);

  // c failed again (a refutation, a second report): not news. An update always is.
  h.ObserveMemberEvents(kT0 + absl::Seconds(10), {MemberEvent("member-failed", "c", "127.0.0.3:8301"),
                                                  MemberEvent("member-update", "a", "127.0.0.1:8301")},
                        members);
  h.Tick(kT0 + absl::Seconds(20), q, &out);
  runs = Drain(q, out);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(EnvOf(runs[0])["SERF_EVENT"], "member-update");
}

TEST(EventHandlers, ACoalescedBurstIsFlushedAfterThePeriodAtTheLatest) {
  EventHandlers h = Make({"handler.sh"});
  HandlerQueue q{Logger()};
  Effects out;
  auto members = Members({});
  // A new member every 0.5 s: the quiescent period never passes; the period does.
  Time t = kT0;
  size_t runs = 0;
  for (int i = 0; i < 10; ++i, t += absl::Milliseconds(500)) {
    h.ObserveMemberEvents(t, {MemberEvent("member-join", absl::StrCat("n", i), "127.0.0.9:1")}, members);
    h.Tick(t, q, &out);
    runs += Drain(q, out).size();
    if (t < kT0 + kMemberCoalescePeriod) {
      EXPECT_EQ(runs, 0u) << i;
    }
  }
  EXPECT_EQ(runs, 1u);
}

TEST(EventHandlers, AReapedMemberIsReadFromItsLine) {
  EventHandlers h = Make({"member-reap=reap.sh"});
  HandlerQueue q{Logger()};
  Effects out;
  h.ObserveMemberEvents(kT0, {MemberEvent("member-reap", "gone", "127.0.0.7:8301", "consul")}, Members({}));
  h.Tick(kT0 + absl::Seconds(5), q, &out);
  std::vector<ProcessStart> runs = Drain(q, out);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].stdin_data, "gone\t127.0.0.7\tconsul\trole=consul\n");
}

TEST(EventHandlers, FiltersPickHandlersAndUserEventsCarryNameLtimeAndPayload) {
  EventHandlers h = Make({"member-join=join.sh", "user:deploy=deploy.sh", "user=any-user.sh", "all.sh"});
  HandlerQueue q{Logger()};
  Effects out;
  h.OnUserEvent(kT0, "deploy", "v2", 42, q, &out);
  h.OnUserEvent(kT0, "other", "", 43, q, &out);
  std::vector<ProcessStart> runs = Drain(q, out);
  std::vector<std::string> commands;
  for (const ProcessStart& p : runs) commands.push_back(p.command);
  EXPECT_EQ(commands, (std::vector<std::string>{"deploy.sh", "any-user.sh", "all.sh", "any-user.sh", "all.sh"}));
  std::map<std::string, std::string> env = EnvOf(runs[0]);
  EXPECT_EQ(env["SERF_EVENT"], "user");
  EXPECT_EQ(env["SERF_USER_EVENT"], "deploy");
  EXPECT_EQ(env["SERF_USER_LTIME"], "42");
  EXPECT_EQ(env["SERF_SELF_NAME"], "self");
  EXPECT_EQ(env["SERF_SELF_ROLE"], "consul");
  EXPECT_EQ(env["SERF_TAG_DC"], "dc1");
  EXPECT_EQ(env["SERF_TAG_WAN_JOIN_PORT"], "8302");  // upper-cased, [^A-Z0-9_] as '_'
  EXPECT_EQ(runs[0].stdin_data, "v2\n");
  EXPECT_EQ(EnvOf(runs[3])["SERF_USER_EVENT"], "other");

  h.ObserveMemberEvents(kT0, {MemberEvent("member-failed", "x", "127.0.0.1:1")}, Members({}));
  h.Tick(kT0 + absl::Seconds(5), q, &out);
  runs = Drain(q, out);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].command, "all.sh");
}

// More members in one batch than the coalescer's bound (a push-pull of a large cluster): all
// flushed at once in one run, and the memory of handed events stays bounded.
TEST(EventHandlers, ABatchPastTheBoundIsFlushedAtOnce) {
  EventHandlers h = Make({"member-join=join.sh"});
  HandlerQueue q{Logger()};
  Effects out;
  std::vector<Event> events;
  for (size_t i = 0; i < kCoalescedMembersMax + 10; ++i) {
    events.push_back(MemberEvent("member-join", absl::StrCat("m", i), "10.0.0.1:8301"));
  }
  h.ObserveMemberEvents(kT0, events, Members({}));
  h.Tick(kT0, q, &out);
  std::vector<ProcessStart> runs = Drain(q, out);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(std::count(runs[0].stdin_data.begin(), runs[0].stdin_data.end(), '\n'),
            static_cast<long>(kCoalescedMembersMax + 10));
  EXPECT_EQ(h.pending_members(), 0u);
}

TEST(EventHandlers, WithoutHandlersNothingIsKept) {
  EventHandlers h(std::vector<EventHandlerDefinition>{}, "self", {}, Logger());
  HandlerQueue q{Logger()};
  Effects out;
  h.ObserveMemberEvents(kT0, {MemberEvent("member-join", "a", "127.0.0.1:1")}, Members({}));
  h.OnUserEvent(kT0, "x", "", 1, q, &out);
  h.Tick(kT0 + absl::Seconds(5), q, &out);
  EXPECT_EQ(h.pending_members(), 0u);
  EXPECT_TRUE(out.processes.empty());
  EXPECT_FALSE(out.wake_at.has_value());
}

}  // namespace
}  // namespace muster::agent
