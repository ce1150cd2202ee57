// OpenCurlLibrary: libcurl opens (Debian's libcurl4 is a dependency of the -dev package the
// build needs), every function resolves and works, and a second call returns the same table.
#include "io/curl_library.h"

#include <string>

#include "gtest/gtest.h"

namespace muster::io {
namespace {

TEST(CurlLibrary, OpensOnceAndItsFunctionsWork) {
  absl::StatusOr<const CurlLibrary*> first = OpenCurlLibrary();
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<const CurlLibrary*> second = OpenCurlLibrary();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*first, *second);
  const CurlLibrary& curl = **first;

  CURL* easy = curl.easy_init();
  ASSERT_NE(easy, nullptr);
  EXPECT_EQ(curl.easy_setopt(easy, CURLOPT_URL, "http://127.0.0.1:1/"), CURLE_OK);
  curl.easy_cleanup(easy);
  EXPECT_STREQ(curl.easy_strerror(CURLE_OK), "No error");

  CURLU* url = curl.url();
  ASSERT_NE(url, nullptr);
  ASSERT_EQ(curl.url_set(url, CURLUPART_URL, "https://example.test/health", 0), CURLUE_OK);
  char* port = nullptr;
  ASSERT_EQ(curl.url_get(url, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT), CURLUE_OK);
  EXPECT_EQ(std::string(port), "443");
  curl.free(port);
  curl.url_cleanup(url);

  curl_slist* list = curl.slist_append(nullptr, "Expect:");
  ASSERT_NE(list, nullptr);
  curl.slist_free_all(list);
}

}  // namespace
}  // namespace muster::io
