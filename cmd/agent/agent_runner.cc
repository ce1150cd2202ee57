#include "cmd/agent/agent_runner.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>

#include <cstdio>
#include <memory>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cmd/agent/console_log.h"
#include "cmd/agent/node_id_file.h"
#include "cmd/agent/startup.h"
#include "core/agent/agent_machine.h"
#include "nlohmann/json.hpp"
#include "core/agent/identity.h"
#include "core/base/strings.h"
#include "io/api/router.h"
#include "io/config/agent_config_loader.h"
#include "io/config/disk_config_files.h"
#include "io/dns/server.h"
#include "io/file_store.h"
#include "io/host.h"
#include "io/http/server.h"
#include "io/memory_store.h"
#include "io/raft_storage/rocks_storage.h"
#include "io/resident_pages.h"
#include "proto/agent.pb.h"

namespace muster::cmd {
namespace {

// How long the HTTP API keeps serving after answering PUT /v1/agent/leave, so that answer
// reaches the client before the listener and its connections close.
constexpr absl::Duration kLeaveAnswerGrace = absl::Milliseconds(200);
// How often the runner looks for a storage failure that stopped the host (io/host.h: the
// host fail-stops and reports it; the process must then end, not linger without a machine).
constexpr absl::Duration kStorageWatchInterval = absl::Seconds(1);

// When the agent gives back the pages it touched only to start (io/resident_pages.h): once its
// start is over (config, data dir, join and first sync take seconds), a second later (the
// releaser drops only mappings it saw at its previous look), and then now and then, so a burst
// of one-off work (a reload, a spike of API requests) does not stay resident either. A page
// needed again is one minor fault: a few milliseconds of faults per release at most.
constexpr absl::Duration kFirstPageRelease = absl::Seconds(30);
constexpr absl::Duration kSecondPageRelease = absl::Seconds(1);
constexpr absl::Duration kPageReleaseInterval = absl::Minutes(10);

// This process's binary as /proc/self/maps names it; "" if unknown.
std::string ExecutablePath() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path));
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(path)) return "";
  return std::string(path, static_cast<size_t>(n));
}

uint64_t Millis(absl::Duration d) { return static_cast<uint64_t>(absl::ToInt64Milliseconds(d)); }

std::string Hostname() {
  char name[UV_MAXHOSTNAMESIZE];
  size_t size = sizeof(name);
  if (uv_os_gethostname(name, &size) != 0) return "";
  return std::string(name, size);
}

std::vector<InterfaceAddress> Interfaces() {
  std::vector<InterfaceAddress> out;
  uv_interface_address_t* addresses = nullptr;
  int count = 0;
  if (uv_interface_addresses(&addresses, &count) != 0) return out;
  for (int i = 0; i < count; ++i) {
    const uv_interface_address_t& a = addresses[i];
    char ip[INET6_ADDRSTRLEN] = {};
    InterfaceAddress address;
    address.internal = a.is_internal != 0;
    if (a.address.address4.sin_family == AF_INET) {
      uv_ip4_name(&a.address.address4, ip, sizeof(ip));
    } else if (a.address.address6.sin6_family == AF_INET6) {
      uv_ip6_name(&a.address.address6, ip, sizeof(ip));
      address.ipv6 = true;
    } else {
      continue;
    }
    address.ip = ip;
    out.push_back(std::move(address));
  }
  uv_free_interface_addresses(addresses, count);
  return out;
}

// Raft timing. A real network gets Consul's spirit at a lower latency floor than its 1 s
// heartbeat (our transport is TCP on a LAN): a follower hears from its leader every 200 ms,
// calls an election after 1 s without, and a leader trusts its lease for 800 ms (below the
// election timeout, so no two leases overlap). -dev is one server on loopback, so raft's
// quicker defaults elect it at once.
raft::RaftOptions RaftTiming(bool dev_mode) {
  raft::RaftOptions raft;
  if (!dev_mode) {
    raft.heartbeat_interval = absl::Milliseconds(200);
    raft.election_timeout = absl::Seconds(1);
    raft.lease_duration = absl::Milliseconds(800);
  }
  return raft;
}

