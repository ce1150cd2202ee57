#include "io/probe_runner.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "core/base/check.h"
#include "io/socket_address.h"

namespace muster::io {

struct ProbeRunner::CurlSocket {
  ProbeRunner* owner = nullptr;
  curl_socket_t fd = CURL_SOCKET_BAD;
  uv_poll_t poll;
};

// A name lookup in libuv's thread pool. It may finish after its probe has ended (a lookup
// already running cannot be cancelled); then `probe` is null and the callback only frees it.
struct PendingResolve {
  ProbeRunner* owner = nullptr;
  void* probe = nullptr;  // ProbeRunner::Probe*, or null once the probe no longer waits for it
  uv_getaddrinfo_t request;
};

struct ProbeRunner::Probe {
  enum class State : uint8_t {
    kQueued,     // waiting for a slot
    kResolving,  // active: looking its host name up
    kRunning,    // active: connecting (TCP) or transferring (HTTP)
    kDone,       // result decided; reported once its handles are closed
  };
  ProbeRunner* owner = nullptr;
  ProcessStart start;
  Done done;
  State state = State::kQueued;
  std::list<Probe*>::iterator queued_at;
  ProcessExitedInput result;
  int handles_open = 0;  // the deadline timer and the TCP socket, open or closing
  uv_timer_t deadline;
  uint64_t deadline_ms = 0;  // on the loop's clock (uv_now)
  PendingResolve* resolve = nullptr;
  // The host named by the start, and the addresses to try (TCP) or to give curl (HTTP).
  std::string host;
  int port = 0;
  std::vector<sockaddr_storage> addresses;
  // TCP: the address being tried, and why the earlier ones failed.
  size_t next_address = 0;
  std::vector<std::string> errors;
  bool tcp_open = false;
  uv_tcp_t tcp;
  uv_connect_t connect;
  // HTTP
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* resolve_entries = nullptr;
  std::string body;
  bool body_cut = false;  // more body came than kBodyBytesMax; the transfer was dropped
  char error[CURL_ERROR_SIZE] = {0};
};

namespace {

template <typename H>
uv_handle_t* AsHandle(H* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

bool IsHttp(const ProcessStart& s) { return s.kind == ProcessStart::Kind::kHttp; }

std::string MethodOf(const ProcessStart& s) { return s.method.empty() ? "GET" : s.method; }

// An IP literal (IPv6 without brackets) as a socket address with `port`.
bool ParseIpLiteral(const std::string& host, int port, sockaddr_storage* out) {
  *out = {};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) return true;
  *out = {};
  return uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0;
}

// "host:port" or "[v6]:port" into the host (no brackets) and a port in 1-65535.
bool SplitHostPort(const std::string& address, std::string* host, int* port, std::string* why) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    *why = "not host:port";
    return false;
  }
  std::string h = address.substr(0, colon);
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') {
      *why = "an IPv6 host is written [host]:port";
      return false;
    }
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string::npos) {
    *why = "write an IPv6 host in brackets, [host]:port";
    return false;
  }
  if (!absl::SimpleAtoi(address.substr(colon + 1), port) || *port < 1 || *port > 65535) {
    *why = "no valid port (1-65535)";
    return false;
  }
  *host = std::move(h);
  return true;
}

// The address as curl's CURLOPT_RESOLVE writes it: IPv6 in brackets.
std::string ResolveEntryAddress(const sockaddr_storage& a) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (a.ss_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(&a), text, sizeof(text));
    return absl::StrCat("[", text, "]");
  }
  uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&a), text, sizeof(text));
  return text;
}

size_t OnCurlBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t bytes = size * count;
  const size_t room = ProbeRunner::kBodyBytesMax - std::min(body->size(), ProbeRunner::kBodyBytesMax);
  if (bytes <= room) {
    body->append(data, bytes);
    return bytes;
  }
  body->append(data, room);
  return CURL_WRITEFUNC_ERROR;  // stop reading: Consul keeps no more of a body than this
}

}  // namespace

