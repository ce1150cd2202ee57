// ResidentPageReleaser: smaps read right; only clean file pages released, and only from a
// mapping seen at the previous look; written private pages (a relocated segment's, the heap's)
// and shared mappings keep their contents.
#include "io/resident_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace muster::io {
namespace {

constexpr char kSmaps[] =
    "00400000-00c00000 r-xp 00000000 08:01 1234                       /opt/muster/bin/muster\n"
    "Size:               8192 kB\n"
    "Rss:                5104 kB\n"
    "Pss:                2552 kB\n"
    "Anonymous:             0 kB\n"
    "VmFlags: rd ex mr mw me dw\n"
    "00c00000-00c40000 r--p 00800000 08:01 1234                       /opt/muster/bin/muster\n"
    "Rss:                  40 kB\n"
    "Anonymous:            28 kB\n"
    "00c40000-00c50000 rw-p 00840000 08:01 1234                       /opt/muster/bin/muster\n"
    "Rss:                  40 kB\n"
    "Anonymous:            40 kB\n"
    "01000000-01100000 rw-p 00000000 00:00 0                          [heap]\n"
    "Rss:                 484 kB\n"
    "Anonymous:           484 kB\n"
    "7f0000000000-7f0000100000 r--s 00000000 08:01 99                 /dev/shm/a file with spaces\n"
    "Rss:                   8 kB\n"
    "Anonymous:             0 kB\n"
    "7f0000200000-7f0000201000 r--p 00000000 08:01 77                 /usr/lib/locale/C.utf8/LC_CTYPE\n"
    "Rss:                   4 kB\n"
    "Anonymous:             0 kB\n"
    "7ffff7ff0000-7ffff7ff2000 rw-p 00000000 00:00 0 \n"
    "Rss:                   8 kB\n"
    "Anonymous:             8 kB\n";

TEST(ParseSmaps, ReadsEveryMappingAndItsSizes) {
  absl::StatusOr<std::vector<Mapping>> mappings = ParseSmaps(kSmaps);
  ASSERT_TRUE(mappings.ok()) << mappings.status();
  ASSERT_EQ(mappings->size(), 7u);
  const Mapping& text = (*mappings)[0];
  EXPECT_EQ(text.start, 0x400000u);
  EXPECT_EQ(text.end, 0xc00000u);
  EXPECT_FALSE(text.writable);
  EXPECT_FALSE(text.shared);
  EXPECT_EQ(text.inode, 1234u);
  EXPECT_EQ(text.path, "/opt/muster/bin/muster");
  EXPECT_EQ(text.rss_kb, 5104u);
  EXPECT_EQ(text.anonymous_kb, 0u);
  EXPECT_EQ((*mappings)[3].path, "[heap]");
  EXPECT_EQ((*mappings)[4].path, "/dev/shm/a file with spaces");
  EXPECT_TRUE((*mappings)[4].shared);
  EXPECT_EQ((*mappings)[4].start, 0x7f0000000000u);
  EXPECT_EQ((*mappings)[6].path, "");
  EXPECT_EQ((*mappings)[6].anonymous_kb, 8u);

  // Clean file pages only: the text and the locale file, not the relocated read-only segment
  // (private copies), the data, the heap, a shared mapping or an anonymous one.
  std::vector<bool> clean;
  for (const Mapping& m : *mappings) clean.push_back(HoldsOnlyCleanFilePages(m));
  EXPECT_EQ(clean, (std::vector<bool>{true, false, false, false, false, true, false}));
}

TEST(ParseSmaps, RefusesABrokenHeader) {
  EXPECT_FALSE(ParseSmaps("00400000-zz r-xp 00000000 08:01 1 /x\n").ok());
  EXPECT_FALSE(ParseSmaps("00400000-00500000 r-xp\n").ok());
  EXPECT_FALSE(ParseSmaps("00500000-00400000 r-xp 00000000 08:01 1 /x\n").ok());
  EXPECT_FALSE(ParseSmaps("00400000-00500000 r-xpq 00000000 08:01 1 /x\n").ok());
  EXPECT_TRUE(ParseSmaps("").ok());
}

// This process's smaps entry for the mapping that starts at `start`.
Mapping Find(const void* start) {
  std::ifstream file("/proc/self/smaps");
  std::stringstream text;
  text << file.rdbuf();
  absl::StatusOr<std::vector<Mapping>> mappings = ParseSmaps(text.str());
  EXPECT_TRUE(mappings.ok()) << mappings.status();
  for (const Mapping& m : *mappings) {
    if (m.start == reinterpret_cast<uint64_t>(start)) return m;
  }
  ADD_FAILURE() << "no mapping at " << start;
  return Mapping{};
}

constexpr size_t kPages = 16;

TEST(ResidentPageReleaser, DropsCleanFilePagesOfMappingsSeenBeforeAndKeepsWrittenOnes) {
  const long page = sysconf(_SC_PAGESIZE);
  const size_t length = kPages * static_cast<size_t>(page);
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/resident_pages_test.bin";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  std::string content(length, '\0');
  for (size_t i = 0; i < length; ++i) content[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(write(fd, content.data(), length), static_cast<ssize_t>(length));

  // A read-only private mapping (as code and read-only data are), one written privately and
  // made read-only afterwards (as the loader leaves a relocated segment), and a writable one.
  auto* clean = static_cast<char*>(mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd, 0));
  auto* relocated = static_cast<char*>(mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
  auto* writable = static_cast<char*>(mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
  ASSERT_NE(clean, MAP_FAILED);
  ASSERT_NE(relocated, MAP_FAILED);
  ASSERT_NE(writable, MAP_FAILED);
  close(fd);
  volatile char sum = 0;
  for (size_t i = 0; i < length; i += static_cast<size_t>(page)) sum = sum + clean[i];
  relocated[0] = 'R';
  for (size_t i = 0; i < length; i += static_cast<size_t>(page)) sum = sum + relocated[i];
  ASSERT_EQ(mprotect(relocated, length, PROT_READ), 0);
  writable[0] = 'W';
  ASSERT_EQ(Find(clean).rss_kb, length / 1024);

  ResidentPageReleaser releaser;
  // The first look only records: nothing is released yet.
  absl::StatusOr<ReleasedPages> first = releaser.Release();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->mappings, 0);
  EXPECT_EQ(Find(clean).rss_kb, length / 1024);

  absl::StatusOr<ReleasedPages> second = releaser.Release();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GE(second->mappings, 1);
  EXPECT_GE(second->file_kb, length / 1024);
  EXPECT_EQ(Find(clean).rss_kb, 0u);
  // Read again from the file, unchanged; the private copies are still there.
  EXPECT_EQ(std::string(clean, length), content);
  EXPECT_EQ(relocated[0], 'R');
  EXPECT_EQ(writable[0], 'W');
  // Of the relocated mapping only its copied page stayed (the rest were never touched).
  EXPECT_EQ(Find(relocated).rss_kb, static_cast<uint64_t>(page) / 1024);
  EXPECT_EQ(std::string(relocated + 1, length - 1), content.substr(1));
  EXPECT_EQ(relocated[0], 'R');

  // A mapping that appeared since the previous look waits for the next one.
  int late_fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(late_fd, 0);
  auto* late = static_cast<char*>(mmap(nullptr, length, PROT_READ, MAP_PRIVATE, late_fd, 0));
  ASSERT_NE(late, MAP_FAILED);
  close(late_fd);
  for (size_t i = 0; i < length; i += static_cast<size_t>(page)) sum = sum + late[i];
  ASSERT_TRUE(releaser.Release().ok());
  EXPECT_EQ(Find(late).rss_kb, length / 1024);
  ASSERT_TRUE(releaser.Release().ok());
  EXPECT_EQ(Find(late).rss_kb, 0u);
  EXPECT_EQ(std::string(late, length), content);

  munmap(clean, length);
  munmap(relocated, length);
  munmap(writable, length);
  munmap(late, length);
  unlink(path.c_str());
}

// Pages of `file` in the page cache, by mincore over a fresh mapping of it.
size_t CachedPages(const std::string& file, size_t length) {
  int fd = open(file.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  void* view = mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  EXPECT_NE(view, MAP_FAILED);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in_core(length / page);
  EXPECT_EQ(mincore(view, length, in_core.data()), 0);
  munmap(view, length);
  size_t cached = 0;
  for (unsigned char c : in_core) cached += c & 1;
  return cached;
}

TEST(ResidentPageReleaser, TheExecutablesPagesLeaveThePageCacheAndComeBackOneByOne) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t length = kPages * page;
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/resident_pages_exe.bin";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  std::string content(length, 'x');
  ASSERT_EQ(write(fd, content.data(), length), static_cast<ssize_t>(length));
  ASSERT_EQ(fsync(fd), 0);  // dirty pages cannot leave the cache
  close(fd);
  fd = open(path.c_str(), O_RDONLY);
  auto* code = static_cast<char*>(mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd, 0));
  close(fd);
  ASSERT_NE(code, MAP_FAILED);
  volatile char sum = 0;
  for (size_t i = 0; i < length; i += page) sum = sum + code[i];
  ASSERT_EQ(CachedPages(path, length), kPages);

  // The test treats its file as "the executable".
  ResidentPageReleaser releaser(path);
  ASSERT_TRUE(releaser.Release().ok());
  absl::StatusOr<ReleasedPages> released = releaser.Release();
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(Find(code).rss_kb, 0u);
  EXPECT_EQ(CachedPages(path, length), 0u);
  // One page touched is one page read and mapped: no readahead, no neighbours.
  sum = sum + code[3 * page];
  EXPECT_EQ(Find(code).rss_kb, page / 1024);
  EXPECT_EQ(code[3 * page], 'x');
  munmap(code, length);
  unlink(path.c_str());
}

}  // namespace
}  // namespace muster::io
