#include "io/config/disk_config_files.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/status/status.h"

namespace muster::config {

absl::StatusOr<std::string> DiskConfigFiles::ReadFile(const std::string& path) const {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError("is a directory (use -config-dir for one)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("no such file, or not readable");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError("read failed");
  return text.str();
}

absl::StatusOr<std::vector<std::string>> DiskConfigFiles::ListDir(const std::string& dir) const {
  std::error_code error;
  std::filesystem::directory_iterator it(dir, error);
  if (error) return absl::NotFoundError(error.message());
  std::vector<std::string> names;
  for (const std::filesystem::directory_entry& entry : it) {
    std::error_code type_error;
    if (entry.is_regular_file(type_error)) names.push_back(entry.path().filename().string());
  }
  return names;
}

}  // namespace muster::config