ProbeRunner::ProbeRunner(uv_loop_t* loop) : ProbeRunner(loop, Limits()) {}

ProbeRunner::ProbeRunner(uv_loop_t* loop, Limits limits) : loop_(loop), limits_(limits) {
  MUSTER_CHECK(limits_.probes_active_max > 0, "probes_active_max must be at least 1");
}

// At the first HTTP probe, not before: libcurl is opened then (io/curl_library.h), and
// curl_global_init initializes OpenSSL, resident memory an agent without HTTP checks (an idle
// client) does not need. False, with the reason in *why, when libcurl cannot be opened.
bool ProbeRunner::EnsureMulti(std::string* why) {
  if (multi_ != nullptr) return true;
  absl::StatusOr<const CurlLibrary*> curl = OpenCurlLibrary();
  if (!curl.ok()) {
    *why = std::string(curl.status().message());
    return false;
  }
  curl_ = *curl;
  multi_ = curl_->multi_init();
  MUSTER_CHECK(multi_ != nullptr, "curl_multi_init failed");
  curl_->multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &ProbeRunner::OnCurlSocket);
  curl_->multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_->multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &ProbeRunner::OnCurlTimer);
  curl_->multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  return true;
}

ProbeRunner::~ProbeRunner() {
  MUSTER_CHECK(probes_.empty(), "destroy a ProbeRunner only when no probe runs (CancelAll, then run the loop)");
  // No transfer is left, so curl holds no socket; close whatever it did not hand back.
  for (CurlSocket* s : curl_sockets_) {
    curl_->multi_assign(multi_, s->fd, nullptr);
    uv_poll_stop(&s->poll);
    uv_close(AsHandle(&s->poll), [](uv_handle_t* h) { delete static_cast<CurlSocket*>(h->data); });
  }
  curl_sockets_.clear();
  if (curl_timer_ != nullptr) {
    uv_close(AsHandle(curl_timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    curl_timer_ = nullptr;
  }
  if (multi_ != nullptr) curl_->multi_cleanup(multi_);
}

void ProbeRunner::Start(const ProcessStart& start, Done done) {
  MUSTER_CHECK(start.kind == ProcessStart::Kind::kHttp || start.kind == ProcessStart::Kind::kTcp,
               "ProbeRunner runs HTTP and TCP probes only");
  auto owned = std::make_unique<Probe>();
  Probe* p = owned.get();
  p->owner = this;
  p->start = start;
  p->done = std::move(done);
  probes_[p] = std::move(owned);
  uv_timer_init(loop_, &p->deadline);
  p->deadline.data = p;
  p->handles_open = 1;
  const uint64_t timeout_ms = static_cast<uint64_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(start.timeout)));
  p->deadline_ms = uv_now(loop_) + timeout_ms;
  uv_timer_start(&p->deadline, [](uv_timer_t* t) {
    auto* probe = static_cast<Probe*>(t->data);
    probe->owner->OnDeadline(probe);
  }, timeout_ms, 0);

  if (queue_.size() >= limits_.probes_queued_max) {
    p->state = Probe::State::kDone;  // never queued: Finish must not take it off the queue
    Finish(p, NoAnswer(p, absl::StrCat("not run: ", limits_.probes_queued_max, " probes were already waiting"), false));
    return;
  }
  p->queued_at = queue_.insert(queue_.end(), p);
  PumpQueue();
}

void ProbeRunner::PumpQueue() {
  if (pumping_) return;  // an Activate that ends at once comes back here; the loop below goes on
  pumping_ = true;
  while (active_ < limits_.probes_active_max && !queue_.empty()) {
    Probe* p = queue_.front();
    if (uv_now(loop_) >= p->deadline_ms) {
      // Its deadline passed in this loop turn (its timer has not run yet): it ends as it
      // would have while waiting, and does not start.
      OnDeadline(p);
      continue;
    }
    queue_.pop_front();
    ++active_;
    p->state = Probe::State::kResolving;
    Activate(p);
  }
  pumping_ = false;
}

