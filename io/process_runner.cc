#include "io/process_runner.h"

#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/check.h"

extern char** environ;

namespace muster::io {

struct ProcessRunner::Running {
  ProcessRunner* owner = nullptr;
  uint64_t id = 0;
  Done done;
  uv_process_t process;
  uv_pipe_t stdin_pipe, stdout_pipe, stderr_pipe;
  uv_timer_t timer;
  uv_write_t stdin_write;
  std::string stdin_data;
  std::string output;
  int handles_open = 0;
  bool process_initialised = false;  // uv_spawn was called (it initialises the handle even when it fails)
  bool exited = false;
  bool timed_out = false;
  int64_t exit_code = 0;
  int pid = 0;
  char read_buffer[4096];
};

ProcessRunner::ProcessRunner(uv_loop_t* loop) : loop_(loop), probes_(loop) {}

ProcessRunner::~ProcessRunner() {
  MUSTER_CHECK(running_.empty(), "destroy a ProcessRunner only when nothing runs (KillAll, then run the loop)");
}

namespace {

template <typename H>
uv_handle_t* AsHandle(H* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

void AppendOutput(std::string& output, const char* data, size_t size) {
  const size_t room = ProcessRunner::kOutputBytesMax - std::min(output.size(), ProcessRunner::kOutputBytesMax);
  output.append(data, std::min(size, room));
}

}  // namespace

void ProcessRunner::Start(const ProcessStart& start, Done done) {
  if (start.kind == ProcessStart::Kind::kHttp || start.kind == ProcessStart::Kind::kTcp) {
    probes_.Start(start, std::move(done));
    return;
  }
  auto owned = std::make_unique<Running>();
  Running* r = owned.get();
  r->owner = this;
  r->id = start.id;
  r->done = std::move(done);
  r->stdin_data = start.stdin_data;

  // The child's environment: ours, then the machine's variables (which win).
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& [k, v] : start.env) env_strings.push_back(absl::StrCat(k, "=", v));
  std::vector<char*> env;
  for (std::string& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);

  // kShell: /bin/sh -c command. kExec: the arguments as given, argv[0] looked up in PATH (the
  // child's PATH: libuv execs with execvp after setting the environment above).
  std::vector<std::string> arg_strings;
  if (start.kind == ProcessStart::Kind::kExec) {
    arg_strings = start.args;
  } else {
    arg_strings = {"/bin/sh", "-c", start.command};
  }
  std::vector<char*> args;
  for (std::string& a : arg_strings) args.push_back(a.data());
  args.push_back(nullptr);

  uv_pipe_init(loop_, &r->stdin_pipe, 0);
  uv_pipe_init(loop_, &r->stdout_pipe, 0);
  uv_pipe_init(loop_, &r->stderr_pipe, 0);
  uv_timer_init(loop_, &r->timer);
  r->stdin_pipe.data = r->stdout_pipe.data = r->stderr_pipe.data = r->timer.data = r->process.data = r;
  r->handles_open = 4;

