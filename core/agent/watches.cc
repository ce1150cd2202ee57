#include "core/agent/watches.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/agent/go_shapes.h"
#include "core/base/check.h"
#include "core/base/strings.h"
#include "core/base/go_duration.h"
#include "nlohmann/json.hpp"

namespace muster::agent {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;
namespace pba = ::muster::proto::agent;

absl::Status Bad(std::string_view why) { return absl::InvalidArgumentError(absl::StrCat("watch: ", Absl(why))); }

// The keys every type takes besides its own.
constexpr std::string_view kCommonKeys[] = {"type", "datacenter", "token", "stale", "handler_type",
                                            "handler", "args", "http_handler_config"};

bool IsCommon(const std::string& key) {
  return std::find(std::begin(kCommonKeys), std::end(kCommonKeys), key) != std::end(kCommonKeys);
}

absl::StatusOr<std::string> StringParam(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) return std::string();
  if (!it->is_string()) return Bad(absl::StrCat("Expecting ", key, " to be a string"));
  return it->get<std::string>();
}

absl::StatusOr<bool> BoolParam(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) return false;
  if (!it->is_boolean()) return Bad(absl::StrCat("Expecting ", key, " to be a boolean"));
  return it->get<bool>();
}

std::string StripSlash(std::string key) { return !key.empty() && key[0] == '/' ? key.substr(1) : key; }