void ProbeRunner::Activate(Probe* p) {
  if (IsHttp(p->start)) {
    StartHttp(p);
  } else {
    StartTcp(p);
  }
}

void ProbeRunner::StartTcp(Probe* p) {
  std::string why;
  if (!SplitHostPort(p->start.address, &p->host, &p->port, &why)) {
    Finish(p, NoAnswer(p, why, false));
    return;
  }
  sockaddr_storage literal;
  if (ParseIpLiteral(p->host, p->port, &literal)) {
    p->addresses.push_back(literal);
    p->state = Probe::State::kRunning;
    ConnectNextTcp(p);
    return;
  }
  Resolve(p);
}

void ProbeRunner::StartHttp(Probe* p) {
  if (std::string why; !EnsureMulti(&why)) {  // curl opened before its first call
    Finish(p, NoAnswer(p, why, false));
    return;
  }
  // The host and port, to look the name up ourselves (curl would start a thread for it).
  CURLU* url = curl_->url();
  MUSTER_CHECK(url != nullptr, "curl_url: out of memory");
  CURLUcode rc = curl_->url_set(url, CURLUPART_URL, p->start.url.c_str(), 0);
  char* scheme = nullptr;
  char* host = nullptr;
  char* port = nullptr;
  if (rc == CURLUE_OK) rc = curl_->url_get(url, CURLUPART_SCHEME, &scheme, 0);
  if (rc == CURLUE_OK) rc = curl_->url_get(url, CURLUPART_HOST, &host, 0);
  if (rc == CURLUE_OK) rc = curl_->url_get(url, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
  std::string why;
  if (rc != CURLUE_OK) {
    why = absl::StrCat("invalid URL: ", curl_->url_strerror(rc));
  } else if (!absl::EqualsIgnoreCase(scheme, "http") && !absl::EqualsIgnoreCase(scheme, "https")) {
    why = absl::StrCat("unsupported protocol scheme \"", scheme, "\" (http and https only)");
  } else {
    p->host = std::string(absl::StripSuffix(absl::StripPrefix(host, "["), "]"));
    if (!absl::SimpleAtoi(port, &p->port)) why = absl::StrCat("invalid URL: bad port \"", port, "\"");
  }
  curl_->free(scheme);
  curl_->free(host);
  curl_->free(port);
  curl_->url_cleanup(url);
  if (!why.empty()) {
    Finish(p, NoAnswer(p, why, false));
    return;
  }
  // An IP literal needs no lookup; nor does an IPv6 one with a zone ("[fe80::1%25eth0]"),
  // which CURLOPT_RESOLVE could not name anyway: curl parses both without a thread.
  sockaddr_storage literal;
  if (ParseIpLiteral(p->host, p->port, &literal) || p->host.find(':') != std::string::npos) {
    AddCurlTransfer(p);
    return;
  }
  Resolve(p);
}

void ProbeRunner::Resolve(Probe* p) {
  auto* r = new PendingResolve;
  r->owner = this;
  r->probe = p;
  r->request.data = r;
  p->resolve = r;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const std::string service = absl::StrCat(p->port);
  auto on_resolved = [](uv_getaddrinfo_t* req, int status, addrinfo* result) {
    auto* pending = static_cast<PendingResolve*>(req->data);
    if (pending->probe != nullptr) {
      auto* probe = static_cast<Probe*>(pending->probe);
      probe->resolve = nullptr;
      pending->owner->OnResolved(probe, status, result);
    }
    uv_freeaddrinfo(result);
    delete pending;
  };
  if (int rc = uv_getaddrinfo(loop_, &r->request, on_resolved, p->host.c_str(), service.c_str(), &hints); rc != 0) {
    p->resolve = nullptr;
    delete r;
    Finish(p, NoAnswer(p, absl::StrCat("lookup ", p->host, ": ", uv_strerror(rc)), false));
  }
}

void ProbeRunner::OnResolved(Probe* p, int status, addrinfo* result) {
  if (p->state != Probe::State::kResolving) return;
  if (status == 0) {
    for (addrinfo* a = result; a != nullptr; a = a->ai_next) {
      if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
      sockaddr_storage s{};
      std::memcpy(&s, a->ai_addr, std::min<size_t>(a->ai_addrlen, sizeof(s)));
      p->addresses.push_back(s);
    }
  }
  if (status != 0 || p->addresses.empty()) {
    Finish(p, NoAnswer(p, absl::StrCat("lookup ", p->host, ": ", status != 0 ? uv_strerror(status) : "no address"), false));
    return;
  }
  if (IsHttp(p->start)) {
    std::vector<std::string> texts;
    for (const sockaddr_storage& a : p->addresses) texts.push_back(ResolveEntryAddress(a));
    const std::string entry = absl::StrCat(p->host, ":", p->port, ":", absl::StrJoin(texts, ","));
    p->resolve_entries = curl_->slist_append(p->resolve_entries, entry.c_str());
    AddCurlTransfer(p);
  } else {
    p->state = Probe::State::kRunning;
    ConnectNextTcp(p);
  }
}

void ProbeRunner::ConnectNextTcp(Probe* p) {
  if (p->next_address >= p->addresses.size()) {
    Finish(p, NoAnswer(p, absl::StrJoin(p->errors, "; "), false));
    return;
  }
  const sockaddr_storage& address = p->addresses[p->next_address++];
  uv_tcp_init(loop_, &p->tcp);
  p->tcp.data = p;
  p->tcp_open = true;
  ++p->handles_open;
  p->connect.data = p;
  auto on_connect = [](uv_connect_t* req, int status) {
    auto* probe = static_cast<Probe*>(req->data);
    if (status == UV_ECANCELED || probe->state != Probe::State::kRunning) return;  // closing already
    ProbeRunner* self = probe->owner;
    if (status == 0) {
      ProcessExitedInput r;
      r.exit_code = 0;
      r.output = absl::StrCat("TCP connect ", probe->start.address, ": Success");
      self->Finish(probe, std::move(r));
      return;
    }
    self->TcpAttemptFailed(probe, status);
  };
  if (int rc = uv_tcp_connect(&p->connect, &p->tcp, reinterpret_cast<const sockaddr*>(&address), on_connect); rc != 0) {
    TcpAttemptFailed(p, rc);
  }
}

void ProbeRunner::TcpAttemptFailed(Probe* p, int status) {
  const sockaddr_storage& tried = p->addresses[p->next_address - 1];
  // One address: the reason alone, as Consul words it; several: which one failed how.
  if (p->addresses.size() == 1) {
    p->errors.push_back(uv_strerror(status));
  } else {
    p->errors.push_back(absl::StrCat(FormatSocketAddress(reinterpret_cast<const sockaddr*>(&tried)), ": ", uv_strerror(status)));
  }
  // The next address is tried once this socket is closed (OnTcpClosed).
  uv_close(AsHandle(&p->tcp), &ProbeRunner::OnTcpClosed);
}

void ProbeRunner::OnTcpClosed(uv_handle_t* h) {
  auto* p = static_cast<Probe*>(h->data);
  p->tcp_open = false;
  --p->handles_open;
  if (p->state == Probe::State::kRunning) {
    p->owner->ConnectNextTcp(p);
  } else {
    p->owner->MaybeRelease(p);
  }
}

void ProbeRunner::AddCurlTransfer(Probe* p) {
  p->state = Probe::State::kRunning;
  CURL* easy = curl_->easy_init();
  if (easy == nullptr) {
    Finish(p, NoAnswer(p, "curl_easy_init failed", false));
    return;
  }
  p->easy = easy;
  const ProcessStart& s = p->start;
  curl_->easy_setopt(easy, CURLOPT_URL, s.url.c_str());
  curl_->easy_setopt(easy, CURLOPT_PRIVATE, p);
  curl_->easy_setopt(easy, CURLOPT_ERRORBUFFER, p->error);
  curl_->easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_->easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_->easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  // Go's client, which Consul's checks use, follows up to 10 redirects.
  curl_->easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
  curl_->easy_setopt(easy, CURLOPT_MAXREDIRS, 10L);
  // One connection per probe, closed after it (Consul's check transport keeps none alive):
  // no idle socket outlives its probe.
  curl_->easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
  curl_->easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
  curl_->easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));  // NOLINT(runtime/int)
  if (s.tls_skip_verify) {
    curl_->easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_->easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (p->resolve_entries != nullptr) curl_->easy_setopt(easy, CURLOPT_RESOLVE, p->resolve_entries);
  curl_->easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnCurlBody);
  curl_->easy_setopt(easy, CURLOPT_WRITEDATA, &p->body);
  // The method: GET and POST as curl sends them (so a redirect turns a POST into a GET as
  // Go's does), HEAD with no body awaited, any other as given. A body goes with any method.
  const std::string method = MethodOf(s);
  if (method == "HEAD") {
    curl_->easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (!s.body.empty() || method == "POST") {
    curl_->easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(s.body.size()));
    curl_->easy_setopt(easy, CURLOPT_POSTFIELDS, s.body.data());
    if (method != "POST") curl_->easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
  } else if (method != "GET") {
    curl_->easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  // Headers in the given order, then Consul's defaults for those not given. curl's own
  // Content-Type for a body and "Expect: 100-continue" are dropped: Go sends neither.
  bool has_user_agent = false, has_accept = false, has_content_type = false;
  for (const auto& [name, value] : s.headers) {
    has_user_agent |= absl::EqualsIgnoreCase(name, "User-Agent");
    has_accept |= absl::EqualsIgnoreCase(name, "Accept");
    has_content_type |= absl::EqualsIgnoreCase(name, "Content-Type");
    // "Name;" is curl's way to send a field with an empty value ("Name:" would remove it).
    const std::string line = value.empty() ? absl::StrCat(name, ";") : absl::StrCat(name, ": ", value);
    p->headers = curl_->slist_append(p->headers, line.c_str());
  }
  if (!has_user_agent) p->headers = curl_->slist_append(p->headers, "User-Agent: Consul Health Check");
  if (!has_accept) p->headers = curl_->slist_append(p->headers, "Accept: text/plain, text/*, */*");
  if (!has_content_type) p->headers = curl_->slist_append(p->headers, "Content-Type:");
  p->headers = curl_->slist_append(p->headers, "Expect:");
  curl_->easy_setopt(easy, CURLOPT_HTTPHEADER, p->headers);

  EnsureCurlTimer();  // before adding: curl asks for its first timeout at once
  ++http_transfers_;
  if (CURLMcode rc = curl_->multi_add_handle(multi_, easy); rc != CURLM_OK) {
    Finish(p, NoAnswer(p, absl::StrCat("curl_multi_add_handle: ", curl_->multi_strerror(rc)), false));
  }
}

