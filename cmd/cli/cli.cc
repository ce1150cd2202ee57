// The dispatcher (see cli.h), with mitchellh/cli's rules as Consul uses them: the longest
// run of leading words that names a command picks it ("operator raft list-peers"), a help
// flag anywhere before "--" asks for help, a flag before the command is refused, and "-v" or
// "--version" anywhere runs `version`.
#include "cmd/cli/cli.h"

#include <signal.h>
#include <time.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cmd/cli/command.h"
#include "core/base/strings.h"

namespace muster::cli {

int ReportFlagError(const absl::Status& status, const Command& command, Environment& env) {
  if (status.message() == "help requested") {
    *env.out << command.Help() << "\n";
    return 0;
  }
  *env.err << status.message() << "\n\n" << command.Help() << "\n";
  return 1;
}

std::string HelpWithFlags(std::string_view usage, const FlagSet& flags) {
  std::string help(usage);
  const std::string flag_usage = flags.Usage();
  if (!flag_usage.empty()) absl::StrAppend(&help, "\nCommand Options\n", flag_usage);
  return help;
}

namespace {

// A command group (`kv`, `operator`, `operator raft`): it only shows its subcommands, and
// exits 1 when run, as mitchellh/cli's RunResultHelp.
class GroupCommand : public Command {
 public:
  GroupCommand(std::string_view synopsis, std::string_view help) : synopsis_(synopsis), help_(help) {}
  std::string_view Synopsis() const override { return synopsis_; }
  std::string Help() const override { return help_; }
  int Run(const std::vector<std::string>& args, Environment& env) override { return 1; }

