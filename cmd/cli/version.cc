// `muster version`: the version and the protocol range this build speaks, in the shape of
// Consul's `version` ("Consul v1.9.0" / "Protocol 2 spoken by default, understands 2 to 3 ...").
// The protocol is the version of the envelope every message between agents travels in.
#include "absl/strings/str_cat.h"
#include "cmd/cli/command.h"
#include "core/base/version.h"
#include "core/seam/envelope.h"

namespace muster::cli {
namespace {


constexpr std::string_view kVersionHelp = R"(Usage: muster version

  Prints the version of this muster build and the protocol versions it speaks.
)";

class VersionCommand : public Command {
 public:
  std::string_view Synopsis() const override { return "Prints the muster version"; }
  std::string Help() const override { return std::string(kVersionHelp); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    *env.out << "muster v" << kMusterVersion << "\n"
             << "Protocol " << kProtocolVersion << " spoken by default, understands " << kProtocolVersionMin << " to "
             << kProtocolVersion << " (agent will automatically use protocol >" << kProtocolVersion
             << " when speaking to compatible agents)\n";
    return 0;
  }
};

}  // namespace

std::unique_ptr<Command> NewVersionCommand() { return std::make_unique<VersionCommand>(); }

}  // namespace muster::cli