void ProbeRunner::ReadCurlMessages() {
  int left = 0;
  while (CURLMsg* message = curl_->multi_info_read(multi_, &left)) {
    if (message->msg != CURLMSG_DONE) continue;
    Probe* p = nullptr;
    curl_->easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &p);
    FinishHttp(p, /*deadline_passed=*/false, message->data.result);
  }
}

void ProbeRunner::FinishHttp(Probe* p, bool deadline_passed, CURLcode code) {
  long status = 0;  // NOLINT(runtime/int): curl's type
  if (p->easy != nullptr) curl_->easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status > 0) {
    // It answered: the status counts even if the body was cut, broken or late (Consul
    // reports the status whatever reading the body gave). The output is the body alone, as
    // the seam says: the agent words it ("HTTP GET <url>: 200 OK Output: <body>").
    ProcessExitedInput r;
    r.exit_code = static_cast<int>(status);
    r.output = std::move(p->body);
    Finish(p, std::move(r));
    return;
  }
  const bool timed_out = deadline_passed || code == CURLE_OPERATION_TIMEDOUT;
  std::string why;
  if (deadline_passed) {
    why = absl::StrCat("timed out after ", absl::FormatDuration(p->start.timeout), " with no answer");
  } else {
    why = p->error[0] != '\0' ? std::string(p->error) : std::string(curl_->easy_strerror(code));
  }
  Finish(p, NoAnswer(p, why, timed_out));
}

