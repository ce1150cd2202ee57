// What a command touches outside itself: its two output streams, the environment variables,
// stdin and files (for `kv put k -` and `kv put k @file`), and the HTTP transport to the
// agent. The binary passes the real ones (cli.cc); tests pass strings and a canned transport.
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "cmd/cli/http_client.h"

namespace muster::cli {

struct Environment {
  std::ostream* out = nullptr;  // results (Consul's UI.Output / UI.Info)
  std::ostream* err = nullptr;  // errors (UI.Error)
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  std::function<absl::StatusOr<std::string>()> read_stdin;
  std::function<absl::StatusOr<std::string>(const std::string& path)> read_file;
  HttpTransport* transport = nullptr;
};

}  // namespace muster::cli
