#include "io/curl_library.h"

#include <dlfcn.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace muster::io {
namespace {

// The soname of Debian's libcurl4 (and libcurl4-openssl-dev's libcurl.so link target): the
// ABI the headers we compile against describe.
constexpr char kCurlSoname[] = "libcurl.so.4";

// Sets *field to the library's `symbol`; false (and the name in *missing) when it has none.
template <typename F>
bool Resolve(void* handle, const char* symbol, F* field, std::string* missing) {
  *field = reinterpret_cast<F>(dlsym(handle, symbol));
  if (*field == nullptr && missing->empty()) *missing = symbol;
  return *field != nullptr;
}

absl::StatusOr<const CurlLibrary*> Open() {
  // RTLD_LOCAL: curl's libraries (OpenSSL, ...) never resolve another library's symbols
  // through ours, nor ours through theirs. It stays loaded for the life of the process.
  void* handle = dlopen(kCurlSoname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::UnavailableError(absl::StrCat("libcurl: ", why != nullptr ? why : kCurlSoname));
  }
  static CurlLibrary lib;
  std::string missing;
  Resolve(handle, "curl_easy_cleanup", &lib.easy_cleanup, &missing);
  Resolve(handle, "curl_easy_getinfo", &lib.easy_getinfo, &missing);
  Resolve(handle, "curl_easy_init", &lib.easy_init, &missing);
  Resolve(handle, "curl_easy_setopt", &lib.easy_setopt, &missing);
  Resolve(handle, "curl_easy_strerror", &lib.easy_strerror, &missing);
  Resolve(handle, "curl_free", &lib.free, &missing);
  Resolve(handle, "curl_multi_add_handle", &lib.multi_add_handle, &missing);
  Resolve(handle, "curl_multi_assign", &lib.multi_assign, &missing);
  Resolve(handle, "curl_multi_cleanup", &lib.multi_cleanup, &missing);
  Resolve(handle, "curl_multi_info_read", &lib.multi_info_read, &missing);
  Resolve(handle, "curl_multi_init", &lib.multi_init, &missing);
  Resolve(handle, "curl_multi_remove_handle", &lib.multi_remove_handle, &missing);
  Resolve(handle, "curl_multi_setopt", &lib.multi_setopt, &missing);
  Resolve(handle, "curl_multi_socket_action", &lib.multi_socket_action, &missing);
  Resolve(handle, "curl_multi_strerror", &lib.multi_strerror, &missing);
  Resolve(handle, "curl_slist_append", &lib.slist_append, &missing);
  Resolve(handle, "curl_slist_free_all", &lib.slist_free_all, &missing);
  Resolve(handle, "curl_url", &lib.url, &missing);
  Resolve(handle, "curl_url_cleanup", &lib.url_cleanup, &missing);
  Resolve(handle, "curl_url_get", &lib.url_get, &missing);
  Resolve(handle, "curl_url_set", &lib.url_set, &missing);
  Resolve(handle, "curl_url_strerror", &lib.url_strerror, &missing);
  auto* global_init = reinterpret_cast<decltype(&::curl_global_init)>(dlsym(handle, "curl_global_init"));
  if (global_init == nullptr && missing.empty()) missing = "curl_global_init";
  if (!missing.empty()) {
    return absl::UnavailableError(absl::StrCat("libcurl: ", kCurlSoname, " has no ", missing));
  }
  if (const CURLcode rc = global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("curl_global_init: ", lib.easy_strerror(rc)));
  }
  return &lib;
}

}  // namespace

absl::StatusOr<const CurlLibrary*> OpenCurlLibrary() {
  static const absl::StatusOr<const CurlLibrary*>* const opened =
      new absl::StatusOr<const CurlLibrary*>(Open());
  return *opened;
}

}  // namespace muster::io