void ProbeRunner::OnDeadline(Probe* p) {
  const std::string after = absl::FormatDuration(p->start.timeout);
  switch (p->state) {
    case Probe::State::kQueued:
      Finish(p, NoAnswer(p, absl::StrCat("timed out after ", after, " waiting for one of ", limits_.probes_active_max,
                                         " probe slots"), true));
      return;
    case Probe::State::kResolving:
      Finish(p, NoAnswer(p, absl::StrCat("timed out after ", after, " looking up ", p->host), true));
      return;
    case Probe::State::kRunning:
      if (IsHttp(p->start)) {
        FinishHttp(p, /*deadline_passed=*/true, CURLE_OPERATION_TIMEDOUT);
      } else {
        Finish(p, NoAnswer(p, absl::StrCat("timed out after ", after), true));
      }
      return;
    case Probe::State::kDone:
      return;
  }
}

ProcessExitedInput ProbeRunner::NoAnswer(const Probe* p, const std::string& why, bool timed_out) {
  ProcessExitedInput r;
  r.timed_out = timed_out;
  if (IsHttp(p->start)) {
    r.exit_code = 0;
    r.output = absl::StrCat("HTTP ", MethodOf(p->start), " ", p->start.url, ": ", why);
  } else {
    r.exit_code = 1;
    r.output = absl::StrCat("TCP connect ", p->start.address, ": ", why);
  }
  return r;
}

