// The commands' test fixture: a transport answering from canned JSON (no sockets) and an
// Environment of strings around it, so each test states the requests a command makes (method,
// path, query, body, token), what it prints and where, and its exit code.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cmd/cli/child_process.h"
#include "cmd/cli/cli.h"
#include "cmd/cli/environment.h"
#include "gtest/gtest.h"

namespace muster::cli {

// Answers "METHOD target" from a table; records every request. Unknown requests get 404.
class CannedTransport : public HttpTransport {
 public:
  void Answer(const std::string& method_target, int status, std::string body,
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    answers_[method_target] = HttpResponse{status, std::move(body), std::move(headers)};
  }
  // Answers requests for this "METHOD path" (whatever their query) in turn, the last one again
  // and again once the others are used: a blocking query's successive answers.
  void AnswerInTurn(const std::string& method_target, std::vector<HttpResponse> responses) {
    sequences_[method_target] = std::move(responses);
  }
  void Refuse() { refuse_ = true; }
  absl::StatusOr<HttpResponse> RoundTrip(const HttpAddress& to, const HttpRequest& request) override {
    requests.push_back(request);
    addresses.push_back(to.HostPort());
    if (refuse_) return absl::UnavailableError(absl::StrCat("dial tcp ", to.HostPort(), ": connect: connection refused"));
    const std::string path = request.target.substr(0, request.target.find('?'));
    if (auto seq = sequences_.find(request.method + " " + path); seq != sequences_.end()) {
      HttpResponse next = seq->second.front();
      if (seq->second.size() > 1) seq->second.erase(seq->second.begin());
      return next;
    }
    auto it = answers_.find(request.method + " " + request.target);
    if (it == answers_.end()) return HttpResponse{404, ""};
    return it->second;
  }
  std::vector<HttpRequest> requests;
  std::vector<std::string> addresses;

 private:
  std::map<std::string, HttpResponse> answers_;
  std::map<std::string, std::vector<HttpResponse>> sequences_;
  bool refuse_ = false;
};

// A child that ends after a number of polls (or only when signalled, if never), as scripted.
struct FakeChildScript {
  int polls_until_exit = 0;  // < 0: runs until signalled
  ChildExit exit;
  bool exits_on_signal = true;  // false: ignores SIGTERM (only SIGKILL ends it)
};

class FakeChild : public ChildProcess {
 public:
  FakeChild(FakeChildScript script, std::vector<int>* signals) : script_(script), signals_(signals) {}
  int pid() const override { return 4242; }
  std::optional<ChildExit> Poll() override {
    if (ended_) return ended_;
    if (script_.polls_until_exit >= 0 && polls_++ >= script_.polls_until_exit) ended_ = script_.exit;
    return ended_;
  }
  void Signal(int signal) override {
    signals_->push_back(signal);
    if (!ended_ && (script_.exits_on_signal || signal == 9)) ended_ = ChildExit{0, signal};
  }

 private:
  FakeChildScript script_;
  std::vector<int>* signals_;
  int polls_ = 0;
  std::optional<ChildExit> ended_;
};

class CliTest : public ::testing::Test {
 protected:
  CliTest() {
    env_.out = &out_;
    env_.err = &err_;
    env_.getenv = [this](const std::string& name) -> std::optional<std::string> {
      auto it = vars_.find(name);
      if (it == vars_.end()) return std::nullopt;
      return it->second;
    };
    env_.read_stdin = [this]() -> absl::StatusOr<std::string> { return stdin_; };
    env_.read_file = [](const std::string& path) -> absl::StatusOr<std::string> {
      if (path == "license.lic") return std::string("file contents\n");
      return absl::NotFoundError(absl::StrCat("open ", path, ": no such file or directory"));
    };
    env_.transport = &transport_;
    env_.now = [this]() { return now_; };
    env_.sleep = [this](absl::Duration d) {
      sleeps_.push_back(d);
      now_ += d;
      if (on_sleep_) on_sleep_();
    };
    env_.start_child = [this](const ChildSpec& spec) -> absl::StatusOr<std::unique_ptr<ChildProcess>> {
      children_.push_back(spec);
      if (!child_start_error_.ok()) return child_start_error_;
      FakeChildScript script = child_scripts_.empty() ? FakeChildScript{} : child_scripts_.front();
      if (!child_scripts_.empty()) child_scripts_.erase(child_scripts_.begin());
      return std::make_unique<FakeChild>(script, &child_signals_);
    };
    env_.catch_interrupts = [this]() { interrupts_caught_ = true; };
    env_.interrupted = [this]() { return interrupted_ || (stop_when_ && stop_when_()); };
  }
  int Cli(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    transport_.requests.clear();
    transport_.addresses.clear();
    children_.clear();
    child_signals_.clear();
    sleeps_.clear();
    return RunArgs(args, env_);
  }
  std::string Out() const { return out_.str(); }
  std::string Err() const { return err_.str(); }
  const HttpRequest& OnlyRequest() const {
    EXPECT_EQ(transport_.requests.size(), 1u);
    return transport_.requests.back();
  }

  CannedTransport transport_;
  Environment env_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  std::vector<absl::Duration> sleeps_;
  std::function<void()> on_sleep_;
  std::vector<ChildSpec> children_;
  std::vector<FakeChildScript> child_scripts_;
  std::vector<int> child_signals_;
  absl::Status child_start_error_;
  bool interrupts_caught_ = false;
  bool interrupted_ = false;
  std::function<bool()> stop_when_;
  std::ostringstream out_, err_;
  std::map<std::string, std::string> vars_;
  std::string stdin_;
};

}  // namespace muster::cli
