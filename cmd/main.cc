// muster: one binary for the agent and the CLI, as Consul's. `muster agent ...` runs an agent
// (cmd/agent); every other subcommand is the CLI's (cmd/cli), which talks to an agent's HTTP
// API.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "cmd/agent/agent_runner.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "agent") {
    return muster::cmd::RunAgent(std::vector<std::string>(argv + 2, argv + argc));
  }
  // Until cmd/cli lands, every other subcommand is unknown.
  fprintf(stderr, "Usage: muster <command> [args]\n\nAvailable commands are:\n    agent    Runs a muster agent\n");
  if (argc >= 2) fprintf(stderr, "\nunknown command: %s\n", argv[1]);
  return 1;
}
