// `muster agent`: one agent process. Loads the configuration (io/config: flags and JSON files),
// keeps the node ID in the data dir, opens the store (a server's RocksDB in <data-dir>/raft, a
// client's one file in <data-dir>/local (io/file_store.h), memory with -dev), runs the agent machine in an io::Host with its RPC, LAN and (for servers) WAN
// endpoints, serves the HTTP API (io/api) on client_addr, prints Consul's start banner and
// then the log, and runs the loop until the agent stops.
//
// Signals, as Consul's agent command: SIGINT leaves the cluster gracefully, then exits 0;
// SIGTERM does the same when agent::LeavesOnTerminate(config), and otherwise exits at once
// (1, as Consul: "Graceful shutdown disabled"); a second SIGINT or SIGTERM while leaving exits
// at once (1); a leave that takes longer than kGracefulLeaveTimeout exits 1; SIGHUP re-reads
// the configuration and applies what can change while running (the log level). A leave
// through the HTTP API (PUT /v1/agent/leave) also ends the process, with 0.
//
// An error before the agent runs (a bad flag or file, a node ID that does not match the data
// dir's, a store that does not open, a port in use) is one line on stderr and exit status 1.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace muster::cmd {

// Consul's graceful leave timeout (command/agent: gracefulTimeout).
inline constexpr absl::Duration kGracefulLeaveTimeout = absl::Seconds(15);

// Runs `muster agent <args>` (the arguments after "agent") and returns the exit status.
int RunAgent(std::vector<std::string> args);

}  // namespace muster::cmd
