#include "cmd/agent/node_id_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/agent/identity.h"
#include "core/base/strings.h"

namespace muster::cmd {
namespace {

// A node-id file is 36 bytes; anything much longer is not one.
constexpr size_t kNodeIdFileBytesMax = 1024;

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(Absl(what), " ", path, ": ", strerror(errno)));
}

// mkdir -p, each missing level 0755 (as Consul's MkdirAll).
absl::Status MakeDirs(const std::string& dir) {
  for (size_t slash = dir.find('/', 1); ; slash = dir.find('/', slash + 1)) {
    const std::string prefix = slash == std::string::npos ? dir : dir.substr(0, slash);
    if (!prefix.empty() && mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return Errno("Failed to create data dir", prefix);
    }
    if (slash == std::string::npos) break;
  }
  struct stat info;
  if (stat(dir.c_str(), &info) != 0) return Errno("Failed to read data dir", dir);
  if (!S_ISDIR(info.st_mode)) return absl::FailedPreconditionError(absl::StrCat("Data dir ", dir, " is not a directory"));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Errno("Failed to read", path);
  }
  std::string content;
  char buffer[256];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status status = Errno("Failed to read", path);
      close(fd);
      return status;
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > kNodeIdFileBytesMax) {
      close(fd);
      return absl::FailedPreconditionError(absl::StrCat(path, " is too large to be a node ID"));
    }
  }
  close(fd);
  return std::optional<std::string>(std::move(content));
}

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("Failed to write", path);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Written to a temp file, synced, renamed over the name, and the dir synced: the ID is either
// absent or whole and durable after a crash.
absl::Status WriteDurably(const std::string& dir, const std::string& path, std::string_view content) {
  const std::string temp = path + ".tmp";
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("Failed to write", temp);
  absl::Status status = WriteAll(fd, content, temp);
  if (status.ok() && fsync(fd) != 0) status = Errno("Failed to sync", temp);
  close(fd);
  if (!status.ok()) return status;
  if (rename(temp.c_str(), path.c_str()) != 0) return Errno("Failed to rename into", path);
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Errno("Failed to open", dir);
  status = fsync(dir_fd) == 0 ? absl::OkStatus() : Errno("Failed to sync", dir);
  close(dir_fd);
  return status;
}

}  // namespace

absl::StatusOr<std::string> RandomNodeId() {
  uint64_t bits[2];
  size_t got = 0;
  auto* bytes = reinterpret_cast<unsigned char*>(bits);
  while (got < sizeof(bits)) {
    ssize_t n = getrandom(bytes + got, sizeof(bits) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("Failed to draw a random node ID: ", strerror(errno)));
    got += static_cast<size_t>(n);
  }
  return agent::FormatNodeId(bits[0], bits[1]);
}

absl::StatusOr<std::string> LoadOrCreateNodeId(const std::string& data_dir, const std::string& configured) {
  if (absl::Status made = MakeDirs(data_dir); !made.ok()) return made;
  const std::string path = data_dir + "/" + kNodeIdFileName;
  absl::StatusOr<std::optional<std::string>> stored = ReadSmallFile(path);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    const std::string text(absl::StripAsciiWhitespace(**stored));
    absl::StatusOr<std::string> id = agent::ParseNodeId(text);
    if (!id.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("The node ID in ", path, " is not a valid UUID: ", id.status().message()));
    }
    if (!configured.empty() && configured != *id) {
      return absl::FailedPreconditionError(
          absl::StrCat("The node ID given (-node-id=", configured, ") differs from the one in ", path, " (", *id,
                       "): an agent keeps its node ID; remove the data dir to start as a new node"));
    }
    return *id;
  }
  std::string id;
  if (configured.empty()) {
    absl::StatusOr<std::string> fresh = RandomNodeId();
    if (!fresh.ok()) return fresh.status();
    id = *fresh;
  } else {
    id = configured;
  }
  if (absl::Status written = WriteDurably(data_dir, path, id); !written.ok()) return written;
  return id;
}

}  // namespace muster::cmd