const char* SignalName(int signum) {
  switch (signum) {
    case SIGINT: return "interrupt";
    case SIGTERM: return "terminated";
    case SIGHUP: return "hangup";
    default: return "unknown";
  }
}

// Parked blocking queries each hold an HTTP connection (python-consul and Consul's Go client
// park one per connection), and "10,000 of them on one agent are ordinary" (issue 12): the
// open-files limit is raised to its hard limit, as Consul's agent does at start, and the HTTP
// server takes as many connections as it then allows, less room for the agent's own files
// and sockets, up to kHttpConnectionsCap.
constexpr size_t kHttpConnectionsCap = 65536;
constexpr size_t kFilesKeptForTheAgent = 1024;
size_t HttpConnectionsMax() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    rlimit raised = files;
    raised.rlim_cur = files.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) files = raised;
  }
  const size_t allowed = files.rlim_cur == RLIM_INFINITY ? kHttpConnectionsCap : static_cast<size_t>(files.rlim_cur);
  return std::clamp(allowed > kFilesKeptForTheAgent ? allowed - kFilesKeptForTheAgent : size_t{64}, size_t{64},
                    kHttpConnectionsCap);
}

class AgentRun {
 public:
  explicit AgentRun(std::vector<std::string> args) : args_(std::move(args)) {}

  int Run() {
    // A peer or HTTP client that goes away mid-write must not kill the agent.
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop_);
    absl::Status started = Start();
    if (!started.ok()) {
      fprintf(stderr, "==> %s\n", std::string(started.message()).c_str());
      fflush(stderr);
      Shutdown(1);
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    // Everything was closed by Shutdown; the handles are released once the loop has ended.
    uv_loop_close(&loop_);
    return exit_code_;
  }