 private:
  std::string synopsis_;
  std::string help_;
};

// `agent` is cmd/main.cc's; listed so the command list is whole.
class AgentPlaceholder : public Command {
 public:
  std::string_view Synopsis() const override { return "Runs a muster agent"; }
  std::string Help() const override { return "Usage: muster agent [options]\n\n  Starts the muster agent.\n"; }
  int Run(const std::vector<std::string>& args, Environment& env) override {
    *env.err << "muster agent is run by the muster binary, not by the CLI\n";
    return 1;
  }
};

using CommandTable = std::map<std::string, std::unique_ptr<Command>>;  // sorted: the help lists in order

CommandTable Commands() {
  CommandTable table;
  table["agent"] = std::make_unique<AgentPlaceholder>();
  table["members"] = NewMembersCommand();
  table["join"] = NewJoinCommand();
  table["leave"] = NewLeaveCommand();
  table["info"] = NewInfoCommand();
  table["version"] = NewVersionCommand();
  table["force-leave"] = NewForceLeaveCommand();
  table["reload"] = NewReloadCommand();
  table["event"] = NewEventCommand();
  table["maint"] = NewMaintCommand();
  table["watch"] = NewWatchCommand();
  table["lock"] = NewLockCommand();
  table["catalog"] = std::make_unique<GroupCommand>("Interact with the catalog", R"(Usage: muster catalog <subcommand> [options] [args]

  This command has subcommands for interacting with muster's catalog. The
  catalog should not be confused with the agent, although the APIs and
  responses may be similar.

  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  List all datacenters:

      $ muster catalog datacenters

  List all nodes:

      $ muster catalog nodes

  List all services:

      $ muster catalog services

  For more examples, ask for subcommand help or view the documentation.
)");
  table["catalog datacenters"] = NewCatalogDatacentersCommand();
  table["catalog nodes"] = NewCatalogNodesCommand();
  table["catalog services"] = NewCatalogServicesCommand();
  table["services"] = std::make_unique<GroupCommand>("Interact with services", R"(Usage: muster services <subcommand> [options] [args]

  This command has subcommands for interacting with services. The subcommands
  default to working with services registered with the local agent. Please see
  the "muster catalog" command for interacting with the entire catalog.

  To register a service:

      $ muster services register web.json

  To deregister a service:

      $ muster services deregister web.json

  For more examples, ask for subcommand help or view the documentation.
)");
  table["services register"] = NewServicesRegisterCommand();
  table["services deregister"] = NewServicesDeregisterCommand();
  table["kv"] = std::make_unique<GroupCommand>("Interact with the key-value store", R"(Usage: muster kv <subcommand> [options] [args]

  This command has subcommands for interacting with muster's key-value
  store. Here are some simple examples, and more detailed examples are
  available in the subcommands or the documentation.

  Create or update the key named "redis/config/connections" with the value "5":

      $ muster kv put redis/config/connections 5

  Read this value back:

      $ muster kv get redis/config/connections

  Or get detailed key information:

      $ muster kv get -detailed redis/config/connections

  Finally, delete the key:

      $ muster kv delete redis/config/connections
)");
  table["kv get"] = NewKvGetCommand();
  table["kv put"] = NewKvPutCommand();
  table["kv delete"] = NewKvDeleteCommand();
  table["kv export"] = NewKvExportCommand();
  table["kv import"] = NewKvImportCommand();
  table["operator"] = std::make_unique<GroupCommand>("Provides cluster-level tools for muster operators", R"(Usage: muster operator <subcommand> [options]

  Provides cluster-level tools for muster operators, such as interacting with
  the Raft subsystem and Autopilot.
)");
  table["operator raft"] = std::make_unique<GroupCommand>("Provides cluster-level tools for muster operators", R"(Usage: muster operator raft <subcommand> [options]

  The Raft operator command is used to interact with muster's Raft subsystem.

  List all the servers in the cluster:

      $ muster operator raft list-peers

  Remove a server that has failed and will not return:

      $ muster operator raft remove-peer -address="10.0.0.5:8300"
)");
  table["operator raft list-peers"] = NewRaftListPeersCommand();
  table["operator raft remove-peer"] = NewRaftRemovePeerCommand();
  table["operator autopilot"] = std::make_unique<GroupCommand>("Provides tools for modifying Autopilot configuration", R"(Usage: muster operator autopilot <subcommand> [options]

  The Autopilot operator command is used to interact with muster's Autopilot
  subsystem.

      $ muster operator autopilot get-config
      $ muster operator autopilot set-config -cleanup-dead-servers=false
)");
  table["operator autopilot get-config"] = NewAutopilotGetCommand();
  table["operator autopilot set-config"] = NewAutopilotSetCommand();
  return table;
}

// The direct subcommands of `prefix` ("" for the top level), with their synopses, aligned.
std::string SubcommandList(const CommandTable& table, const std::string& prefix) {
  std::vector<std::pair<std::string, std::string_view>> entries;
  size_t width = 0;
  for (const auto& [name, command] : table) {
    if (!prefix.empty() && name.rfind(prefix + " ", 0) != 0) continue;
    const std::string rest = prefix.empty() ? name : name.substr(prefix.size() + 1);
    if (rest.empty() || rest.find(' ') != std::string::npos) continue;
    entries.emplace_back(rest, command->Synopsis());
    width = std::max(width, rest.size());
  }
  std::string out;
  for (const auto& [name, synopsis] : entries) {
    absl::StrAppend(&out, "    ", name, std::string(width - name.size(), ' '), "    ", Absl(synopsis), "\n");
  }
  return out;
}

std::string TopHelp(const CommandTable& table) {
  return absl::StrCat("Usage: muster [--version] [--help] <command> [<args>]\n\nAvailable commands are:\n",
                      SubcommandList(table, ""));
}

std::string CommandHelp(const CommandTable& table, const std::string& name, const Command& command) {
  std::string help = command.Help();
  const std::string subcommands = SubcommandList(table, name);
  if (!subcommands.empty()) absl::StrAppend(&help, "\nSubcommands:\n", subcommands);
  return help;
}

}  // namespace

int RunArgs(const std::vector<std::string>& args_in, Environment& env) {
  std::vector<std::string> args = args_in;
  // Consul's main: -v or --version anywhere (before "--") is `muster version`.
  for (const std::string& arg : args) {
    if (arg == "--") break;
    if (arg == "-v" || arg == "--version") {
      args = {"version"};
      break;
    }
  }
  const CommandTable table = Commands();
  bool help = false;
  std::vector<std::string> top_flags;
  std::string name;
  std::vector<std::string> command_args;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") break;
    if (arg == "-h" || arg == "-help" || arg == "--help") {
      help = true;
      continue;
    }
    if (!name.empty()) continue;
    if (!arg.empty() && arg[0] == '-') {
      top_flags.push_back(arg);
      continue;
    }
    if (arg.empty()) continue;
    // The longest run of words from here that names a command.
    name = arg;
    size_t words = 1;
    std::string candidate = arg;
    for (size_t j = i + 1; j < args.size(); ++j) {
      candidate = absl::StrCat(candidate, " ", args[j]);
      if (table.count(candidate)) {
        name = candidate;
        words = j - i + 1;
      }
    }
    command_args.assign(args.begin() + static_cast<std::ptrdiff_t>(i + words), args.end());
    i += words - 1;
  }
  if (name.empty() && help) {
    *env.out << TopHelp(table) << "\n";
    return 0;
  }
  auto it = table.find(name);
  if (it == table.end()) {
    *env.err << TopHelp(table) << "\n";
    return 127;
  }
  Command& command = *it->second;
  if (help) {
    *env.out << CommandHelp(table, name, command) << "\n";
    return 0;
  }
  if (!top_flags.empty()) {
    *env.err << "Invalid flags before the subcommand. If these flags are for\n"
                "the subcommand, please put them after the subcommand.\n\n"
             << CommandHelp(table, name, command) << "\n";
    return 1;
  }
  if (dynamic_cast<GroupCommand*>(&command) != nullptr) {
    *env.err << CommandHelp(table, name, command) << "\n";
    return 1;
  }
  return command.Run(command_args, env);
}

