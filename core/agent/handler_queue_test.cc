// The handler queue: runs start in order, one at a time; past the bound the oldest waiting run
// is dropped (and its owner told); ends of the running process start the next; a stray id
// changes nothing; failures, timeouts and non-2xx HTTP answers are counted.
#include "core/agent/handler_queue.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace muster::agent {
namespace {

const Time kT0 = absl::FromUnixSeconds(1'000'000);

HandlerRun MakeRun(std::string command, uint64_t owner = 0) {
  HandlerRun r;
  r.owner = owner;
  r.what = command;
  r.start.command = std::move(command);
  return r;
}

ProcessExitedInput Exit(uint64_t id, int code = 0, bool timed_out = false) {
  ProcessExitedInput e;
  e.process_id = id;
  e.exit_code = code;
  e.timed_out = timed_out;
  return e;
}

TEST(HandlerQueue, RunsInOrderOneAtATime) {
  HandlerQueue q{Logger()};
  Effects out;
  q.Enqueue(kT0, MakeRun("a", 1), &out);
  q.Enqueue(kT0, MakeRun("b", 2), &out);
  q.Enqueue(kT0, MakeRun("c", 3), &out);
  ASSERT_EQ(out.processes.size(), 1u);
  EXPECT_EQ(out.processes[0].command, "a");
  EXPECT_EQ(out.processes[0].id, 1u);
  EXPECT_TRUE(q.running());
  EXPECT_EQ(q.queued(), 2u);

  std::vector<std::string> started = {"a"};
  for (uint64_t id = 1; id <= 3; ++id) {
    Effects next;
    q.HandleProcessExit(kT0, Exit(id), &next);
    for (const ProcessStart& p : next.processes) started.push_back(p.command);
    EXPECT_LE(next.processes.size(), 1u);
  }
  EXPECT_EQ(started, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_FALSE(q.running());
  EXPECT_EQ(q.TakeEnded(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(q.TakeEnded().empty());
  EXPECT_EQ(q.started(), 3u);
}

TEST(HandlerQueue, AStrayExitChangesNothing) {
  HandlerQueue q{Logger()};
  Effects out;
  q.Enqueue(kT0, MakeRun("a"), &out);
  q.Enqueue(kT0, MakeRun("b"), &out);
  Effects next;
  q.HandleProcessExit(kT0, Exit(7), &next);
  EXPECT_TRUE(next.processes.empty());
  EXPECT_TRUE(q.running());
  EXPECT_EQ(q.queued(), 1u);
  EXPECT_TRUE(q.TakeEnded().empty());
}

TEST(HandlerQueue, PastTheBoundTheOldestWaitingRunIsDropped) {
  HandlerQueue q{Logger()};
  Effects out;
  q.Enqueue(kT0, MakeRun("running", 100), &out);
  for (uint64_t i = 1; i <= kHandlerRunsQueuedMax + 5; ++i) q.Enqueue(kT0, MakeRun(absl::StrCat("r", i), i), &out);
  EXPECT_EQ(q.queued(), kHandlerRunsQueuedMax);
  EXPECT_EQ(q.dropped(), 5u);
  // The five oldest waiting were dropped (their owners told); the running one is untouched.
  EXPECT_EQ(q.TakeEnded(), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  Effects next;
  q.HandleProcessExit(kT0, Exit(1), &next);
  ASSERT_EQ(next.processes.size(), 1u);
  EXPECT_EQ(next.processes[0].command, "r6");
}

TEST(HandlerQueue, TheByteBoundDropsTooButNeverTheNewest) {
  HandlerQueue q{Logger()};
  Effects out;
  q.Enqueue(kT0, MakeRun("running"), &out);
  HandlerRun big = MakeRun("big", 1);
  big.start.stdin_data.assign(kHandlerQueuedBytesMax / 2 + 1, 'x');
  q.Enqueue(kT0, big, &out);
  big.owner = 2;
  q.Enqueue(kT0, big, &out);  // two halves and more: the first goes
  EXPECT_EQ(q.queued(), 1u);
  EXPECT_EQ(q.TakeEnded(), (std::vector<uint64_t>{1}));
  HandlerRun huge = MakeRun("huge", 3);
  huge.start.stdin_data.assign(kHandlerQueuedBytesMax + 1, 'y');
  q.Enqueue(kT0, huge, &out);  // alone over the bound: still queued, the older one dropped
  EXPECT_EQ(q.queued(), 1u);
  EXPECT_EQ(q.TakeEnded(), (std::vector<uint64_t>{2}));
}

TEST(HandlerQueue, FailuresTimeoutsAndHttpStatusesAreCounted) {
  HandlerQueue q{Logger()};
  Effects out;
  q.Enqueue(kT0, MakeRun("fails"), &out);
  HandlerRun http = MakeRun("http");
  http.start.kind = ProcessStart::Kind::kHttp;
  q.Enqueue(kT0, http, &out);
  q.Enqueue(kT0, http, &out);
  q.Enqueue(kT0, MakeRun("slow"), &out);
  q.Enqueue(kT0, MakeRun("ok"), &out);
  Effects next;
  q.HandleProcessExit(kT0, Exit(1, 2), &next);       // exit 2
  q.HandleProcessExit(kT0, Exit(2, 500), &next);     // HTTP 500
  q.HandleProcessExit(kT0, Exit(3, 204), &next);     // HTTP 204: fine
  q.HandleProcessExit(kT0, Exit(4, 0, true), &next); // timed out
  q.HandleProcessExit(kT0, Exit(5, 0), &next);
  EXPECT_EQ(q.failed(), 3u);
  EXPECT_EQ(q.started(), 5u);
  EXPECT_FALSE(q.running());
  EXPECT_TRUE(q.TakeEnded().empty());  // owner 0: nobody to tell, nothing kept (no watch drains it)
}

}  // namespace
}  // namespace muster::agent
