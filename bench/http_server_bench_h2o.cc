// The comparison server for bench/http_server_bench: H2O 2.2 (Debian libh2o-dev, libuv
// flavour) serving the same trivial answer on its own libuv loop, so the two parsers are
// measured under the same load. Runs until killed (SIGINT/SIGTERM end it by default).
//
//   bazel-bin/bench/http_server_bench_h2o [port]   (default 18501, on 127.0.0.1)
#include <h2o.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

h2o_globalconf_t config;
h2o_context_t context;
h2o_accept_ctx_t accept_context;

int OnRequest(h2o_handler_t*, h2o_req_t* request) {
  request->res.status = 200;
  request->res.reason = "OK";
  request->res.content_length = 6;  // as ours: Content-Length, not a chunked body
  h2o_add_header(&request->pool, &request->res.headers, H2O_TOKEN_CONTENT_TYPE, nullptr,
                 H2O_STRLIT("text/plain"));
  h2o_send_inline(request, H2O_STRLIT("hello\n"));
  return 0;
}

void OnClosed(uv_handle_t* handle) { std::free(handle); }

void OnConnection(uv_stream_t* listener, int status) {
  if (status != 0) return;
  auto* connection = static_cast<uv_tcp_t*>(std::malloc(sizeof(uv_tcp_t)));
  uv_tcp_init(listener->loop, connection);
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(connection)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(connection), &OnClosed);
    return;
  }
  uv_tcp_nodelay(connection, 1);
  h2o_socket_t* socket = h2o_uv_socket_create(reinterpret_cast<uv_stream_t*>(connection), &OnClosed);
  h2o_accept(&accept_context, socket);
}

}  // namespace

int main(int argc, char** argv) {
  int port = argc > 1 ? std::atoi(argv[1]) : 18501;
  h2o_config_init(&config);
  h2o_hostconf_t* host =
      h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t* path = h2o_config_register_path(host, "/", 0);
  h2o_handler_t* handler = h2o_create_handler(path, sizeof(*handler));
  handler->on_req = &OnRequest;

  uv_loop_t* loop = uv_default_loop();
  h2o_context_init(&context, loop, &config);
  accept_context.ctx = &context;
  accept_context.hosts = config.hosts;

  uv_tcp_t listener;
  sockaddr_in addr;
  uv_tcp_init(loop, &listener);
  uv_ip4_addr("127.0.0.1", port, &addr);
  int rc = uv_tcp_bind(&listener, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 1024, &OnConnection);
  if (rc != 0) {
    std::fprintf(stderr, "http_server_bench_h2o: listen on port %d: %s\n", port, uv_strerror(rc));
    return 1;
  }
  std::fprintf(stderr, "http_server_bench_h2o: H2O serving on 127.0.0.1:%d\n", port);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