namespace {

// Bound on what `kv put k -` and `kv put k @file` read: a KV value's limit is 512 KB (the agent
// refuses more with 413), so anything far past it is a mistake, not data.
constexpr size_t kInputBytesMax = 16 << 20;

absl::StatusOr<std::string> ReadBounded(std::istream& in, const std::string& what) {
  std::string data;
  char buffer[65536];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    data.append(buffer, static_cast<size_t>(in.gcount()));
    if (data.size() > kInputBytesMax) {
      return absl::ResourceExhaustedError(absl::StrCat(what, " is over ", kInputBytesMax, " bytes"));
    }
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("read ", what, " failed"));
  return data;
}

volatile std::sig_atomic_t interrupt_seen = 0;

void OnInterrupt(int) { interrupt_seen = 1; }

void SleepFor(absl::Duration duration) {
  if (duration <= absl::ZeroDuration()) return;
  timespec left = absl::ToTimespec(duration);
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    if (interrupt_seen) return;  // a caught interrupt ends a sleep early, so the loop can stop
  }
}

}  // namespace

int Run(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  SocketHttpTransport transport;
  Environment env;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  env.read_stdin = []() { return ReadBounded(std::cin, "stdin"); };
  env.read_file = [](const std::string& path) -> absl::StatusOr<std::string> {
    std::ifstream file(path, std::ios::binary);
    if (!file) return absl::NotFoundError(absl::StrCat("open ", path, ": no such file or directory"));
    return ReadBounded(file, path);
  };
  env.transport = &transport;
  env.now = []() { return absl::Now(); };
  env.sleep = SleepFor;
  env.start_child = StartChildProcess;
  env.catch_interrupts = []() {
    struct sigaction action {};
    action.sa_handler = OnInterrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
  };
  env.interrupted = []() { return interrupt_seen != 0; };
  transport.set_cancelled(env.interrupted);
  const int code = RunArgs(args, env);
  std::cout.flush();
  return code;
}

}  // namespace muster::cli
