// FileStore: what a Sync covered is there after a reopen, a torn tail is cut off (the writes
// before it whole), and a log of overwrites is compacted and still reads back.
#include "io/file_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace muster::io {
namespace {

std::string TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = absl::StrCat(base != nullptr ? base : "/tmp", "/file_store_XXXXXX");
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
  return tmpl + "/store";
}

StorageWrite Put(uint64_t id, std::string key, std::string value) {
  StorageWrite w;
  w.id = id;
  w.Put(std::move(key), std::move(value));
  return w;
}

std::map<std::string, std::string> All(const FileStore& s) {
  std::map<std::string, std::string> out;
  s.Scan("", "", [&](std::string_view k, std::string_view v) {
    out.emplace(k, v);
    return true;
  });
  return out;
}

off_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST(FileStore, WhatASyncCoveredIsThereAfterAReopen) {
  const std::string dir = TempDir();
  {
    auto s = FileStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE((*s)->Apply(Put(1, "local/service/a", "A")).ok());
    ASSERT_TRUE((*s)->Apply(Put(2, "local/service/b", "B")).ok());
    StorageWrite w;
    w.id = 3;
    w.Put("local/check/x", "X");
    w.Put("local/check/y", "Y");
    w.Delete("local/service/a");
    ASSERT_TRUE((*s)->Apply(w).ok());
    EXPECT_EQ((*s)->Get("local/check/x"), "X");  // visible before the sync
    ASSERT_TRUE((*s)->Sync().ok());
    StorageWrite range;
    range.id = 4;
    range.DeleteRange("local/check/", "local/check0");
    ASSERT_TRUE((*s)->Apply(range).ok());
    ASSERT_TRUE((*s)->Sync().ok());
  }
  auto again = FileStore::Open(dir);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(All(**again), (std::map<std::string, std::string>{{"local/service/b", "B"}}));
  EXPECT_EQ((*again)->torn_bytes_at_open(), 0u);
}

TEST(FileStore, ATornTailIsCutOffAndTheWritesBeforeItStay) {
  const std::string dir = TempDir();
  {
    auto s = FileStore::Open(dir);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Apply(Put(1, "k1", "v1")).ok());
    ASSERT_TRUE((*s)->Apply(Put(2, "k2", std::string(1000, 'x'))).ok());
    ASSERT_TRUE((*s)->Sync().ok());
  }
  // A crash mid-append: the last record loses its end.
  const std::string path = dir + "/store.log";
  const off_t size = FileSize(path);
  ASSERT_GT(size, 500);
  ASSERT_EQ(::truncate(path.c_str(), size - 300), 0);
  {
    auto s = FileStore::Open(dir);
    ASSERT_TRUE(s.ok());
    EXPECT_GT((*s)->torn_bytes_at_open(), 0u);
    EXPECT_EQ(All(**s), (std::map<std::string, std::string>{{"k1", "v1"}}));
    ASSERT_TRUE((*s)->Apply(Put(3, "k3", "v3")).ok());
    ASSERT_TRUE((*s)->Sync().ok());
  }
  // Garbage after whole records (a record whose CRC does not match) is cut too.
  {
    std::ofstream f(path, std::ios::app | std::ios::binary);
    f << std::string("\x05\x00\x00\x00\x01\x02\x03\x04hello", 13);
  }
  auto s = FileStore::Open(dir);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->torn_bytes_at_open(), 13u);
  EXPECT_EQ(All(**s), (std::map<std::string, std::string>{{"k1", "v1"}, {"k3", "v3"}}));
}

TEST(FileStore, OverwritesAreCompactedAndReadBack) {
  const std::string dir = TempDir();
  const std::string value(4096, 'v');
  {
    auto s = FileStore::Open(dir);
    ASSERT_TRUE(s.ok());
    for (uint64_t i = 1; i <= 1000; ++i) {
      ASSERT_TRUE((*s)->Apply(Put(i, absl::StrCat("local/check/", i % 10), absl::StrCat(i, value))).ok());
      if (i % 7 == 0) {
        ASSERT_TRUE((*s)->Sync().ok());
      }
    }
    ASSERT_TRUE((*s)->Sync().ok());
    EXPECT_GE((*s)->compactions(), 1u);
  }
  // 1,000 writes of 4 KiB (4 MiB) over ten keys: the file holds little more than the ten.
  EXPECT_LT(FileSize(dir + "/store.log"), static_cast<off_t>(kCompactBytesMin + 2 * 10 * (value.size() + 64)));
  auto s = FileStore::Open(dir);
  ASSERT_TRUE(s.ok());
  const auto all = All(**s);
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all.at("local/check/0"), absl::StrCat(1000, value));
  EXPECT_EQ(all.at("local/check/9"), absl::StrCat(999, value));
}

}  // namespace
}  // namespace muster::io
