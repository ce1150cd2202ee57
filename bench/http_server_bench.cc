// Serves a trivial handler with muster's HTTP server (io/http) so its throughput and latency
// can be measured with a load generator (wrk); bench/http_server_bench.sh runs it beside the
// H2O comparison server (http_server_bench_h2o.cc). Runs until SIGINT or SIGTERM.
//
//   bazel-bin/bench/http_server_bench [host:port]   (default 127.0.0.1:18500)
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <string>

#include "io/http/server.h"

namespace {

struct Stopper {
  uv_signal_t interrupt;
  uv_signal_t terminate;
  muster::io::http::Server* server;
};

void OnSignal(uv_signal_t* signal, int) {
  auto* stopper = static_cast<Stopper*>(signal->data);
  uv_signal_stop(&stopper->interrupt);
  uv_signal_stop(&stopper->terminate);
  uv_close(reinterpret_cast<uv_handle_t*>(&stopper->interrupt), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&stopper->terminate), nullptr);
  stopper->server->Stop([] {});
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = argc > 1 ? argv[1] : "127.0.0.1:18500";
  uv_loop_t* loop = uv_default_loop();
  muster::io::http::ServerOptions options;
  options.connections_max = 16384;
  muster::io::http::Server server(
      loop, options, [](muster::io::http::Request, muster::io::http::Responder responder) {
        responder.Respond(200, "hello\n");
      });
  absl::Status status = server.Listen(address);
  if (!status.ok()) {
    std::fprintf(stderr, "http_server_bench: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  Stopper stopper;
  stopper.server = &server;
  uv_signal_init(loop, &stopper.interrupt);
  uv_signal_init(loop, &stopper.terminate);
  stopper.interrupt.data = &stopper;
  stopper.terminate.data = &stopper;
  uv_signal_start(&stopper.interrupt, &OnSignal, SIGINT);
  uv_signal_start(&stopper.terminate, &OnSignal, SIGTERM);
  std::fprintf(stderr, "http_server_bench: muster io/http serving on %s\n", address.c_str());
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
