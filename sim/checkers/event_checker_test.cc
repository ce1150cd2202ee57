// The user-event checker: one delivery per agent passes, as does a redelivery after a
// restart; a duplicate, a missing or late delivery, an event never fired and a delivery to a
// down agent fail.
#include "sim/checkers/event_checker.h"

#include <string>

#include "gtest/gtest.h"

namespace muster::sim::checkers {
namespace {

Time T(int64_t ms) { return SimEpoch() + absl::Milliseconds(ms); }

EventTrace ThreeAgents() {
  EventTrace trace;
  for (const char* agent : {"a1", "a2", "a3"}) trace.AgentUp(agent, T(0));
  return trace;
}

EventCheckOptions Bound(int64_t ms, int64_t end_ms) {
  EventCheckOptions options;
  options.delivery_bound = absl::Milliseconds(ms);
  options.end = T(end_ms);
  return options;
}

TEST(EventCheckerTest, OncePerAgentPasses) {
  EventTrace trace = ThreeAgents();
  trace.Fired("e1", T(100));
  trace.Delivered("a1", "e1", T(110));
  trace.Delivered("a2", "e1", T(150));
  trace.Delivered("a3", "e1", T(900));
  trace.Fired("e2", T(9'500));  // too recent to be owed
  const CheckResult result = CheckUserEvents(trace, Bound(1000, 10'000));
  EXPECT_TRUE(result.ok()) << result.Report();
}

TEST(EventCheckerTest, MaybeFiredIsOwedNobodyButStillAtMostOnce) {
  EventTrace trace = ThreeAgents();
  trace.MaybeFired("e1", T(100));
  trace.Delivered("a1", "e1", T(110));
  EXPECT_TRUE(CheckUserEvents(trace, Bound(1000, 10'000)).ok());
  trace.Delivered("a1", "e1", T(120));
  const CheckResult result = CheckUserEvents(trace, Bound(1000, 10'000));
  ASSERT_EQ(result.violation_count, 1) << result.Report();
  EXPECT_NE(result.violations[0].find("delivered 2 times"), std::string::npos) << result.Report();
}

TEST(EventCheckerTest, DueAtEndOwesEveryAgentUpFromTheFireToTheEnd) {
  EventTrace trace = ThreeAgents();
  trace.Fired("e1", T(100));
  trace.Delivered("a1", "e1", T(110));
  trace.Delivered("a2", "e1", T(60'000));  // late for any bound, in time for the end
  trace.AgentDown("a3", T(200));           // down before it came: owed nothing
  EventCheckOptions options = Bound(1000, 90'000);
  options.due_at_end = true;
  EXPECT_TRUE(CheckUserEvents(trace, options).ok()) << CheckUserEvents(trace, options).Report();
  trace.AgentUp("a4", T(50));
  const CheckResult result = CheckUserEvents(trace, options);
  ASSERT_EQ(result.violation_count, 1) << result.Report();
  EXPECT_NE(result.violations[0].find("never reached a4"), std::string::npos) << result.Report();
}

TEST(EventCheckerTest, DeliveredTwiceFails) {
  EventTrace trace = ThreeAgents();
  trace.Fired("e1", T(100));
  for (const char* agent : {"a1", "a2", "a3"}) trace.Delivered(agent, "e1", T(110));
  trace.Delivered("a2", "e1", T(300));
  const CheckResult result = CheckUserEvents(trace, Bound(1000, 10'000));
  ASSERT_EQ(result.violation_count, 1) << result.Report();
  EXPECT_NE(result.violations[0].find("event e1 delivered to a2 at 300ms: delivered 2 times"),
            std::string::npos)
      << result.Report();
}

TEST(EventCheckerTest, RestartMayRedeliverUnlessForbidden) {
  EventTrace trace = ThreeAgents();
  trace.Fired("e1", T(100));
  for (const char* agent : {"a1", "a2", "a3"}) trace.Delivered(agent, "e1", T(110));
  trace.AgentDown("a3", T(200));
  trace.AgentUp("a3", T(300));
  trace.Delivered("a3", "e1", T(310));
  EXPECT_TRUE(CheckUserEvents(trace, Bound(1000, 10'000)).ok());
  EventCheckOptions strict = Bound(1000, 10'000);
  strict.redelivery_after_restart = false;
  EXPECT_EQ(CheckUserEvents(trace, strict).violation_count, 1);
}

TEST(EventCheckerTest, MissingOrLateDeliveryToALiveAgentFails) {
  EventTrace trace = ThreeAgents();
  trace.Fired("e1", T(100));
  trace.Delivered("a1", "e1", T(110));
  trace.Delivered("a2", "e1", T(5'000));  // late
  // a3 never gets it
  const CheckResult result = CheckUserEvents(trace, Bound(1000, 10'000));
  EXPECT_EQ(result.violation_count, 2) << result.Report();
  EXPECT_NE(result.Report().find("reached a2 only at 5s, after 1.1s"), std::string::npos)
      << result.Report();
  EXPECT_NE(result.Report().find("never reached a3"), std::string::npos) << result.Report();
}

TEST(EventCheckerTest, AgentDownDuringTheWindowOwesNothing) {
  EventTrace trace = ThreeAgents();
  trace.Fired("e1", T(100));
  trace.Delivered("a1", "e1", T(110));
  trace.Delivered("a2", "e1", T(110));
  trace.AgentDown("a3", T(500));
  const CheckResult result = CheckUserEvents(trace, Bound(1000, 10'000));
  EXPECT_TRUE(result.ok()) << result.Report();
}

TEST(EventCheckerTest, NeverFiredOrToADownAgentFails) {
  EventTrace trace = ThreeAgents();
  trace.Delivered("a1", "ghost", T(10));
  trace.AgentDown("a2", T(20));
  trace.Fired("e1", T(30));
  trace.Delivered("a2", "e1", T(40));
  trace.Delivered("a1", "e1", T(40));
  trace.Delivered("a3", "e1", T(40));
  const CheckResult result = CheckUserEvents(trace, Bound(1000, 10'000));
  EXPECT_EQ(result.violation_count, 2) << result.Report();
  EXPECT_NE(result.Report().find("ghost delivered to a1 at 10ms: never fired"), std::string::npos);
  EXPECT_NE(result.Report().find("a2 at 40ms: the agent is down"), std::string::npos);
}

}  // namespace
}  // namespace muster::sim::checkers