 private:
  absl::Status Start() {
    hostname_ = Hostname();
    absl::StatusOr<agent::AgentConfig> config = config::LoadAgentConfig(args_, files_, hostname_);
    if (!config.ok()) return config.status();
    config_ = *std::move(config);
    absl::StatusOr<LogLevel> level = ParseLogLevel(config_.log_level);
    if (!level.ok()) return level.status();
    log_ = std::make_unique<ConsoleLog>(stdout, *level);

    absl::StatusOr<std::string> node_id =
        config_.dev_mode ? (config_.node_id.empty() ? RandomNodeId() : absl::StatusOr<std::string>(config_.node_id))
                         : LoadOrCreateNodeId(config_.data_dir, config_.node_id);
    if (!node_id.ok()) return node_id.status();
    config_.node_id = *node_id;
    absl::StatusOr<NodeId> raft_id = agent::RaftIdOf(config_.node_id);
    if (!raft_id.ok()) return raft_id.status();

    absl::StatusOr<std::string> advertise = ResolveAdvertiseAddr(config_, Interfaces());
    if (!advertise.ok()) return advertise.status();
    advertise_addr_ = *advertise;

    if (config_.dev_mode) {
      store_ = std::make_unique<io::MemoryStore>();
    } else if (!config_.server) {
      // A client keeps only its local services and checks: one file, no RocksDB (its pages,
      // threads and memtable would cost an idle client about 2.5 MB).
      const std::string local_dir = config_.data_dir + "/local";
      absl::StatusOr<std::unique_ptr<io::FileStore>> file = io::FileStore::Open(local_dir);
      if (!file.ok()) {
        return absl::Status(file.status().code(),
                            absl::StrCat("Failed to open the local store in ", local_dir, ": ", file.status().message()));
      }
      store_ = *std::move(file);
    } else {
      const std::string raft_dir = config_.data_dir + "/raft";
      absl::StatusOr<std::unique_ptr<io::RocksStorage>> rocks = io::RocksStorage::Open(raft_dir);
      if (!rocks.ok()) {
        return absl::Status(rocks.status().code(),
                            absl::StrCat("Failed to open the raft store in ", raft_dir, ": ", rocks.status().message()));
      }
      store_ = *std::move(rocks);
    }

    agent::AgentMachineOptions machine;
    machine.config = config_;
    machine.raft = RaftTiming(config_.dev_mode);

    io::Host::Options host;
    host.id = *raft_id;
    host.log = log_.get();
    host.store = store_.get();
    host.bind = JoinHostPort(config_.bind_addr, config_.ports.serf_lan);
    host.advertise = JoinHostPort(advertise_addr_, config_.ports.serf_lan);
    // Clients open the RPC endpoint too: it is where their requests to servers leave from.
    host.rpc = {JoinHostPort(config_.bind_addr, config_.ports.server), JoinHostPort(advertise_addr_, config_.ports.server)};
    if (config_.server) {
      host.wan = {JoinHostPort(config_.bind_addr, config_.ports.serf_wan),
                  JoinHostPort(advertise_addr_, config_.ports.serf_wan)};
    }
    host_ = std::make_unique<io::Host>(&loop_, std::move(host), agent::AgentMachineFactory(std::move(machine)));
    if (absl::Status status = host_->Start(); !status.ok()) {
      return absl::Status(status.code(), absl::StrCat("Error starting agent: ", status.message()));
    }

    if (config_.ports.http != agent::kPortDisabled) {
      io::api::RouterOptions api;
      api.datacenter = config_.datacenter;
      api.strict_http_methods = config_.strict_http_methods;
      router_ = std::make_unique<io::api::Router>(api, [this](std::string method, std::string body,
                                                              std::function<void(const Response&)> done) {
        AskAgent(std::move(method), std::move(body), std::move(done));
      });
      io::http::ServerOptions http_options;
      http_options.connections_max = HttpConnectionsMax();
      http_ = std::make_unique<io::http::Server>(&loop_, http_options, router_->handler());
      http_address_ = JoinHostPort(config_.client_addr, config_.ports.http);
      if (absl::Status status = http_->Listen(http_address_); !status.ok()) {
        return absl::Status(status.code(), absl::StrCat("Error starting agent: Failed to start the HTTP server on ",
                                                        http_address_, ": ", status.message()));
      }
    }

    if (config_.ports.dns != agent::kPortDisabled) {
      if (absl::Status status = StartDns(); !status.ok()) return status;
    }

    StartHandles();
    const std::string banner = FormatBanner(config_, config_.node_id, advertise_addr_);
    fwrite(banner.data(), 1, banner.size(), stdout);
    fflush(stdout);
    log_->Open();
    if (http_ != nullptr) Info(absl::StrCat("Started HTTP server on ", http_address_, " (tcp)"));
    if (dns_ != nullptr) {
      Info(absl::StrCat("Started DNS server on ", dns_address_, " (udp)"));
      Info(absl::StrCat("Started DNS server on ", dns_address_, " (tcp)"));
    }
    Info("muster agent running!");
    return absl::OkStatus();
  }

  // The DNS interface (io/dns) on client_addr, asking the agent as the HTTP API does.
  absl::Status StartDns() {
    io::dns::DnsServerOptions dns;
    dns.datacenter = config_.datacenter;
    dns.domain = config_.domain;
    dns.alt_domain = config_.alt_domain;
    dns.recursors = config_.recursors;
    dns.config = config_.dns_config;
    dns_ = std::make_unique<io::dns::DnsServer>(
        &loop_, std::move(dns), [this](std::string method, std::string body, std::function<void(const Response&)> done) {
          AskAgent(std::move(method), std::move(body), std::move(done));
        });
    dns_address_ = JoinHostPort(config_.client_addr, config_.ports.dns);
    if (absl::Status status = dns_->Listen(dns_address_); !status.ok()) {
      return absl::Status(status.code(), absl::StrCat("Error starting agent: Failed to start the DNS server on ",
                                                      dns_address_, ": ", status.message()));
    }
    return absl::OkStatus();
  }

