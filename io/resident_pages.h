// Giving back the resident pages a process only needed to start: the clean pages of its binary
// and libraries (code and read-only data, which the kernel can read again from the page cache
// at any time) and the free memory of the heap.
//
// An agent touches much of its code once while starting (flags, config files, the data dir,
// the first join and sync) and a small part of it afterwards (timers, gossip, an RPC now and
// then). The startup pages stay mapped, and so counted in the resident set, until the kernel
// runs short of memory. Releasing them once the start is over leaves the idle agent's own
// working set (bench/client_agent_idle_bench.py); a page needed again costs one minor fault
// (no disk read while the file is cached).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace muster::io {

// One mapping of /proc/self/smaps, with what decides whether its pages may be released.
struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;
  bool writable = false;
  bool shared = false;  // 's' (MAP_SHARED) rather than 'p'
  uint64_t inode = 0;
  std::string path;     // "" for anonymous mappings; "[heap]", "[stack]", ... for the kernel's
  uint64_t rss_kb = 0;
  uint64_t anonymous_kb = 0;
};

// Every mapping of an smaps text (/proc/PID/smaps). Fields it does not use are skipped; a
// header line it cannot read is an error.
absl::StatusOr<std::vector<Mapping>> ParseSmaps(std::string_view smaps);

// True for a mapping whose resident pages are all clean copies of a file: private, not
// writable, mapped from a file, and without one private (copied-on-write) page, as a relocated
// read-only segment has. Dropping such pages loses nothing.
bool HoldsOnlyCleanFilePages(const Mapping& mapping);

// A mapping that may hold clean file pages: private, not writable, from a file. Its pages are
// clean but for the private copies (Anonymous in smaps) a relocated segment has.
bool IsReadOnlyPrivateFileMapping(const Mapping& mapping);

// Appends to `runs` (start, length) the runs of pages of [start, end) of this process that are
// not private copies (by /proc/self/pagemap: present without the file bit, or swapped).
absl::Status CleanPageRuns(uint64_t start, uint64_t end, std::vector<std::pair<uint64_t, uint64_t>>* runs);

struct ReleasedPages {
  int mappings = 0;      // mappings whose pages were released
  uint64_t file_kb = 0;  // what those mappings had resident before
  bool heap_trimmed = false;
};

// Releases, at each Release(), the clean file pages of the read-only private file mappings
// (all of a mapping's pages, or, in a relocated one, all but its private copies) that were
// already there, with the same bounds, protection and file, at the
// previous Release(). The second condition keeps a library that another thread is loading at
// that moment out of it: the loader maps a whole library read-only first and then maps its
// writable segment over it and relocates it, so a mapping seen read-only in this scan may be
// written by the time the pages are dropped; a mapping already in place at the previous scan
// (a second apart at least) is a finished one, and the agent never unloads a library. So the
// first Release() only records; each later one releases and records.
//
// The executable's own pages get more: the kernel caches a file read in large readahead
// chunks as large folios (64 KiB and up) and maps a whole folio at a fault, so the few hot
// functions of an idle agent would bring back most of its code. Its mappings are marked
// MADV_RANDOM (read again page by page, no readahead) and its cached pages that no process
// maps are dropped from the page cache (POSIX_FADV_DONTNEED), so what is read again is what
// runs. The price: the executable's cold code is read from the file one page at a time when it
// runs again (a disk read per page the first time, until it is cached).
class ResidentPageReleaser {
 public:
  // `executable`: the path of this process's binary as /proc/self/maps names it
  // (/proc/self/exe's target); "" gives it no special treatment.
  explicit ResidentPageReleaser(std::string executable = "") : executable_(std::move(executable)) {}

  absl::StatusOr<ReleasedPages> Release();

 private:
  std::string executable_;
  using Key = std::tuple<uint64_t, uint64_t, uint64_t, std::string>;  // start, end, inode, path
  std::set<Key> seen_;
};

}  // namespace muster::io