// Go's json.Encoder writes <, >, & and U+2028/U+2029 as \u escapes (HTML-safe). In JSON text
// those characters can only stand inside strings, where the escape means the same, so a pass
// over the bytes makes any JSON text what Consul's agent hands its handler.
std::string GoHtmlSafe(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xe2' && i + 2 < json.size() && json[i + 1] == '\x80' && (json[i + 2] == '\xa8' || json[i + 2] == '\xa9')) {
      out += json[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::Status ParseHandler(const Json& w, WatchDefinition& def) {
  absl::StatusOr<std::string> handler_type = StringParam(w, "handler_type");
  if (!handler_type.ok()) return handler_type.status();
  const std::string kind = handler_type->empty() ? "script" : *handler_type;
  if (kind == "script") {
    const bool has_handler = w.contains("handler"), has_args = w.contains("args");
    if (has_handler && has_args) return Bad("Only one watch handler allowed");
    if (!has_handler && !has_args) return Bad("Must define a watch handler");
    if (w.contains("http_handler_config")) return Bad("http_handler_config is only for handler_type \"http\"");
    if (has_handler) {
      absl::StatusOr<std::string> handler = StringParam(w, "handler");
      if (!handler.ok()) return handler.status();
      if (handler->empty()) return Bad("Must define a watch handler");
      def.handler_kind = WatchDefinition::HandlerKind::kShell;
      def.shell_command = *handler;
      return absl::OkStatus();
    }
    const Json& args = w["args"];
    if (!args.is_array() || args.empty()) return Bad("Watch args must be a list of strings");
    for (const Json& a : args) {
      if (!a.is_string()) return Bad("Watch args must be a list of strings");
      def.args.push_back(a.get<std::string>());
    }
    def.handler_kind = WatchDefinition::HandlerKind::kExec;
    return absl::OkStatus();
  }
  if (kind != "http") return Bad(absl::StrCat("Invalid handler_type: ", kind));
  if (w.contains("handler") || w.contains("args")) return Bad("handler and args are only for handler_type \"script\"");
  auto config = w.find("http_handler_config");
  if (config == w.end() || !config->is_object()) return Bad("http_handler_config must be an object");
  def.handler_kind = WatchDefinition::HandlerKind::kHttp;
  def.timeout = kWatchHttpTimeoutDefault;
  for (const auto& [key, value] : config->items()) {
    if (key == "path") {
      if (!value.is_string()) return Bad("http_handler_config.path must be a string");
      def.url = value.get<std::string>();
    } else if (key == "method") {
      if (!value.is_string() || value.get<std::string>().empty()) return Bad("http_handler_config.method must be a string");
      def.http_method = value.get<std::string>();
    } else if (key == "header") {
      if (!value.is_object()) return Bad("http_handler_config.header must map names to lists of values");
      for (const auto& [name, values] : value.items()) {
        if (!values.is_array()) return Bad("http_handler_config.header must map names to lists of values");
        for (const Json& v : values) {
          if (!v.is_string()) return Bad("http_handler_config.header must map names to lists of values");
          def.headers.emplace_back(name, v.get<std::string>());
        }
      }
    } else if (key == "timeout") {
      absl::StatusOr<absl::Duration> d =
          value.is_string() ? ParseGoDuration(value.get<std::string>()) : absl::InvalidArgumentError("not a string");
      if (!d.ok() || *d <= absl::ZeroDuration()) return Bad("http_handler_config.timeout must be a duration like \"10s\"");
      def.timeout = *d;
    } else if (key == "tls_skip_verify") {
      if (!value.is_boolean()) return Bad("http_handler_config.tls_skip_verify must be a boolean");
      def.tls_skip_verify = value.get<bool>();
    } else {
      return Bad(absl::StrCat("http_handler_config: unknown key ", key));
    }
  }
  if (def.url.rfind("http://", 0) != 0 && def.url.rfind("https://", 0) != 0) {
    return Bad("http_handler_config.path must be an http:// or https:// URL");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<WatchDefinition> ParseWatch(std::string_view text, std::string_view datacenter) {
  if (text.size() > kWatchDefinitionBytesMax) return Bad(absl::StrCat("definition longer than ", kWatchDefinitionBytesMax, " bytes"));
  const Json w = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (w.is_discarded() || !w.is_object()) return Bad("a watch must be a JSON object");
  WatchDefinition def;
  absl::StatusOr<std::string> type = StringParam(w, "type");
  if (!type.ok()) return type.status();
  if (type->empty()) return Bad("Watch type must be specified");
  def.type = *type;
  absl::StatusOr<std::string> dc = StringParam(w, "datacenter");
  if (!dc.ok()) return dc.status();
  if (!dc->empty() && *dc != datacenter) return Bad(absl::StrCat("No path to datacenter ", *dc));
  absl::StatusOr<std::string> token = StringParam(w, "token");
  if (!token.ok()) return token.status();
  absl::StatusOr<bool> stale = BoolParam(w, "stale");
  if (!stale.ok()) return stale.status();
  if (*stale) def.call.set_consistency("stale");

  std::vector<std::string> reads;
  std::map<std::string, std::string> strings;
  for (const char* k : {"key", "prefix", "service", "state", "name"}) {
    absl::StatusOr<std::string> v = StringParam(w, k);
    if (!v.ok()) return v.status();
    strings[k] = *v;
  }
  if (def.type == "key") {
    reads = {"key"};
    if (strings["key"].empty()) return Bad("Must specify a single key to watch");
    def.method = "kv.get";
    def.call.set_key(StripSlash(strings["key"]));
    def.not_found_is_null = def.kv_pairs = def.single_pair = true;
    def.what = absl::StrCat("watch key ", strings["key"]);
  } else if (def.type == "keyprefix") {
    reads = {"prefix"};
    if (strings["prefix"].empty()) return Bad("Must specify a single prefix to watch");
    def.method = "kv.get";
    def.call.set_key(StripSlash(strings["prefix"]));
    def.call.set_recurse(true);
    def.not_found_is_null = def.kv_pairs = true;
    def.what = absl::StrCat("watch keyprefix ", strings["prefix"]);
  } else if (def.type == "services") {
    def.method = "catalog.services";
    def.what = "watch services";
  } else if (def.type == "nodes") {
    def.method = "catalog.nodes";
    def.what = "watch nodes";
  } else if (def.type == "service") {
    reads = {"service", "tag", "passingonly"};
    if (strings["service"].empty()) return Bad("Must specify a single service to watch");
    def.method = "health.service";
    def.call.set_key(strings["service"]);
    if (auto tag = w.find("tag"); tag != w.end()) {
      if (tag->is_string()) {
        def.call.add_tags(tag->get<std::string>());
      } else if (tag->is_array()) {
        for (const Json& t : *tag) {
          if (!t.is_string()) return Bad("Expecting tag to be a string or a list of strings");
          def.call.add_tags(t.get<std::string>());
        }
      } else {
        return Bad("Expecting tag to be a string or a list of strings");
      }
    }
    absl::StatusOr<bool> passing = BoolParam(w, "passingonly");
    if (!passing.ok()) return passing.status();
    def.call.set_passing(*passing);
    def.what = absl::StrCat("watch service ", strings["service"]);
  } else if (def.type == "checks") {
    reads = {"service", "state"};
    if (!strings["service"].empty() && !strings["state"].empty()) return Bad("Cannot specify service and state");
    if (!strings["service"].empty()) {
      def.method = "health.checks";
      def.call.set_key(strings["service"]);
      def.what = absl::StrCat("watch checks of service ", strings["service"]);
    } else {
      const std::string state = strings["state"].empty() ? "any" : strings["state"];
      if (state != "any" && state != "passing" && state != "warning" && state != "critical") {
        return Bad(absl::StrCat("Invalid check state: ", state));
      }
      def.method = "health.state";
      def.call.set_key(state);
      def.what = absl::StrCat("watch checks in state ", state);
    }
  } else if (def.type == "event") {
    reads = {"name"};
    def.method = "event.list";
    def.call.set_key(strings["name"]);
    def.call.clear_consistency();  // stale does not apply to events
    def.events = true;
    def.what = strings["name"].empty() ? "watch event" : absl::StrCat("watch event ", strings["name"]);
  } else {
    return Bad(absl::StrCat("Unsupported watch type: ", def.type));
  }
  std::vector<std::string> unread;
  for (const auto& [key, unused] : w.items()) {
    if (!IsCommon(key) && std::find(reads.begin(), reads.end(), key) == reads.end()) unread.push_back(key);
  }
  if (!unread.empty()) return Bad(absl::StrCat("Invalid parameters: [", absl::StrJoin(unread, " "), "]"));
  if (absl::Status s = ParseHandler(w, def); !s.ok()) return s;
  return def;
}

std::optional<std::string> WatchResult(const WatchDefinition& watch, bool not_found, std::string_view body,
                                       std::string_view last_event_id) {
  if (not_found) return std::string("null");
  if (!watch.kv_pairs && !watch.events) return GoHtmlSafe(body);  // the endpoint's body, Go-escaped
  OrderedJson result = OrderedJson::parse(body, nullptr, /*allow_exceptions=*/false);
  if (result.is_discarded()) return std::nullopt;
  if (watch.kv_pairs && result.is_array()) {
    for (OrderedJson& entry : result) entry = AsGoKvPair(entry);
  }
  if (watch.single_pair) result = result.is_array() && !result.empty() ? OrderedJson(result[0]) : OrderedJson(nullptr);
  if (watch.events && result.is_array() && !last_event_id.empty()) {
    for (size_t i = 0; i < result.size(); ++i) {
      const OrderedJson& e = result[i];
      if (e.is_object() && e.contains("ID") && e["ID"].is_string() && e["ID"].get<std::string>() == last_event_id) {
        OrderedJson newer = OrderedJson::array();
        for (size_t k = i + 1; k < result.size(); ++k) newer.push_back(result[k]);
        result = std::move(newer);
        break;
      }
    }
  }
  return GoHtmlSafe(result.dump(-1, ' ', false, OrderedJson::error_handler_t::replace));
}

Watches::Watches(std::vector<WatchDefinition> watches, Time now, Logger log)
    : watches_(std::move(watches)), states_(watches_.size()), log_(std::move(log)) {
  MUSTER_CHECK_LE(watches_.size(), kWatchesMax, "the config's validation bounds the watches");
  for (State& s : states_) s.due = now;
}

void Watches::Idle(Time now, State& s) {
  s.phase = Phase::kIdle;
  s.due = std::max(now, s.issued_at + kWatchQueryIntervalMin);
}

void Watches::Tick(Time now, const Requester& request, HandlerQueue& queue, Effects* out) {
  if (watches_.empty()) return;
  for (uint64_t owner : queue.TakeEnded()) {
    if (owner == 0 || owner > states_.size()) continue;
    State& s = states_[owner - 1];
    if (s.phase == Phase::kRunning) Idle(now, s);
  }
  // Answers first (a synchronous one, from a query issued below, waits for the next Tick:
  // the min interval keeps an endpoint answering at once from making this loop).
  for (size_t i = 0; i < states_.size(); ++i) {
    if (states_[i].answer.has_value()) HandleAnswer(now, i, queue, out);
  }
  for (size_t i = 0; i < states_.size(); ++i) {
    State& s = states_[i];
    if (s.phase != Phase::kIdle || now < s.due) continue;
    pba::Call call = watches_[i].call;
    if (s.last_index.has_value() && *s.last_index != 0) {
      call.set_min_index(*s.last_index);
      call.set_wait_ms(static_cast<uint64_t>(absl::ToInt64Milliseconds(kWatchWait)));
    }
    s.phase = Phase::kQuerying;
    s.issued_at = now;
    ++queries_;
    request(watches_[i].method, call, [this, i](const absl::Status& status, const pba::Reply& reply) {
      State& st = states_[i];
      if (st.phase != Phase::kQuerying || st.answer.has_value()) return;
      st.answer = std::make_pair(status, reply);
      ++answers_waiting_;
    });
  }
  for (const State& s : states_) {
    if (s.phase == Phase::kIdle) out->WakeAt(s.due);
  }
  if (answers_waiting_ > 0) out->WakeAt(now);
}

void Watches::HandleAnswer(Time now, size_t i, HandlerQueue& queue, Effects* out) {
  State& s = states_[i];
  const WatchDefinition& w = watches_[i];
  auto [status, reply] = std::move(*s.answer);
  s.answer.reset();
  --answers_waiting_;
  const bool not_found = status.code() == absl::StatusCode::kNotFound && w.not_found_is_null;
  if (!status.ok() && !not_found) {
    ++s.failures;
    s.last_index.reset();
    const Duration retry = std::min(kWatchRetryMax, kWatchRetryInterval * static_cast<int64_t>(s.failures * s.failures));
    log_.Warn(now, "watch: Watch errored: type=", w.type, " error=\"", status.message(), "\" retry=", FormatGoDuration(retry));
    s.phase = Phase::kIdle;
    s.due = now + retry;
    return;
  }
  s.failures = 0;
  const uint64_t index = reply.index();
  if (s.last_index.has_value() && *s.last_index == index) return Idle(now, s);
  const std::optional<uint64_t> old_index = s.last_index;
  s.last_index = old_index.has_value() && *old_index > index ? 0 : index;  // went backwards: start over
  std::optional<std::string> result = WatchResult(w, not_found, reply.body(), old_index.has_value() ? s.last_event_id : "");
  if (!result.has_value()) {
    log_.Warn(now, w.what, ": the answer is not JSON; asking again");
    return Idle(now, s);
  }
  if (w.events && !not_found) {
    const Json all = Json::parse(reply.body(), nullptr, false);
    if (all.is_array() && !all.empty() && all.back().is_object() && all.back().contains("ID") &&
        all.back()["ID"].is_string()) {
      s.last_event_id = all.back()["ID"].get<std::string>();
    }
  }
  if (old_index.has_value() && s.last_result.has_value() && *s.last_result == *result) return Idle(now, s);
  s.last_result = *result;

  HandlerRun run;
  run.owner = i + 1;
  run.what = w.what;
  ProcessStart& p = run.start;
  p.timeout = w.timeout;
  const std::string index_text = absl::StrCat(index);
  switch (w.handler_kind) {
    case WatchDefinition::HandlerKind::kShell:
      p.kind = ProcessStart::Kind::kShell;
      p.command = w.shell_command;
      break;
    case WatchDefinition::HandlerKind::kExec:
      p.kind = ProcessStart::Kind::kExec;
      p.args = w.args;
      break;
    case WatchDefinition::HandlerKind::kHttp:
      p.kind = ProcessStart::Kind::kHttp;
      p.url = w.url;
      p.method = w.http_method;
      p.headers = {{"Content-Type", "application/json"}, {"X-Consul-Index", index_text}};
      p.headers.insert(p.headers.end(), w.headers.begin(), w.headers.end());
      p.body = *result + "\n";
      p.tls_skip_verify = w.tls_skip_verify;
      break;
  }
  if (w.handler_kind != WatchDefinition::HandlerKind::kHttp) {
    p.env = {{"CONSUL_INDEX", index_text}};
    p.stdin_data = *result + "\n";
  }
  s.phase = Phase::kRunning;
  ++runs_;
  queue.Enqueue(now, std::move(run), out);
}

}  // namespace muster::agent