  void StartHandles() {
    for (auto& [handle, signum] : {std::pair{&sigint_, SIGINT}, {&sigterm_, SIGTERM}, {&sighup_, SIGHUP}}) {
      uv_signal_init(&loop_, handle);
      handle->data = this;
      uv_signal_start(
          handle, [](uv_signal_t* h, int signum) { static_cast<AgentRun*>(h->data)->OnSignal(signum); }, signum);
    }
    uv_timer_init(&loop_, &leave_timer_);
    leave_timer_.data = this;
    uv_timer_init(&loop_, &storage_watch_);
    storage_watch_.data = this;
    uv_timer_start(
        &storage_watch_,
        [](uv_timer_t* t) {
          auto* self = static_cast<AgentRun*>(t->data);
          if (!self->host_->last_storage_error().ok()) self->Shutdown(1);
          // The agent cannot go on (-join at start, -retry-join past -retry-max, an identity
          // clash): exit 1, once its goodbye (if it is saying one) is out or after 3 s.
          auto* agent = dynamic_cast<agent::AgentMachine*>(self->host_->machine());
          if (agent != nullptr && agent->exit_reason().has_value() && !self->shutting_down_ &&
              (!agent->leaving() || agent->left() || ++self->exit_wait_polls_ >= 3)) {
            self->Shutdown(1);
          }
        },
        Millis(kStorageWatchInterval), Millis(kStorageWatchInterval));
    uv_timer_init(&loop_, &page_release_);
    page_release_.data = this;
    uv_timer_start(
        &page_release_, [](uv_timer_t* t) { static_cast<AgentRun*>(t->data)->ReleasePages(); },
        Millis(kFirstPageRelease), 0);
    handles_started_ = true;
  }

  // The HTTP API's way to the agent. An answered PUT /v1/agent/leave ends the process, as
  // Consul's agent shuts down after a leave through its API.
  void AskAgent(std::string method, std::string body, std::function<void(const Response&)> done) {
    if (shutting_down_) {
      Response refused;
      refused.status = absl::UnavailableError("agent is shutting down");
      done(refused);
      return;
    }
    if (method == "agent.reload") {
      // Re-reading the configuration files is the host's business (the machine reads no
      // files); answered here, as Consul's PUT /v1/agent/reload: 200, or 500 and why.
      Response answer;
      answer.status = Reload();
      answer.body = proto::agent::Reply().SerializeAsString();
      done(answer);
      return;
    }
    const bool leave = method == "agent.leave";
    const bool self = method == "agent.self";
    host_->Request(std::move(method), std::move(body), [this, leave, self, done = std::move(done)](const Response& response) {
      if (self && response.status.ok()) {
        done(WithHostStats(response));
      } else {
        done(response);
      }
      if (leave && response.status.ok() && !shutting_down_ && !leaving_) {
        Info("Graceful leave complete (through the HTTP API), shutting down");
        leaving_ = true;
        uv_timer_start(
            &leave_timer_, [](uv_timer_t* t) { static_cast<AgentRun*>(t->data)->Shutdown(0); },
            Millis(kLeaveAnswerGrace), 0);
      }
    });
  }

