#include "io/process_runner.h"

#include <optional>

#include "gtest/gtest.h"

namespace muster::io {
namespace {

class ProcessRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override {
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle leaked";
  }

  ProcessExitedInput Run(ProcessStart start) {
    ProcessRunner runner(&loop_);
    std::optional<ProcessExitedInput> result;
    runner.Start(start, [&](ProcessExitedInput r) { result = std::move(r); });
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_TRUE(result.has_value());
    return result.value_or(ProcessExitedInput{});
  }

  uv_loop_t loop_;
};

TEST_F(ProcessRunnerTest, EnvironmentAndStdinReachTheScript) {
  ProcessStart p;
  p.id = 7;
  p.command = "echo \"event=$SERF_EVENT\"; cat";
  p.env = {{"SERF_EVENT", "member-join"}};
  p.stdin_data = "n1\t127.0.0.1\tserver\t\n";
  ProcessExitedInput r = Run(p);
  EXPECT_EQ(r.process_id, 7u);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.output, "event=member-join\nn1\t127.0.0.1\tserver\t\n");
}

TEST_F(ProcessRunnerTest, ExitCodeAndStderrAreReported) {
  ProcessStart p;
  p.command = "echo warn >&2; exit 1";
  ProcessExitedInput r = Run(p);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, "warn\n");
}

TEST_F(ProcessRunnerTest, TimeoutKillsTheWholeProcessGroup) {
  ProcessStart p;
  p.command = "sleep 30 & sleep 30";
  p.timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  ProcessExitedInput r = Run(p);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + 9);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "the background child kept the pipes open";
}

TEST_F(ProcessRunnerTest, OutputIsCappedAt4KiB) {
  ProcessStart p;
  p.command = "head -c 100000 /dev/zero | tr '\\0' a";
  ProcessExitedInput r = Run(p);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output.size(), ProcessRunner::kOutputBytesMax);
}

TEST_F(ProcessRunnerTest, MissingCommandIs127) {
  ProcessStart p;
  p.command = "/nonexistent/check-script";
  ProcessExitedInput r = Run(p);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.output.find("not found"), std::string::npos) << r.output;
}

TEST_F(ProcessRunnerTest, ExecRunsArgumentsWithoutAShell) {
  ProcessStart p;
  p.kind = ProcessStart::Kind::kExec;
  // No shell: "$HOME" and the quote reach the program as they are, looked up in PATH.
  p.args = {"printf", "%s|%s", "$HOME", "it's"};
  ProcessExitedInput r = Run(p);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "$HOME|it's");
}

TEST_F(ProcessRunnerTest, ExecReportsTheExitCodeEnvironmentAndStdin) {
  ProcessStart p;
  p.kind = ProcessStart::Kind::kExec;
  p.args = {"/bin/sh", "-c", "echo \"$CHECK_ID\"; cat; exit 3"};
  p.env = {{"CHECK_ID", "web"}};
  p.stdin_data = "in";
  ProcessExitedInput r = Run(p);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.output, "web\nin");
}

TEST_F(ProcessRunnerTest, ExecOfAMissingProgramIs127) {
  ProcessStart p;
  p.kind = ProcessStart::Kind::kExec;
  p.args = {"muster-no-such-check-program", "--flag"};
  ProcessExitedInput r = Run(p);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.output.find("\"muster-no-such-check-program\": not found"), std::string::npos) << r.output;
}

TEST_F(ProcessRunnerTest, ExecWithNoArgumentsIs127) {
  ProcessStart p;
  p.kind = ProcessStart::Kind::kExec;
  ProcessExitedInput r = Run(p);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.output.find("no arguments"), std::string::npos) << r.output;
}

TEST_F(ProcessRunnerTest, ExecTimeoutKillsTheProgram) {
  ProcessStart p;
  p.kind = ProcessStart::Kind::kExec;
  p.args = {"sleep", "30"};
  p.timeout = absl::Milliseconds(100);
  ProcessExitedInput r = Run(p);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + 9);
}

}  // namespace
}  // namespace muster::io
