// /v1/kv: reads (raw, recurse, keys, separator), writes (flags, cas, acquire, release) and deletes (recurse, cas).
#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/go_duration.h"
#include "core/base/strings.h"
#include "io/api/route_util.h"
#include "nlohmann/json.hpp"

namespace muster::io::api {
namespace {

using Json = nlohmann::json;

Routed KvGet(const EndpointRequest& in) {
  const http::Request& request = in.http;
  RoutedCall routed = Call("kv.get", AnswerShape::kQuery);
  proto::agent::Call& call = routed.call;
  call.set_key(std::string(in.suffix));
  ApplyReadParams(in.common, &call);
  call.set_recurse(request.HasQuery("recurse"));
  call.set_keys(request.HasQuery("keys"));
  if (call.keys()) {
    // Consul reads the historic misspelling too; the right spelling wins.
    std::optional<std::string> separator = request.Query("separator");
    if (!separator.has_value()) separator = request.Query("seperator");
    if (separator.has_value()) {
      if (auto bad = CheckString("separator", *separator, kParamBytesMax)) return *bad;
      call.set_separator(*separator);
    }
  } else if (!call.recurse() && call.key().empty()) {
    return Text(400, "Missing key name");
  }
  call.set_raw(request.HasQuery("raw"));
  // Raw only for a single key: with recurse or keys Consul answers the JSON list.
  if (call.raw() && !call.recurse() && !call.keys()) routed.shape = AnswerShape::kRawValue;
  return routed;
}

Routed KvPut(const EndpointRequest& in) {
  const http::Request& request = in.http;
  if (in.suffix.empty()) return Text(400, "Missing key name");
  if (auto conflict = Conflicting(request, {"cas", "acquire", "release"})) return *conflict;
  RoutedCall routed = Call("kv.put");
  proto::agent::Call& call = routed.call;
  call.set_key(std::string(in.suffix));
  UintParam flags = ParseUintParam(request, "flags");
  if (flags.error.has_value()) return *flags.error;
  call.set_flags(flags.value.value_or(0));
  UintParam cas = ParseUintParam(request, "cas");
  if (cas.error.has_value()) return *cas.error;
  if (cas.value.has_value()) {
    call.set_has_cas(true);
    call.set_cas(*cas.value);
  }
  for (std::string_view lock : {"acquire", "release"}) {
    std::optional<std::string> session = request.Query(Absl(lock));
    if (!session.has_value()) continue;
    if (auto bad = CheckString(lock, *session, kParamBytesMax)) return *bad;
    if (lock == "acquire") {
      call.set_acquire(*session);
    } else {
      call.set_release(*session);
    }
  }
  call.set_value(request.body);
  return routed;
}

Routed KvDelete(const EndpointRequest& in) {
  const http::Request& request = in.http;
  if (auto conflict = Conflicting(request, {"recurse", "cas"})) return *conflict;
  RoutedCall routed = Call("kv.delete");
  proto::agent::Call& call = routed.call;
  call.set_key(std::string(in.suffix));
  call.set_recurse(request.HasQuery("recurse"));
  if (!call.recurse() && call.key().empty()) return Text(400, "Missing key name");
  UintParam cas = ParseUintParam(request, "cas");
  if (cas.error.has_value()) return *cas.error;
  if (cas.value.has_value()) {
    call.set_has_cas(true);
    call.set_cas(*cas.value);
  }
  return routed;
}

Routed Kv(const EndpointRequest& in) {
  if (auto bad = CheckString("key", in.suffix, kKeyBytesMax)) return *bad;
  const std::string& method = in.http.method;
  if (method == "PUT") return KvPut(in);
  if (method == "DELETE") return KvDelete(in);
  return KvGet(in);
}

constexpr std::array kRows = {
    EndpointSpec{"/v1/kv/", "GET,PUT,DELETE", false, Kv},
};

}  // namespace

std::span<const EndpointSpec> KvEndpoints() { return kRows; }

}  // namespace muster::io::api
