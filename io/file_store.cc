#include "io/file_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace muster::io {
namespace {

constexpr char kLogName[] = "store.log";
constexpr char kTempName[] = "store.log.tmp";
constexpr size_t kHeaderBytes = 8;

// zlib's CRC-32: enough to tell a torn append from a record.
uint32_t Crc32(std::string_view data) {
  uLong c = ::crc32(0L, Z_NULL, 0);
  // crc32 takes a uInt length: feed it in pieces so a record past 4 GiB could not wrap.
  size_t at = 0;
  while (at < data.size()) {
    const uInt n = static_cast<uInt>(std::min<size_t>(data.size() - at, 1u << 30));
    c = ::crc32(c, reinterpret_cast<const Bytef*>(data.data() + at), n);
    at += n;
  }
  return static_cast<uint32_t>(c);
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

void PutBytes(std::string* out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

// One record: the ops, each [u8 kind][key][value], framed with length and CRC.
void AppendRecord(std::string* out, const std::vector<StorageOp>& ops) {
  std::string payload;
  for (const StorageOp& op : ops) {
    payload.push_back(static_cast<char>(op.kind));
    PutBytes(&payload, op.key);
    PutBytes(&payload, op.value);
  }
  PutU32(out, static_cast<uint32_t>(payload.size()));
  PutU32(out, Crc32(payload));
  out->append(payload);
}

// The ops of one payload; false when it does not decode (corruption the CRC missed).
bool DecodeOps(std::string_view payload, std::vector<StorageOp>* ops) {
  size_t at = 0;
  auto bytes = [&](std::string* s) {
    if (payload.size() - at < 4) return false;
    const uint32_t n = GetU32(payload.data() + at);
    at += 4;
    if (payload.size() - at < n) return false;
    s->assign(payload.data() + at, n);
    at += n;
    return true;
  };
  while (at < payload.size()) {
    const auto kind = static_cast<uint8_t>(payload[at++]);
    if (kind > static_cast<uint8_t>(StorageOp::Kind::kDeleteRange)) return false;
    StorageOp op;
    op.kind = static_cast<StorageOp::Kind>(kind);
    if (!bytes(&op.key) || !bytes(&op.value)) return false;
    ops->push_back(std::move(op));
  }
  return true;
}

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(std::string(what), " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("write", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status SyncFolder(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open", dir);
  const int r = ::fsync(fd);
  ::close(fd);
  return r == 0 ? absl::OkStatus() : Errno("fsync", dir);
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileStore>> FileStore::Open(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Errno("mkdir", dir);
  const std::string path = absl::StrCat(dir, "/", kLogName);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("open", path);
  std::unique_ptr<FileStore> store(new FileStore(dir, fd));
  if (absl::Status s = store->Replay(); !s.ok()) return s;
  if (absl::Status s = SyncFolder(dir); !s.ok()) return s;  // the file's creation
  return store;
}

FileStore::~FileStore() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status FileStore::Replay() {
  const std::string path = absl::StrCat(dir_, "/", kLogName);
  std::string data;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read", path);
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  size_t at = 0;
  while (data.size() - at >= kHeaderBytes) {
    const uint32_t length = GetU32(data.data() + at);
    const uint32_t crc = GetU32(data.data() + at + 4);
    if (length > kRecordBytesMax || data.size() - at - kHeaderBytes < length) break;
    const std::string_view payload(data.data() + at + kHeaderBytes, length);
    std::vector<StorageOp> ops;
    if (Crc32(payload) != crc || !DecodeOps(payload, &ops)) break;
    for (const StorageOp& op : ops) ApplyStorageOp(kv_, op);
    at += kHeaderBytes + length;
  }
  // What follows the last whole record is a torn append: cut it, so new records follow a
  // whole one.
  torn_bytes_at_open_ = data.size() - at;
  if (torn_bytes_at_open_ > 0) {
    if (::ftruncate(fd_, static_cast<off_t>(at)) != 0) return Errno("ftruncate", path);
    if (::fdatasync(fd_) != 0) return Errno("fdatasync", path);
  }
  if (::lseek(fd_, static_cast<off_t>(at), SEEK_SET) < 0) return Errno("lseek", path);
  file_bytes_ = at;
  return absl::OkStatus();
}

uint64_t FileStore::LiveBytes() const {
  uint64_t n = 0;
  for (const auto& [k, v] : kv_) n += k.size() + v.size() + 9;  // as encoded: kind and two lengths
  return n;
}

absl::Status FileStore::Apply(const StorageWrite& write) {
  for (const StorageOp& op : write.ops) ApplyStorageOp(kv_, op);
  std::string record;
  AppendRecord(&record, write.ops);
  file_bytes_ += record.size();
  bool compact = false;
  if (file_bytes_ > kCompactBytesMin) {
    const uint64_t live = LiveBytes();
    compact = file_bytes_ > 2 * live + kHeaderBytes;
  }
  absl::MutexLock lock(&mu_);
  if (!compact) {
    pending_.append(record);
    return absl::OkStatus();
  }
  // Everything applied so far, as one record: it replaces the file and what was pending.
  std::vector<StorageOp> all;
  all.reserve(kv_.size());
  for (const auto& [k, v] : kv_) all.push_back({StorageOp::Kind::kPut, k, v});
  std::string snapshot;
  AppendRecord(&snapshot, all);
  file_bytes_ = snapshot.size();
  rewrite_ = std::move(snapshot);
  pending_.clear();
  return absl::OkStatus();
}

absl::Status FileStore::Sync() {
  std::string append;
  std::optional<std::string> rewrite;
  {
    absl::MutexLock lock(&mu_);
    append.swap(pending_);
    rewrite.swap(rewrite_);
  }
  const std::string path = absl::StrCat(dir_, "/", kLogName);
  if (rewrite.has_value()) {
    const std::string temp = absl::StrCat(dir_, "/", kTempName);
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("open", temp);
    absl::Status s = WriteAll(fd, *rewrite, temp);
    if (s.ok()) s = WriteAll(fd, append, temp);
    if (s.ok() && ::fsync(fd) != 0) s = Errno("fsync", temp);
    if (!s.ok()) {
      ::close(fd);
      return s;
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      ::close(fd);
      return Errno("rename", temp);
    }
    if (absl::Status d = SyncFolder(dir_); !d.ok()) {
      ::close(fd);
      return d;
    }
    ::close(fd_);
    // Appends go on at the new file's end.
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd_ < 0) return Errno("open", path);
    ::close(fd);
    compactions_.fetch_add(1);
    return absl::OkStatus();
  }
  if (append.empty()) return absl::OkStatus();
  if (absl::Status s = WriteAll(fd_, append, path); !s.ok()) return s;
  if (::fdatasync(fd_) != 0) return Errno("fdatasync", path);
  return absl::OkStatus();
}

std::optional<std::string> FileStore::Get(std::string_view key) const {
  auto it = kv_.find(key);
  if (it == kv_.end()) return std::nullopt;
  return it->second;
}

void FileStore::Scan(std::string_view begin, std::string_view end,
                     const std::function<bool(std::string_view, std::string_view)>& visit) const {
  for (auto it = kv_.lower_bound(begin); it != kv_.end(); ++it) {
    if (!end.empty() && std::string_view(it->first) >= end) break;
    if (!visit(it->first, it->second)) break;
  }
}

}  // namespace muster::io