void ProbeRunner::Finish(Probe* p, ProcessExitedInput result) {
  if (p->state == Probe::State::kQueued) queue_.erase(p->queued_at);
  const bool was_active = p->state == Probe::State::kResolving || p->state == Probe::State::kRunning;
  p->state = Probe::State::kDone;
  result.process_id = p->start.id;
  if (result.output.size() > kOutputBytesMax) result.output.resize(kOutputBytesMax);
  p->result = std::move(result);

  if (p->resolve != nullptr) {
    // Let the lookup finish on its own (a running one cannot be stopped); it frees itself.
    p->resolve->probe = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&p->resolve->request));
    p->resolve = nullptr;
  }
  if (p->easy != nullptr) {
    curl_->multi_remove_handle(multi_, p->easy);  // closes its socket (no reuse)
    curl_->easy_cleanup(p->easy);
    p->easy = nullptr;
    --http_transfers_;
    MaybeCloseCurlTimer();
  }
  // A TCP probe, or an HTTP one that failed before curl was opened, has no lists to free.
  if (p->headers != nullptr) curl_->slist_free_all(p->headers);
  p->headers = nullptr;
  if (p->resolve_entries != nullptr) curl_->slist_free_all(p->resolve_entries);
  p->resolve_entries = nullptr;
  if (p->tcp_open && !uv_is_closing(AsHandle(&p->tcp))) uv_close(AsHandle(&p->tcp), &ProbeRunner::OnTcpClosed);
  uv_timer_stop(&p->deadline);
  if (!uv_is_closing(AsHandle(&p->deadline))) {
    uv_close(AsHandle(&p->deadline), [](uv_handle_t* h) {
      auto* probe = static_cast<Probe*>(h->data);
      --probe->handles_open;
      probe->owner->MaybeRelease(probe);
    });
  }
  if (was_active) {
    --active_;
    PumpQueue();
  }
}

