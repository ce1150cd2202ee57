#include "io/resident_pages.h"

#include <malloc.h>
#include <sys/mman.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace muster::io {
namespace {

// smaps has at most a few thousand mappings; a text this long is not smaps.
constexpr size_t kSmapsBytesMax = 64 << 20;

bool ParseHex(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 16) return false;
  uint64_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return false;
    }
    value = value * 16 + static_cast<uint64_t>(digit);
  }
  *out = value;
  return true;
}

// "Rss:   123 kB" -> 123, for the fields named.
bool ParseSizeField(std::string_view line, std::string_view name, uint64_t* out) {
  absl::string_view rest(line.data(), line.size());
  if (!absl::ConsumePrefix(&rest, absl::string_view(name.data(), name.size()))) return false;
  if (!absl::ConsumePrefix(&rest, ":")) return false;
  rest = absl::StripAsciiWhitespace(rest);
  if (!absl::ConsumeSuffix(&rest, "kB")) return false;
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), out);
}

// A mapping's header: "start-end perms offset dev inode [path]"; a field line ("Rss: ...")
// has no '-' in its first word.
bool IsHeader(std::string_view line) {
  const size_t space = line.find(' ');
  const std::string_view first = line.substr(0, space);
  return first.find('-') != std::string_view::npos && first.find(':') == std::string_view::npos;
}

// /proc/self/smaps in one string, by read(2): no stream library, whose code would stay
// resident after the release for nothing.
absl::StatusOr<std::string> ReadSmaps() {
  const int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("/proc/self/smaps: ", std::strerror(errno)));
  std::string text;
  constexpr size_t kChunkBytes = 64 << 10;
  while (true) {
    if (text.size() > kSmapsBytesMax) {
      close(fd);
      return absl::InvalidArgumentError("/proc/self/smaps is too long");
    }
    const size_t at = text.size();
    text.resize(at + kChunkBytes);
    const ssize_t n = read(fd, text.data() + at, kChunkBytes);
    if (n < 0 && errno == EINTR) {
      text.resize(at);
      continue;
    }
    if (n < 0) {
      const int error = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat("/proc/self/smaps: ", std::strerror(error)));
    }
    text.resize(at + static_cast<size_t>(n));
    if (n == 0) break;
  }
  close(fd);
  return text;
}

}  // namespace

absl::StatusOr<std::vector<Mapping>> ParseSmaps(std::string_view smaps) {
  if (smaps.size() > kSmapsBytesMax) return absl::InvalidArgumentError("smaps text too long");
  std::vector<Mapping> mappings;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(smaps.data(), smaps.size()), '\n')) {
    const std::string_view line(raw.data(), raw.size());
    if (line.empty()) continue;
    if (IsHeader(line)) {
      // Split into at most six fields: the path may hold spaces.
      std::vector<std::string_view> fields;
      size_t at = 0;
      while (fields.size() < 5 && at < line.size()) {
        const size_t end = line.find(' ', at);
        fields.push_back(line.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at));
        if (end == std::string_view::npos) {
          at = line.size();
          break;
        }
        at = line.find_first_not_of(' ', end);
        if (at == std::string_view::npos) at = line.size();
      }
      if (fields.size() < 5) return absl::InvalidArgumentError(absl::StrCat("smaps header: ", raw));
      Mapping m;
      const size_t dash = fields[0].find('-');
      const std::string_view perms = fields[1];
      if (!ParseHex(fields[0].substr(0, dash), &m.start) || !ParseHex(fields[0].substr(dash + 1), &m.end) ||
          m.end < m.start || perms.size() != 4 ||
          !absl::SimpleAtoi(absl::string_view(fields[4].data(), fields[4].size()), &m.inode)) {
        return absl::InvalidArgumentError(absl::StrCat("smaps header: ", raw));
      }
      m.writable = perms[1] == 'w';
      m.shared = perms[3] == 's';
      if (at < line.size()) m.path = std::string(line.substr(at));
      mappings.push_back(std::move(m));
      continue;
    }
    if (mappings.empty()) continue;
    uint64_t kb = 0;
    if (ParseSizeField(line, "Rss", &kb)) {
      mappings.back().rss_kb = kb;
    } else if (ParseSizeField(line, "Anonymous", &kb)) {
      mappings.back().anonymous_kb = kb;
    }
  }
  return mappings;
}

bool IsReadOnlyPrivateFileMapping(const Mapping& mapping) {
  return !mapping.writable && !mapping.shared && mapping.inode != 0 && !mapping.path.empty() &&
         mapping.path[0] == '/';
}