  uv_stdio_container_t stdio[3];
  stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
  stdio[0].data.stream = reinterpret_cast<uv_stream_t*>(&r->stdin_pipe);
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&r->stdout_pipe);
  stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&r->stderr_pipe);

  uv_process_options_t options{};
  options.file = arg_strings.empty() ? "" : arg_strings[0].c_str();
  options.args = args.data();
  options.env = env.data();
  options.stdio = stdio;
  options.stdio_count = 3;
  // Its own process group, so a timeout kills the script's children too.
  options.flags = UV_PROCESS_DETACHED;
  options.exit_cb = [](uv_process_t* p, int64_t exit_status, int term_signal) {
    auto* run = static_cast<Running*>(p->data);
    run->exited = true;
    run->exit_code = term_signal != 0 ? 128 + term_signal : exit_status;
    uv_timer_stop(&run->timer);
    run->owner->Finish(run);
  };

  running_[r] = std::move(owned);
  // An empty argument list is refused here: uv_spawn would fail the same way, less clearly.
  const int rc = arg_strings.empty() ? UV_EINVAL : uv_spawn(loop_, &r->process, &options);
  if (rc != 0) {
    r->exited = true;
    // A shell answers 127 for a command it cannot find (126 for one it cannot run); a program
    // we could not exec gets the same, with the reason as its output.
    r->exit_code = 127;
    if (arg_strings.empty()) {
      r->output = "cannot start a process with no arguments (args is empty)";
    } else if (rc == UV_ENOENT) {
      r->output = absl::StrCat("cannot start \"", arg_strings[0], "\": not found in PATH (", uv_strerror(rc), ")");
    } else {
      r->output = absl::StrCat("cannot start \"", arg_strings[0], "\": ", uv_strerror(rc));
    }
    // uv_spawn initialised the process handle even on failure; it must be closed too.
    if (!arg_strings.empty()) {
      r->process_initialised = true;
      r->handles_open++;
    }
    Finish(r);
    return;
  }
  r->process_initialised = true;
  r->handles_open++;  // the process handle
  r->pid = r->process.pid;

  auto on_alloc = [](uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* run = static_cast<Running*>(h->data);
    *buf = uv_buf_init(run->read_buffer, sizeof(run->read_buffer));
  };
  auto on_read = [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* run = static_cast<Running*>(s->data);
    if (n > 0) AppendOutput(run->output, buf->base, static_cast<size_t>(n));
    if (n < 0) uv_read_stop(s);
  };
  uv_read_start(reinterpret_cast<uv_stream_t*>(&r->stdout_pipe), on_alloc, on_read);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&r->stderr_pipe), on_alloc, on_read);

  // Standard input: write it, then close the pipe so the child sees end of file.
  uv_buf_t buf = uv_buf_init(r->stdin_data.data(), static_cast<unsigned>(r->stdin_data.size()));
  r->stdin_write.data = r;
  if (r->stdin_data.empty() ||
      uv_write(&r->stdin_write, reinterpret_cast<uv_stream_t*>(&r->stdin_pipe), &buf, 1, [](uv_write_t* w, int) {
        auto* run = static_cast<Running*>(w->data);
        uv_shutdown_t* req = new uv_shutdown_t;
        if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&run->stdin_pipe), [](uv_shutdown_t* q, int) { delete q; }) != 0) {
          delete req;
        }
      }) != 0) {
    uv_shutdown_t* req = new uv_shutdown_t;
    if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&r->stdin_pipe), [](uv_shutdown_t* q, int) { delete q; }) != 0) {
      delete req;
    }
  }

  const uint64_t timeout_ms = static_cast<uint64_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(start.timeout)));
  uv_timer_start(&r->timer, [](uv_timer_t* t) {
    auto* run = static_cast<Running*>(t->data);
    run->timed_out = true;
    if (run->pid > 0) kill(-run->pid, SIGKILL);
  }, timeout_ms, 0);
}

void ProcessRunner::Finish(Running* r) {
  // The process has exited; close every handle, and report once they are all closed, so
  // the output read so far is complete up to the limit.
  auto on_closed = [](uv_handle_t* h) {
    auto* run = static_cast<Running*>(h->data);
    if (--run->handles_open > 0) return;
    ProcessRunner* self = run->owner;
    ProcessExitedInput result;
    result.process_id = run->id;
    result.exit_code = static_cast<int>(run->exit_code);
    result.timed_out = run->timed_out;
    result.output = std::move(run->output);
    Done done = std::move(run->done);
    self->running_.erase(run);
    done(std::move(result));
  };
  for (uv_handle_t* h : {AsHandle(&r->stdin_pipe), AsHandle(&r->timer), AsHandle(&r->process)}) {
    if (h == AsHandle(&r->process) && !r->process_initialised) continue;
    if (!uv_is_closing(h)) uv_close(h, on_closed);
  }
  // Drain what the child wrote before closing the output pipes.
  for (uv_pipe_t* p : {&r->stdout_pipe, &r->stderr_pipe}) {
    int fd = -1;
    while (uv_fileno(AsHandle(p), &fd) == 0) {
      char chunk[4096];
      const ssize_t n = read(fd, chunk, sizeof(chunk));  // non-blocking: stops at EAGAIN
      if (n <= 0) break;
      AppendOutput(r->output, chunk, static_cast<size_t>(n));
    }
    if (!uv_is_closing(AsHandle(p))) uv_close(AsHandle(p), on_closed);
  }
}

void ProcessRunner::KillAll() {
  probes_.CancelAll();
  for (auto& [r, owned] : running_) {
    if (!r->exited && r->pid > 0) kill(-r->pid, SIGKILL);
  }
}

}  // namespace muster::io