void ProbeRunner::MaybeRelease(Probe* p) {
  if (p->state != Probe::State::kDone || p->handles_open > 0) return;
  auto it = probes_.find(p);
  MUSTER_CHECK(it != probes_.end(), "a probe released twice");
  std::unique_ptr<Probe> owned = std::move(it->second);
  probes_.erase(it);
  Done done = std::move(owned->done);
  ProcessExitedInput result = std::move(owned->result);
  owned.reset();
  done(std::move(result));  // last: it may start probes or cancel them all
}

void ProbeRunner::CancelAll() {
  std::vector<Probe*> alive;
  for (const auto& [p, owned] : probes_) {
    if (p->state != Probe::State::kDone) alive.push_back(p);
  }
  // Nothing queued may start while the others are cancelled.
  const bool was_pumping = pumping_;
  pumping_ = true;
  for (Probe* p : alive) Finish(p, NoAnswer(p, "cancelled: the agent is stopping", false));
  pumping_ = was_pumping;
}

void ProbeRunner::EnsureCurlTimer() {
  if (curl_timer_ != nullptr) return;
  curl_timer_ = new uv_timer_t;
  uv_timer_init(loop_, curl_timer_);
  curl_timer_->data = this;
}

void ProbeRunner::MaybeCloseCurlTimer() {
  if (http_transfers_ > 0 || curl_timer_ == nullptr) return;
  // Closed while no transfer runs, so an idle runner holds no handle; it frees itself.
  uv_close(AsHandle(curl_timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  curl_timer_ = nullptr;
}

int ProbeRunner::OnCurlTimer(CURLM*, long timeout_ms, void* runner) {  // NOLINT(runtime/int)
  auto* self = static_cast<ProbeRunner*>(runner);
  if (self->curl_timer_ == nullptr) return 0;  // no transfer left to time
  if (timeout_ms < 0) {
    uv_timer_stop(self->curl_timer_);
    return 0;
  }
  uv_timer_start(self->curl_timer_, [](uv_timer_t* t) {
    auto* runner_self = static_cast<ProbeRunner*>(t->data);
    int running = 0;
    runner_self->curl_->multi_socket_action(runner_self->multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    runner_self->ReadCurlMessages();
  }, static_cast<uint64_t>(timeout_ms), 0);
  return 0;
}

int ProbeRunner::OnCurlSocket(CURL*, curl_socket_t fd, int what, void* runner, void* socket_context) {
  auto* self = static_cast<ProbeRunner*>(runner);
  auto* s = static_cast<CurlSocket*>(socket_context);
  if (what == CURL_POLL_REMOVE) {
    // Curl calls this before it closes the socket: stop polling it now.
    if (s != nullptr) {
      self->curl_->multi_assign(self->multi_, fd, nullptr);
      self->curl_sockets_.erase(s);
      uv_poll_stop(&s->poll);
      uv_close(AsHandle(&s->poll), [](uv_handle_t* h) { delete static_cast<CurlSocket*>(h->data); });
    }
    return 0;
  }
  if (s == nullptr) {
    s = new CurlSocket;
    s->owner = self;
    s->fd = fd;
    if (uv_poll_init_socket(self->loop_, &s->poll, fd) != 0) {
      delete s;
      return -1;  // curl fails the transfer
    }
    s->poll.data = s;
    self->curl_sockets_.insert(s);
    self->curl_->multi_assign(self->multi_, fd, s);
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  uv_poll_start(&s->poll, events, [](uv_poll_t* h, int status, int ready) {
    auto* socket = static_cast<CurlSocket*>(h->data);
    ProbeRunner* owner = socket->owner;
    int flags = 0;
    if (status < 0) {
      flags = CURL_CSELECT_ERR;
    } else {
      if (ready & UV_READABLE) flags |= CURL_CSELECT_IN;
      if (ready & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    int running = 0;
    owner->curl_->multi_socket_action(owner->multi_, socket->fd, flags, &running);
    owner->ReadCurlMessages();
  });
  return 0;
}

}  // namespace muster::io
