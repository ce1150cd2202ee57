// libcurl as the HTTP health-check probes use it (io/probe_runner.cc), opened with dlopen at
// the first HTTP probe instead of linked into the binary. Linked, libcurl brings OpenSSL,
// GnuTLS, Kerberos, LDAP, libssh2 and a dozen more libraries into every agent at start, about
// 5 MB of resident memory (their pages touched by the loader's relocations and symbol lookups)
// that an agent without HTTP checks, most idle clients, never uses
// (bench/client_agent_bench_results.md). The headers still give the types and constants; the
// functions are called through this table.
#pragma once

#include <curl/curl.h>

#include "absl/status/statusor.h"

namespace muster::io {

// The libcurl functions ProbeRunner calls, each resolved from the loaded library.
struct CurlLibrary {
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_free) free;
  decltype(&::curl_multi_add_handle) multi_add_handle;
  decltype(&::curl_multi_assign) multi_assign;
  decltype(&::curl_multi_cleanup) multi_cleanup;
  decltype(&::curl_multi_info_read) multi_info_read;
  decltype(&::curl_multi_init) multi_init;
  decltype(&::curl_multi_remove_handle) multi_remove_handle;
  decltype(&::curl_multi_setopt) multi_setopt;
  decltype(&::curl_multi_socket_action) multi_socket_action;
  decltype(&::curl_multi_strerror) multi_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
  decltype(&::curl_url) url;
  decltype(&::curl_url_cleanup) url_cleanup;
  decltype(&::curl_url_get) url_get;
  decltype(&::curl_url_set) url_set;
  decltype(&::curl_url_strerror) url_strerror;
};

// Opens libcurl (Debian's libcurl4, libcurl.so.4) and runs curl_global_init, once per process;
// later calls return the same table, or the same error (dlopen's message, a missing symbol, or
// curl_global_init's code), so a host without libcurl fails its HTTP probes, not its start.
// Call it from the loop's thread only.
absl::StatusOr<const CurlLibrary*> OpenCurlLibrary();

}  // namespace muster::io
