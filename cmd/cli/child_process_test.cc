// Real children through StartChildProcess: exit statuses and signals as Go words them, stdin
// handed over from memory (more than a pipe holds, to a child that never reads it too), the
// extra environment, /dev/null as the default stdin, and a missing program.
#include "cmd/cli/child_process.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace muster::cli {
namespace {

ChildExit WaitFor(ChildProcess& child) {
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (absl::Now() < give_up) {
    if (std::optional<ChildExit> exit = child.Poll()) return *exit;
    absl::SleepFor(absl::Milliseconds(5));
  }
  ADD_FAILURE() << "child still running";
  child.Signal(SIGKILL);
  return ChildExit{-1, 0};
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name, "-", getpid());
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(ChildProcessTest, ExitStatusAndSignalAsGoWordsThem) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = StartChildProcess({{"/bin/sh", "-c", "exit 3"}});
  ASSERT_TRUE(child.ok()) << child.status();
  ChildExit exit = WaitFor(**child);
  EXPECT_EQ(exit.code, 3);
  EXPECT_FALSE(exit.ok());
  EXPECT_EQ(exit.GoText(), "exit status 3");
  child = StartChildProcess({{"/bin/sh", "-c", "sleep 30"}});
  ASSERT_TRUE(child.ok());
  (*child)->Signal(SIGTERM);
  exit = WaitFor(**child);
  EXPECT_EQ(exit.signal, SIGTERM);
  EXPECT_EQ(exit.GoText(), "signal: terminated");
  EXPECT_TRUE((*child)->Poll().has_value());  // stays ended
}

TEST(ChildProcessTest, StdinFromMemoryAndExtraEnvironment) {
  const std::string out = TempPath("child-stdin");
  ChildSpec spec;
  spec.argv = {"/bin/sh", "-c", absl::StrCat("cat > ", out, "; echo \"$CONSUL_INDEX\" >> ", out)};
  spec.extra_env = {{"CONSUL_INDEX", "42"}};
  spec.stdin_data = std::string(200000, 'x');  // past a pipe's 64 KiB
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = StartChildProcess(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_TRUE(WaitFor(**child).ok());
  EXPECT_EQ(ReadAll(out), absl::StrCat(std::string(200000, 'x'), "42\n"));
  // A child that never reads its input still starts and ends.
  spec.argv = {"/bin/sh", "-c", "exit 0"};
  child = StartChildProcess(spec);
  ASSERT_TRUE(child.ok());
  EXPECT_TRUE(WaitFor(**child).ok());
  unlink(out.c_str());
}

TEST(ChildProcessTest, DefaultStdinIsDevNullAndMissingProgramsFail) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      StartChildProcess({{"/bin/sh", "-c", "test \"$(wc -c)\" = 0"}});
  ASSERT_TRUE(child.ok());
  EXPECT_TRUE(WaitFor(**child).ok());
  child = StartChildProcess({{"/nonexistent/muster-no-such-program"}});
  EXPECT_FALSE(child.ok());
  EXPECT_EQ(child.status().message(), "fork/exec /nonexistent/muster-no-such-program: No such file or directory");
}

}  // namespace
}  // namespace muster::cli
