// Serf's handler contract (event_handler.h): the member lines a handler reads are Serf's
// agent's (fields cleaned, the address without its port), a payload ends with a newline, and
// a tag from the network cannot add a member line; the seam event keeps the address and the
// raw payload for the observers that parse them.
#include "core/gossip/event_handler.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace muster::gossip {
namespace {

SerfEvent Join(std::vector<EventMember> members) {
  SerfEvent e;
  e.type = "member-join";
  e.members = std::move(members);
  return e;
}

TEST(EventStdin, MemberLinesAsSerfsAgentWritesThem) {
  SerfEvent e = Join({{"s1", "10.0.0.1:8301", {{"role", "consul"}, {"dc", "dc1"}}},
                      {"c2", "[::1]:8301", {{"role", "node"}}},
                      {"bare", "10.0.0.3", {}}});
  EXPECT_EQ(EventStdin(e),
            "s1\t10.0.0.1\tconsul\tdc=dc1,role=consul\n"
            "c2\t::1\tnode\trole=node\n"
            "bare\t10.0.0.3\t\t\n");
  Event seam = ToSeamEvent(e);
  EXPECT_EQ(seam.kind, "member-join");
  EXPECT_EQ(seam.payload.substr(0, seam.payload.find('\n')), "s1\t10.0.0.1:8301\tconsul\tdc=dc1,role=consul");
}

TEST(EventStdin, ATagCannotInjectAMemberLine) {
  SerfEvent e = Join({{"evil\tname", "10.0.0.9:8301",
                       {{"role", "node\nfake\t6.6.6.6\tconsul\t"}, {"x", "a\nb\tc"}}}});
  const std::string in = EventStdin(e);
  std::vector<std::string> lines = absl::StrSplit(in, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << in;
  std::vector<std::string> fields = absl::StrSplit(lines[0], '\t');
  ASSERT_EQ(fields.size(), 4u) << in;
  EXPECT_EQ(fields[0], "evil\\tname");
  EXPECT_EQ(fields[1], "10.0.0.9");
  EXPECT_EQ(fields[2], "node\\nfake\\t6.6.6.6\\tconsul\\t");
  EXPECT_EQ(fields[3], "role=node\\nfake\\t6.6.6.6\\tconsul\\t,x=a\\nb\\tc");
  // The seam event's lines are cleaned the same way (observers split them too).
  std::vector<std::string> seam = absl::StrSplit(ToSeamEvent(e).payload, '\n', absl::SkipEmpty());
  EXPECT_EQ(seam.size(), 1u);
  EXPECT_EQ(EventClean("a\tb\nc\\d"), "a\\tb\\nc\\d");
}

TEST(EventStdin, PayloadsGetTheirTrailingNewline) {
  SerfEvent u;
  u.type = "user";
  u.name = "deploy";
  u.payload = "v2";
  u.ltime = 7;
  EXPECT_EQ(EventStdin(u), "v2\n");
  u.payload = "line\n";
  EXPECT_EQ(EventStdin(u), "line\n");
  u.payload = "";
  EXPECT_EQ(EventStdin(u), "");
  SerfEvent q;
  q.type = "query";
  q.name = "load";
  q.payload = "cpu";
  EXPECT_EQ(EventStdin(q), "cpu\n");
  // Observers get the payload as it came (the agent parses its records from it).
  u.payload = std::string("\x0a\x03" "abc", 5);
  Event seam = ToSeamEvent(u);
  EXPECT_EQ(seam.kind, "user:deploy");
  EXPECT_EQ(seam.payload, u.payload);
  EXPECT_EQ(seam.ltime, 7u);
  EXPECT_EQ(HostOnly("n1:8301"), "n1");
  EXPECT_EQ(HostOnly("fe80::1"), "fe80::1");
}

}  // namespace
}  // namespace muster::gossip
