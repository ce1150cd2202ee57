// Runs the processes that core machines ask for (script checks, event handlers) with
// uv_spawn: `/bin/sh -c command` (kShell) or the arguments themselves with no shell (kExec,
// argv[0] looked up in PATH), the given environment added to ours, the given standard
// input, stdout and stderr captured together up to a limit, and a timeout after which the
// whole process group is killed (a check script's children must not outlive it). HTTP and TCP
// probes (kHttp, kTcp) it hands to its ProbeRunner, so the host has one runner for every
// ProcessStart.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "core/seam/effects.h"
#include "core/seam/input.h"
#include "io/probe_runner.h"

namespace muster::io {

class ProcessRunner {
 public:
  using Done = std::function<void(ProcessExitedInput)>;
  // Consul keeps 4 KiB of a check's output by default.
  static constexpr size_t kOutputBytesMax = 4096;

  explicit ProcessRunner(uv_loop_t* loop);
  ~ProcessRunner();

  // Starts the process; `done` runs exactly once, on exit, timeout or failure to start
  // (exit code 127, with the reason as output, as a shell reports a missing command).
  void Start(const ProcessStart& start, Done done);
  // Kills everything still running and cancels the probes; their `done` callbacks still run.
  void KillAll();
  size_t running() const { return running_.size() + probes_.running(); }
  const ProbeRunner& probes() const { return probes_; }

 private:
  struct Running;
  void Finish(Running* r);

  uv_loop_t* loop_;
  absl::flat_hash_map<Running*, std::unique_ptr<Running>> running_;
  ProbeRunner probes_;
};

}  // namespace muster::io