bool HoldsOnlyCleanFilePages(const Mapping& mapping) {
  return IsReadOnlyPrivateFileMapping(mapping) && mapping.anonymous_kb == 0;
}

absl::Status CleanPageRuns(uint64_t start, uint64_t end, std::vector<std::pair<uint64_t, uint64_t>>* runs) {
  constexpr uint64_t kPageBytes = 4096;
  constexpr uint64_t kPresent = uint64_t{1} << 63;
  constexpr uint64_t kSwapped = uint64_t{1} << 62;
  constexpr uint64_t kFileOrSharedAnonymous = uint64_t{1} << 61;
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("/proc/self/pagemap: ", std::strerror(errno)));
  const uint64_t pages = (end - start) / kPageBytes;
  std::vector<uint64_t> entries(pages);
  const ssize_t want = static_cast<ssize_t>(pages * sizeof(uint64_t));
  const ssize_t got = pread(fd, entries.data(), static_cast<size_t>(want), static_cast<off_t>(start / kPageBytes * sizeof(uint64_t)));
  close(fd);
  if (got != want) return absl::UnavailableError("/proc/self/pagemap: short read");
  uint64_t run_start = 0;
  bool in_run = false;
  for (uint64_t i = 0; i <= pages; ++i) {
    bool clean = false;
    if (i < pages) {
      const uint64_t e = entries[i];
      // A private copy is present without the file bit, or swapped out: it must stay.
      const bool copy = ((e & kPresent) != 0 && (e & kFileOrSharedAnonymous) == 0) || (e & kSwapped) != 0;
      clean = !copy;
    }
    const uint64_t address = start + i * kPageBytes;
    if (clean && !in_run) {
      run_start = address;
      in_run = true;
    } else if (!clean && in_run) {
      runs->emplace_back(run_start, address - run_start);
      in_run = false;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ReleasedPages> ResidentPageReleaser::Release() {
  // Everything but the madvise calls comes first, so that little code runs after the pages
  // are dropped (each page of code touched after it is faulted back in, with its neighbours).
  absl::StatusOr<std::string> smaps = ReadSmaps();
  if (!smaps.ok()) return smaps.status();
  absl::StatusOr<std::vector<Mapping>> mappings = ParseSmaps(*smaps);
  if (!mappings.ok()) return mappings.status();
  smaps->clear();
  smaps->shrink_to_fit();

  ReleasedPages released;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  std::vector<std::pair<uint64_t, uint64_t>> executable_ranges;
  std::set<Key> seen;
  for (const Mapping& m : *mappings) {
    if (!IsReadOnlyPrivateFileMapping(m)) continue;
    Key key{m.start, m.end, m.inode, m.path};
    if (m.rss_kb > m.anonymous_kb && seen_.count(key) > 0) {
      if (m.anonymous_kb == 0) {
        ranges.emplace_back(m.start, m.end - m.start);
      } else if (absl::Status status = CleanPageRuns(m.start, m.end, &ranges); !status.ok()) {
        // A relocated segment: its copied pages stay, the rest goes, page by page.
        return status;
      }
      if (!executable_.empty() && m.path == executable_) executable_ranges.emplace_back(m.start, m.end - m.start);
      ++released.mappings;
      released.file_kb += m.rss_kb - m.anonymous_kb;
    }
    seen.insert(std::move(key));
  }
  seen_ = std::move(seen);
  mappings->clear();
  mappings->shrink_to_fit();
  released.heap_trimmed = malloc_trim(0) == 1;

  for (const auto& [start, length] : ranges) {
    if (madvise(reinterpret_cast<void*>(start), length, MADV_DONTNEED) != 0) {
      return absl::InternalError(absl::StrCat("madvise(MADV_DONTNEED): ", std::strerror(errno)));
    }
  }
  for (const auto& [start, length] : executable_ranges) {
    // Read again page by page: no readahead, so no large folio, so a fault maps one page.
    if (madvise(reinterpret_cast<void*>(start), length, MADV_RANDOM) != 0) {
      return absl::InternalError(absl::StrCat("madvise(MADV_RANDOM): ", std::strerror(errno)));
    }
  }
  if (!executable_ranges.empty()) {
    // The executable's cached pages that no process maps now leave the page cache (the pages
    // another process maps stay), so that the pages read again are single pages.
    const int fd = open(executable_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      close(fd);
    }
  }
  return released;
}

}  // namespace muster::io
