// muster: one binary for the agent and the CLI, as Consul's. `muster agent ...` runs an agent
// (cmd/agent); every other subcommand is the CLI's (cmd/cli), which talks to an agent's HTTP
// API, and which also answers a missing or unknown subcommand with its usage.
#include <string>
#include <string_view>
#include <vector>

#include "cmd/agent/agent_runner.h"
#include "cmd/cli/cli.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "agent") {
    return muster::cmd::RunAgent(std::vector<std::string>(argv + 2, argv + argc));
  }
  return muster::cli::Run(argc, argv);
}
