// See route_util.h.
#include "io/api/route_util.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/go_duration.h"
#include "core/base/strings.h"

namespace muster::io::api {

http::Response Text(int status, std::string body) {
  http::Response response;
  response.status = status;
  if (!body.empty()) response.headers.Add("Content-Type", std::string(kTextPlain));
  response.body = std::move(body);
  return response;
}

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
bool IsUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    size_t length;
    unsigned char second_min = 0x80, second_max = 0xBF;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) second_min = 0xA0;
      if (lead == 0xED) second_max = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) second_min = 0x90;
      if (lead == 0xF4) second_max = 0x8F;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    const unsigned char second = static_cast<unsigned char>(text[i + 1]);
    if (second < second_min || second > second_max) return false;
    for (size_t k = 2; k < length; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if (next < 0x80 || next > 0xBF) return false;
    }
    i += length;
  }
  return true;
}

// A string a client sent, checked before it goes into a Call: at most `bytes_max`, UTF-8.
std::optional<http::Response> CheckString(std::string_view what, std::string_view value, size_t bytes_max) {
  if (value.size() > bytes_max) {
    return Text(400, absl::StrCat("Invalid ", Absl(what), ": longer than ", bytes_max, " bytes"));
  }
  if (!IsUtf8(value)) return Text(400, absl::StrCat("Invalid ", Absl(what), ": not UTF-8"));
  return std::nullopt;
}

UintParam ParseUintParam(const http::Request& request, std::string_view key) {
  std::optional<std::string> text = request.Query(Absl(key));
  if (!text.has_value()) return {};
  uint64_t value = 0;
  const bool digits_only = !text->empty() && text->size() <= 20 &&
                           text->find_first_not_of("0123456789") == std::string::npos;
  if (!digits_only || !absl::SimpleAtoi(*text, &value)) {
    return {std::nullopt, Text(400, absl::StrCat("Invalid ", Absl(key),
                                                 " parameter: want an unsigned integer below 2^64"))};
  }
  return {value, std::nullopt};
}

// Consul's refusal of parameters that do not compose (kvs_endpoint.go conflictingFlags).
std::optional<http::Response> Conflicting(const http::Request& request,
                                          std::initializer_list<std::string_view> keys) {
  std::vector<std::string> present;
  for (std::string_view key : keys) {
    if (request.HasQuery(Absl(key))) present.emplace_back(key);
  }
  if (present.size() < 2) return std::nullopt;
  return Text(400, absl::StrCat("Conflicting flags: ", absl::StrJoin(present, ", ")));
}

// What a read carries from the common parameters into its Call.
void ApplyReadParams(const CommonParams& common, proto::agent::Call* call) {
  call->set_consistency(common.consistency);
  call->set_min_index(common.min_index);
  call->set_wait_ms(common.wait_ms);
}

std::variant<CommonParams, http::Response> ParseCommon(const http::Request& request,
                                                       const RouterOptions& options) {
  CommonParams common;
  if (std::optional<std::string> dc = request.Query("dc"); dc.has_value() && !dc->empty()) {
    if (*dc != options.datacenter) return Text(500, "No path to datacenter");
  }
  const bool stale = request.HasQuery("stale");
  const bool consistent = request.HasQuery("consistent");
  if (stale && consistent) {
    return Text(400, "Cannot specify ?stale with ?consistent, conflicting semantics.");
  }
  common.consistency = stale ? "stale" : consistent ? "consistent" : "";
  // Blocking queries: ?index (the client's last X-Consul-Index) and ?wait, refused as Consul's
  // parseWait refuses them.
  UintParam index = ParseUintParam(request, "index");
  if (index.error.has_value()) return Text(400, "Invalid index");
  common.min_index = index.value.value_or(0);
  if (std::optional<std::string> wait = request.Query("wait"); wait.has_value()) {
    absl::StatusOr<absl::Duration> d = ParseGoDuration(*wait);
    if (wait->size() > 32 || !d.ok() || *d < absl::ZeroDuration()) return Text(400, "Invalid wait time");
    common.wait_ms = static_cast<uint64_t>(std::min(absl::ToInt64Milliseconds(*d), int64_t{600'000}));
  }
  return common;
}

// The longest ?filter, and the most ?tag or ?node-meta values, one read may carry.
constexpr size_t kFilterBytesMax = 4096;
constexpr size_t kRepeatedParamsMax = 64;

std::optional<http::Response> ApplyCatalogParams(const http::Request& request, const CommonParams& common,
                                                 bool takes_tags, proto::agent::Call* call) {
  ApplyReadParams(common, call);
  if (std::optional<std::string> filter = request.Query("filter"); filter.has_value()) {
    if (auto bad = CheckString("filter", *filter, kFilterBytesMax)) return bad;
    call->set_filter(*filter);
  }
  if (std::optional<std::string> near = request.Query("near"); near.has_value()) {
    if (auto bad = CheckString("near", *near, kParamBytesMax)) return bad;
    call->set_near(*near);
  }
  std::vector<std::string> meta = request.QueryAll("node-meta");
  std::vector<std::string> tags = takes_tags ? request.QueryAll("tag") : std::vector<std::string>{};
  if (meta.size() > kRepeatedParamsMax || tags.size() > kRepeatedParamsMax) {
    return Text(400, absl::StrCat("Invalid parameters: more than ", kRepeatedParamsMax, " node-meta or tag values"));
  }
  for (const std::string& m : meta) {
    if (auto bad = CheckString("node-meta", m, kParamBytesMax)) return bad;
    call->add_node_meta(m);
  }
  for (const std::string& t : tags) {
    if (auto bad = CheckString("tag", t, kParamBytesMax)) return bad;
    call->add_tags(t);
  }
  return std::nullopt;
}

RoutedCall Call(std::string method, AnswerShape shape) {
  RoutedCall routed;
  routed.method = std::move(method);
  routed.shape = shape;
  return routed;
}

}  // namespace muster::io::api