  // /v1/agent/self's Stats gain what only the host knows: its group commit (how many fsyncs,
  // and the sync writes they made durable), for operators and the cluster benchmark.
  Response WithHostStats(const Response& response) const {
    proto::agent::Reply reply;
    if (!reply.ParseFromString(response.body)) return response;
    nlohmann::json j = nlohmann::json::parse(reply.body(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return response;
    const io::Host::SyncStats& sync = host_->sync_stats();
    j["Stats"]["storage"]["syncs"] = absl::StrCat(sync.syncs);
    j["Stats"]["storage"]["sync_writes"] = absl::StrCat(sync.sync_writes);
    reply.set_body(j.dump());
    Response out = response;
    out.body = reply.SerializeAsString();
    return out;
  }

  void OnSignal(int signum) {
    Info(absl::StrCat("Caught signal: ", SignalName(signum)));
    if (signum == SIGHUP) {
      (void)Reload();  // logged either way; SIGHUP has nobody to answer
      return;
    }
    if (leaving_) {
      Info("Caught second signal, Exiting");
      Shutdown(1);
      return;
    }
    const bool graceful = signum == SIGINT || agent::LeavesOnTerminate(config_);
    if (!graceful) {
      Info("Graceful shutdown disabled. Exiting");
      Shutdown(1);
      return;
    }
    // The machine logs Consul's "Gracefully shutting down agent..." and "Graceful leave
    // complete" as it leaves; the runner says only what is its own.
    leaving_ = true;
    uv_timer_start(
        &leave_timer_,
        [](uv_timer_t* t) {
          auto* self = static_cast<AgentRun*>(t->data);
          self->Info("Timeout on graceful leave. Exiting");
          self->Shutdown(1);
        },
        Millis(kGracefulLeaveTimeout), 0);
    host_->Request("agent.leave", proto::agent::Call().SerializeAsString(), [this](const Response& response) {
      if (shutting_down_) return;
      if (!response.status.ok()) {
        log_->Write(absl::Now(), LogLevel::kError, "agent", absl::StrCat("Error on leave: ", response.status.message()));
        Shutdown(1);
        return;
      }
      Info("Graceful exit completed");
      Shutdown(0);
    });
  }

  // What can change while running: the log level. Everything else needs a restart, as in
  // Consul for the options this agent takes.
  absl::Status Reload() {
    Info("Reloading configuration...");
    absl::StatusOr<agent::AgentConfig> reloaded = config::LoadAgentConfig(args_, files_, hostname_);
    absl::StatusOr<LogLevel> level =
        reloaded.ok() ? ParseLogLevel(reloaded->log_level) : absl::StatusOr<LogLevel>(reloaded.status());
    if (!level.ok()) {
      log_->Write(absl::Now(), LogLevel::kError, "agent", absl::StrCat("Reload config failed: ", level.status().message()));
      return absl::InternalError(absl::StrCat("Failed reloading the configuration: ", level.status().message()));
    }
    log_->set_min_level(*level);
    config_.log_level = reloaded->log_level;
    Info(absl::StrCat("Reloaded configuration: log level ", Absl(LogLevelName(*level))));
    return absl::OkStatus();
  }

  void ReleasePages() {
    absl::StatusOr<io::ReleasedPages> released = page_releaser_.Release();
    if (!released.ok() && !page_release_failed_) {
      // Only memory is at stake: said once, and the agent goes on.
      page_release_failed_ = true;
      log_->Write(absl::Now(), LogLevel::kWarn, "agent",
                  absl::StrCat("Could not release startup pages: ", released.status().message()));
    }
    ++page_releases_;
    uv_timer_start(
        &page_release_, [](uv_timer_t* t) { static_cast<AgentRun*>(t->data)->ReleasePages(); },
        Millis(page_releases_ == 1 ? kSecondPageRelease : kPageReleaseInterval), 0);
  }

  // Stops the HTTP API and the host and closes the runner's handles; the loop then ends.
  void Shutdown(int exit_code) {
    if (shutting_down_) return;
    shutting_down_ = true;
    exit_code_ = exit_code;
    if (handles_started_) {
      for (uv_signal_t* handle : {&sigint_, &sigterm_, &sighup_}) uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&leave_timer_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&storage_watch_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&page_release_), nullptr);
    }
    if (http_ != nullptr) http_->Stop([] {});
    if (dns_ != nullptr) dns_->Stop([] {});
    if (host_ != nullptr) {
      host_->Stop([this] {
        if (log_ != nullptr && handles_started_) Info("Agent stopped");
      });
    }
  }

  void Info(const std::string& message) { log_->Write(absl::Now(), LogLevel::kInfo, "agent", message); }

