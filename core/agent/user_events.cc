#include "core/agent/user_events.h"

#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/agent/consul_json.h"
#include "re2/re2.h"

namespace muster::agent {

namespace pba = ::muster::proto::agent;

namespace {

// RE2's program memory for one filter: far more than any sane filter needs.
constexpr int64_t kFilterRegexMemoryBytesMax = 1 << 20;

std::unique_ptr<re2::RE2> CompileFilter(std::string_view pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);  // the core never writes to stderr
  options.set_max_mem(kFilterRegexMemoryBytesMax);
  return std::make_unique<re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
}

absl::Status CheckFilter(std::string_view what, std::string_view pattern) {
  if (pattern.size() > kUserEventFilterBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " filter longer than ",
                                                   kUserEventFilterBytesMax, " bytes"));
  }
  if (pattern.empty()) return absl::OkStatus();
  std::unique_ptr<re2::RE2> re = CompileFilter(pattern);
  if (!re->ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Failed to compile ", std::string(what), " filter: ", re->error()));
  }
  return absl::OkStatus();
}

bool Matches(const re2::RE2& re, std::string_view text) {
  return re2::RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), re);
}

}  // namespace

absl::Status ValidateUserEvent(const pba::UserEventRecord& record) {
  if (record.name().empty()) return absl::InvalidArgumentError("Missing name");
  if (record.name()[0] == '_') return absl::InvalidArgumentError("Event names starting with '_' are reserved");
  if (record.name().size() > kUserEventNameBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat("Event name longer than ", kUserEventNameBytesMax, " bytes"));
  }
  if (absl::Status s = CheckFilter("node", record.node_filter()); !s.ok()) return s;
  if (absl::Status s = CheckFilter("service", record.service_filter()); !s.ok()) return s;
  if (absl::Status s = CheckFilter("tag", record.tag_filter()); !s.ok()) return s;
  if (!record.tag_filter().empty() && record.service_filter().empty()) {
    return absl::InvalidArgumentError("Cannot provide tag filter without service filter");
  }
  return absl::OkStatus();
}

bool EventSelects(const pba::UserEventRecord& record, const EventTarget& target) {
  if (record.node_filter().size() > kUserEventFilterBytesMax ||
      record.service_filter().size() > kUserEventFilterBytesMax ||
      record.tag_filter().size() > kUserEventFilterBytesMax) {
    return false;
  }
  if (!record.node_filter().empty()) {
    std::unique_ptr<re2::RE2> node = CompileFilter(record.node_filter());
    if (!node->ok() || !Matches(*node, target.node_name)) return false;
  }
  if (record.service_filter().empty()) return true;
  std::unique_ptr<re2::RE2> service = CompileFilter(record.service_filter());
  if (!service->ok()) return false;
  std::unique_ptr<re2::RE2> tag;
  if (!record.tag_filter().empty()) {
    tag = CompileFilter(record.tag_filter());
    if (!tag->ok()) return false;
  }
  for (const auto& [name, tags] : target.services) {
    if (!Matches(*service, name)) continue;
    if (tag == nullptr) return true;
    for (const std::string& t : tags) {
      if (Matches(*tag, t)) return true;
    }
  }
  return false;
}

void UserEventLog::Add(pba::UserEventRecord record, uint64_t ltime) {
  for (const auto& [kept, t] : events_) {
    if (kept.id() == record.id()) return;
  }
  events_.emplace_back(std::move(record), ltime);
  while (events_.size() > kUserEventsKept) events_.pop_front();
}

UserEventLog::Listed UserEventLog::List(std::string_view name) const {
  Listed out;
  for (const auto& e : events_) {
    if (!name.empty() && e.first.name() != name) continue;
    out.events.push_back(e);
  }
  if (!out.events.empty()) {
    const uint64_t index = IndexOfEventId(out.events.back().first.id());
    out.index = index == 0 ? 1 : index;
  }
  return out;
}

namespace {

Json EventObject(const pba::UserEventRecord& r, uint64_t ltime) {
  Json j;
  j["ID"] = r.id();
  j["Name"] = r.name();
  j["Payload"] = r.payload().empty() ? Json(nullptr) : Json(absl::Base64Escape(r.payload()));
  j["NodeFilter"] = r.node_filter();
  j["ServiceFilter"] = r.service_filter();
  j["TagFilter"] = r.tag_filter();
  j["Version"] = r.version();
  j["LTime"] = ltime;
  return j;
}

}  // namespace

std::string UserEventJson(const pba::UserEventRecord& record, uint64_t ltime) {
  return EventObject(record, ltime).dump();
}

std::string UserEventListJson(const UserEventLog::Listed& listed) {
  Json arr = Json::array();
  for (const auto& [r, ltime] : listed.events) arr.push_back(EventObject(r, ltime));
  return arr.dump();
}

}  // namespace muster::agent
