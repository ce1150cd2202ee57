// One CLI command, in the shape of Consul's (mitchellh/cli): a synopsis for the command list,
// a help text with its flags, and Run over the arguments after the command's name, returning
// the exit code. Commands print results to env.out and errors to env.err.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "cmd/cli/environment.h"
#include "cmd/cli/flag_set.h"

namespace muster::cli {

class Command {
 public:
  virtual ~Command() = default;
  virtual std::string_view Synopsis() const = 0;
  // The usage text, then the flags (Consul's flags.Usage).
  virtual std::string Help() const = 0;
  virtual int Run(const std::vector<std::string>& args, Environment& env) = 0;
};

// A flag error as Go's flag package reports one: the message, then the command's usage, on
// stderr; exit code 1.
int ReportFlagError(const absl::Status& status, const Command& command, Environment& env);

// Help text for a command: `usage` (Consul's help constant) then "Command Options" and flags.
std::string HelpWithFlags(std::string_view usage, const FlagSet& flags);

// The commands (each in its own file).
std::unique_ptr<Command> NewMembersCommand();
std::unique_ptr<Command> NewJoinCommand();
std::unique_ptr<Command> NewLeaveCommand();
std::unique_ptr<Command> NewInfoCommand();
std::unique_ptr<Command> NewKvGetCommand();
std::unique_ptr<Command> NewKvPutCommand();
std::unique_ptr<Command> NewKvDeleteCommand();
std::unique_ptr<Command> NewKvExportCommand();
std::unique_ptr<Command> NewKvImportCommand();
std::unique_ptr<Command> NewRaftListPeersCommand();
std::unique_ptr<Command> NewRaftRemovePeerCommand();
std::unique_ptr<Command> NewAutopilotGetCommand();
std::unique_ptr<Command> NewAutopilotSetCommand();
std::unique_ptr<Command> NewVersionCommand();
std::unique_ptr<Command> NewForceLeaveCommand();
std::unique_ptr<Command> NewReloadCommand();
std::unique_ptr<Command> NewCatalogDatacentersCommand();
std::unique_ptr<Command> NewCatalogNodesCommand();
std::unique_ptr<Command> NewCatalogServicesCommand();
std::unique_ptr<Command> NewEventCommand();
std::unique_ptr<Command> NewMaintCommand();
std::unique_ptr<Command> NewServicesRegisterCommand();
std::unique_ptr<Command> NewServicesDeregisterCommand();
std::unique_ptr<Command> NewWatchCommand();
std::unique_ptr<Command> NewLockCommand();

}  // namespace muster::cli
