// What `muster agent` is started with: Consul's agent options under Consul's names and with its
// defaults, and the rules that refuse a configuration Consul refuses. The struct is plain data;
// io/config fills it from flags and JSON files (in Consul's merge order) and the agent reads it.
// Nothing here touches a file or the host: the host's name and the data dir are the loader's.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/agent/dns_config.h"

namespace muster::agent {

// Consul's `ports` block. A port of -1 turns its listener off where Consul allows that (the
// DNS and HTTP interfaces, kPortDisabled); the gossip and RPC ports are always on.
struct AgentPorts {
  int dns = 8600;
  int http = 8500;
  int serf_lan = 8301;
  int serf_wan = 8302;
  int server = 8300;
};

inline constexpr int kPortDisabled = -1;

struct AgentConfig {
  bool server = false;
  // Servers to wait for before bootstrapping the first raft configuration (0: none).
  int bootstrap_expect = 0;
  // Bootstraps a one-server configuration at once (the legacy -bootstrap; -dev sets it).
  bool bootstrap = false;
  // Empty until the loader fills in the host's name, as Consul does.
  std::string node_name;
  // Empty: the agent reads it from the data dir, or makes one and keeps it there.
  std::string node_id;
  std::string datacenter = "dc1";
  // Empty only in dev mode, which keeps everything in memory.
  std::string data_dir;
  std::string bind_addr = "0.0.0.0";
  // Empty: the bind address is advertised.
  std::string advertise_addr;
  // Where the client interfaces (HTTP, DNS) listen.
  std::string client_addr = "127.0.0.1";
  // Joined once at start (-join); the agent fails to start if none answers.
  std::vector<std::string> start_join;
  // Joined until one answers (-retry-join), every retry_interval, at most retry_max times
  // (0: without end).
  std::vector<std::string> retry_join;
  absl::Duration retry_interval = absl::Seconds(30);
  int retry_max = 0;
  // Consul's rejoin_after_leave (-rejoin): after a graceful leave the next start still
  // re-joins the members of the serf snapshot (core/agent/serf_snapshot.h); off, it does not.
  bool rejoin_after_leave = false;
  AgentPorts ports;
  // One of TRACE, DEBUG, INFO, WARN, ERR (ERROR and any case accepted).
  std::string log_level = "INFO";
  // Unset: Consul's default, which is to leave on SIGTERM for a client and not for a server
  // (LeavesOnTerminate).
  std::optional<bool> leave_on_terminate;
  // Consul's raft_snapshot_threshold: a server compacts its raft log into a snapshot of the
  // state store after this many entries applied since the last one.
  int raft_snapshot_threshold = 16384;
  // -dev: one bootstrapped server in memory on 127.0.0.1 (ApplyDevDefaults).
  bool dev_mode = false;
  // Consul's enable_script_checks (-enable-script-checks): script checks (Args, and the legacy
  // Script through /bin/sh -c) may be registered; off by default, as Consul's, since anyone who
  // reaches the HTTP API could otherwise run commands as the agent.
  bool enable_script_checks = false;
  // Consul's check_reap_interval and check_deregister_interval_min (Consul lists them among
  // its non-user-configurable values, set by its dev source to 3 s and 0): how often services
  // whose checks passed their deregister_critical_service_after are reaped, and the floor of
  // that deadline. Tests shorten them to see a removal in seconds.
  absl::Duration check_reap_interval = absl::Seconds(30);
  absl::Duration check_deregister_interval_min = absl::Minutes(1);
  // Consul's `service` / `services` and `check` / `checks` blocks, each definition's JSON object
  // as written (the agent reads them as its registration endpoints do: core/agent/local_json.h),
  // in the order the files are merged. Added at every start, never persisted.
  std::vector<std::string> services;
  std::vector<std::string> checks;
  // Consul >= 1.0 answers GET on its write endpoints with 405; python-consul 0.7.1 still calls
  // some of them with GET (agent/join, force-leave, service and check deregister, check
  // pass/warn/fail), so by default those take GET too. True: Consul's strict methods.
  bool strict_http_methods = false;
  // The DNS interface (issue 15): the domain it answers for (-domain, lowercased with its final
  // dot by the loader), a second one (-alt-domain, "" for none), the servers that names
  // outside both are forwarded to (-recursor / recursors, "ip" or "ip:port"; none: REFUSED),
  // and Consul's dns_config block.
  std::string domain = "consul.";
  std::string alt_domain;
  std::vector<std::string> recursors;
  DnsConfig dns_config;
  // Serf's -event-handler (repeatable; `event_handlers`, a list of strings, in a file): a
  // "[filter=]script" each, run on the agent's LAN events (core/agent/event_handlers.h).
  std::vector<std::string> event_handlers;
  // Consul's `watches` block: each watch's JSON object as written (core/agent/watches.h reads
  // them), in merge order.
  std::vector<std::string> watches;
};

// Whether SIGTERM makes the agent leave the cluster gracefully.
bool LeavesOnTerminate(const AgentConfig& config);

// What -dev sets before any file or flag is read (so either can still change it, as in
// Consul's dev source): dev_mode, server, bootstrap, 127.0.0.1 for bind and client, DEBUG logs,
// no data dir.
void ApplyDevDefaults(AgentConfig& config);

// Consul's rules for a configuration, each error naming the flag and the config key it broke:
// -bootstrap with -bootstrap-expect; -bootstrap or -bootstrap-expect without -server; -dev
// without server and bootstrap, or with a data dir or -bootstrap-expect; a node ID that is not
// a UUID (identity.h), an invalid node name or datacenter; ports outside 1..65535 (or -1 where
// AgentPorts allows it) or two alike; no data dir outside dev mode; an unknown log level; a
// negative count or a retry interval that is not positive; an event handler or a watch that
// does not parse (event_handlers.h, watches.h), or more of them than their bounds.
absl::Status Validate(const AgentConfig& config);

}  // namespace muster::agent