  const std::vector<std::string> args_;
  config::DiskConfigFiles files_;
  std::string hostname_;
  agent::AgentConfig config_;
  std::string advertise_addr_;
  std::string http_address_;
  uv_loop_t loop_;
  std::unique_ptr<ConsoleLog> log_;
  std::unique_ptr<io::DurableStore> store_;
  std::unique_ptr<io::Host> host_;
  std::unique_ptr<io::api::Router> router_;
  std::unique_ptr<io::http::Server> http_;
  std::unique_ptr<io::dns::DnsServer> dns_;
  std::string dns_address_;
  uv_signal_t sigint_, sigterm_, sighup_;
  uv_timer_t leave_timer_, storage_watch_, page_release_;
  io::ResidentPageReleaser page_releaser_{ExecutablePath()};
  int page_releases_ = 0;
  bool page_release_failed_ = false;
  bool handles_started_ = false;
  bool leaving_ = false;
  bool shutting_down_ = false;
  int exit_code_ = 0;
  int exit_wait_polls_ = 0;  // storage-watch polls since the agent set its exit reason
};

constexpr char kHelp[] = R"(Usage: muster agent [options]

  Starts the muster agent and runs until an interrupt is received. The
  agent represents a single node in a cluster.

Options (Consul's; each also a key of a JSON -config-file):

  -server                  Run as a server (raft, the state store, leader duties).
  -bootstrap-expect=<n>    Servers to wait for before bootstrapping the cluster.
  -bootstrap               Bootstrap a one-server cluster at once (legacy).
  -dev                     One in-memory bootstrapped server on 127.0.0.1.
  -node=<name>             The node name (default: the host's name).
  -node-id=<uuid>          The node ID (default: kept in <data-dir>/node-id).
  -datacenter=<dc>         The datacenter (default: dc1).
  -data-dir=<path>         Where state is kept (required unless -dev).
  -bind=<ip>               Where the cluster endpoints listen (default: 0.0.0.0).
  -advertise=<ip>          The address other agents reach this one at.
  -client=<ip>             Where the HTTP API listens (default: 127.0.0.1).
  -join=<addr>             An agent to join at start (repeatable).
  -retry-join=<addr>       An agent to join until one answers (repeatable).
  -retry-interval=<dur>    Time between join attempts (default: 30s).
  -retry-max=<n>           Join attempts before giving up (default: 0, no end).
  -http-port, -dns-port, -server-port, -serf-lan-port, -serf-wan-port=<port>
  -domain=<domain>         The DNS domain answered (default: consul.).
  -alt-domain=<domain>     A second DNS domain answered the same way.
  -recursor=<ip[:port]>    Where DNS names outside the domain go (repeatable).
  -raft-snapshot-threshold=<n>
                           Applied entries between raft snapshots (default: 16384).
  -log-level=<level>       TRACE, DEBUG, INFO, WARN or ERR (default: INFO).
  -event-handler=[filter=]<script>
                           Run script on LAN events, as Serf's flag (repeatable; filter
                           e.g. member-join,member-failed,user:deploy; none: every event).
  -config-file=<path>      A JSON config file (repeatable).
  -config-dir=<path>       A directory of *.json config files (repeatable).

  In config files only: leave_on_terminate (leave on SIGTERM; default: clients do),
  watches (Consul's: a handler run when a key, prefix, service, ... changes).
)";

bool AsksForHelp(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "-h" || arg == "-help" || arg == "--help") return true;
  }
  return false;
}

}  // namespace

int RunAgent(std::vector<std::string> args) {
  // As the CLI's commands: the help on stdout, exit 0.
  if (AsksForHelp(args)) {
    fputs(kHelp, stdout);
    return 0;
  }
  // Members hold libuv handles that must outlive the loop's last turn: keep it off the stack
  // of a caller that might return early, and destroy it only after uv_run has ended.
  auto run = std::make_unique<AgentRun>(std::move(args));
  return run->Run();
}

}  // namespace muster::cmd
