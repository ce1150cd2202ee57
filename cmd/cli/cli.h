// muster's CLI: every subcommand but `agent` (cmd/main.cc dispatches that one), talking to the
// local agent's HTTP API as Consul's CLI does, with Consul's verbs, flags, output shapes and
// exit codes: members, join, leave, force-leave, reload, info, kv get|put|delete|export|import,
// catalog datacenters|nodes|services, services register|deregister, event, maint, watch, lock,
// operator raft list-peers|remove-peer, operator autopilot get-config|set-config, version.
//
// Exit codes, as Consul's (its mitchellh/cli dispatcher): 0 success; 1 a failed command, a
// bad flag, or a command group given no (or an unknown) subcommand (`muster kv`), after its
// help; 2 from `members` when no member matches; 127 an unknown command, after the list of
// commands; -h / -help / --help anywhere print the help of the command they follow, exit 0.
#pragma once

#include <string>
#include <vector>

#include "cmd/cli/environment.h"

namespace muster::cli {

// argv[0] is the program, argv[1] the subcommand. Uses the process's stdout, stderr, stdin,
// environment, files, and sockets.
int Run(int argc, char** argv);

// The same over `args` (argv[1:]) and an environment a test controls.
int RunArgs(const std::vector<std::string>& args, Environment& env);

}  // namespace muster::cli
