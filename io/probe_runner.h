// Runs the probes of HTTP and TCP health checks (ProcessStart kinds kHttp and kTcp) on the
// host's libuv loop: no thread per probe and no blocking call. HTTP goes through libcurl's
// multi-socket API, its sockets and timer driven by libuv (libcurl opened at the first HTTP
// probe, io/curl_library.h); TCP is a uv_tcp_connect. Host names
// are resolved with uv_getaddrinfo (libuv's small thread pool), and an HTTP probe hands the
// addresses to curl (CURLOPT_RESOLVE), so curl starts no resolver thread of its own.
//
// What a probe reports (ProcessExitedInput, exactly once per Start, never inside Start):
//   - kHttp: exit_code is the HTTP status of the answer (after up to 10 redirects, as Go's
//     client that Consul uses follows them) and output its body, of which at most
//     kBodyBytesMax is read (the connection is dropped after); the agent words Consul's
//     "HTTP GET <url>: 200 OK Output: <body>" from them (core/agent/check_state.cc). With no
//     answer (refused, name unknown, TLS failure, timeout, no libcurl) exit_code is 0 and output
//     "HTTP GET <url>: <why>". A timeout sets timed_out.
//   - kTcp: exit_code 0 and "TCP connect <address>: Success" once connected (then closed), 1
//     with the reason otherwise; every resolved address is tried in turn within the timeout.
//   - output is cut at kOutputBytesMax.
// Bounds (Limits): at most probes_active_max probes hold sockets at once; the rest wait in
// order, up to probes_queued_max (past it a probe ends at once, not run). A probe's timeout runs from Start,
// so one that waited too long in the queue ends timed out without running.
#pragma once

#include <curl/curl.h>
#include <uv.h>

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/seam/effects.h"
#include "core/seam/input.h"
#include "io/curl_library.h"

namespace muster::io {

class ProbeRunner {
 public:
  using Done = std::function<void(ProcessExitedInput)>;
  // Consul keeps 4 KiB of a check's output, and reads no more than that of an HTTP body.
  static constexpr size_t kOutputBytesMax = 4096;
  static constexpr size_t kBodyBytesMax = 4096;
  struct Limits {
    // Sockets held at once by probes (each HTTP or TCP probe holds one while it runs); the
    // process's descriptor limit and the host's own sockets must fit beside them.
    size_t probes_active_max = 256;
    // Probes waiting for a slot: thousands of checks on a short interval fit many times over.
    size_t probes_queued_max = 65536;
  };

  explicit ProbeRunner(uv_loop_t* loop);
  ProbeRunner(uv_loop_t* loop, Limits limits);
  // Only when running() is 0 (CancelAll, then run the loop until it is).
  ~ProbeRunner();
  ProbeRunner(const ProbeRunner&) = delete;
  ProbeRunner& operator=(const ProbeRunner&) = delete;

  // `start.kind` is kHttp or kTcp. `done` runs exactly once, from the loop, never from Start.
  void Start(const ProcessStart& start, Done done);
  // Ends every probe (with a "cancelled" output); their `done` callbacks run on the next loop
  // turn, once their handles are closed.
  void CancelAll();
  // Probes not yet reported. At 0 the runner holds no open handle; a closing one, or a name
  // lookup still in libuv's thread pool, ends on its own as the loop runs (uv_run).
  size_t running() const { return probes_.size(); }
  size_t active() const { return active_; }
  size_t queued() const { return queue_.size(); }

 private:
  struct Probe;
  struct CurlSocket;

  void PumpQueue();
  void Activate(Probe* p);
  void StartHttp(Probe* p);
  void StartTcp(Probe* p);
  void Resolve(Probe* p);
  void OnResolved(Probe* p, int status, struct addrinfo* result);
  void OnDeadline(Probe* p);
  void ConnectNextTcp(Probe* p);
  void TcpAttemptFailed(Probe* p, int status);
  static void OnTcpClosed(uv_handle_t* h);
  void AddCurlTransfer(Probe* p);
  void ReadCurlMessages();
  void FinishHttp(Probe* p, bool deadline_passed, CURLcode code);
  static ProcessExitedInput NoAnswer(const Probe* p, const std::string& why, bool timed_out);
  // Decides the result and releases what the probe holds; the result is reported once its
  // handles are closed (a later loop turn: never inside Start or CancelAll).
  void Finish(Probe* p, ProcessExitedInput result);
  void MaybeRelease(Probe* p);
  bool EnsureMulti(std::string* why);
  void EnsureCurlTimer();
  void MaybeCloseCurlTimer();

  static int OnCurlSocket(CURL* easy, curl_socket_t fd, int what, void* runner, void* socket_context);
  static int OnCurlTimer(CURLM* multi, long timeout_ms, void* runner);  // NOLINT(runtime/int): curl's type

  uv_loop_t* const loop_;
  const Limits limits_;
  const CurlLibrary* curl_ = nullptr;  // opened at the first HTTP probe
  CURLM* multi_ = nullptr;             // made at the first HTTP probe
  uv_timer_t* curl_timer_ = nullptr;  // open only while HTTP transfers run
  size_t http_transfers_ = 0;         // easy handles in multi_
  absl::flat_hash_set<CurlSocket*> curl_sockets_;
  absl::flat_hash_map<Probe*, std::unique_ptr<Probe>> probes_;
  std::list<Probe*> queue_;
  size_t active_ = 0;
  bool pumping_ = false;
};

}  // namespace muster::io
