#include "core/gossip/limits.h"

#include "absl/strings/str_cat.h"

namespace muster::gossip {

namespace pb = ::muster::proto::gossip;

namespace {

// The field's name and sizes only: the value itself may be the hostile part.
absl::Status CheckBytes(const char* what, std::string_view value, size_t bytes_max) {
  if (value.size() <= bytes_max) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, " of ", value.size(), " bytes exceeds ", bytes_max));
}

absl::Status CheckName(const char* what, std::string_view name) {
  return CheckBytes(what, name, kNodeNameBytesMax);
}

absl::Status CheckAddr(const char* what, std::string_view addr) {
  return CheckBytes(what, addr, kAddressBytesMax);
}

absl::Status CheckUserEvent(const pb::UserEvent& e, const SerfLimits& limits) {
  if (e.name().size() + e.payload().size() <= limits.user_event_bytes_max) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("user event of ", e.name().size() + e.payload().size(),
                                                 " bytes exceeds the ", limits.user_event_bytes_max, "-byte limit"));
}

}  // namespace

absl::Status CheckMessage(const pb::Message& m, size_t meta_bytes_max) {
  absl::Status s;
  switch (m.body_case()) {
    case pb::Message::kPing:
      s.Update(CheckName("ping target", m.ping().target()));
      s.Update(CheckName("ping source", m.ping().source()));
      break;
    case pb::Message::kIndirectPing:
      s.Update(CheckName("indirect ping target", m.indirect_ping().target()));
      s.Update(CheckAddr("indirect ping target address", m.indirect_ping().target_addr()));
      s.Update(CheckName("indirect ping source", m.indirect_ping().source()));
      break;
    case pb::Message::kAlive:
      s.Update(CheckName("alive node", m.alive().node()));
      s.Update(CheckAddr("alive address", m.alive().addr()));
      s.Update(CheckBytes("alive meta", m.alive().meta(), meta_bytes_max));
      break;
    case pb::Message::kSuspect:
      s.Update(CheckName("suspect node", m.suspect().node()));
      s.Update(CheckName("suspect from", m.suspect().from()));
      break;
    case pb::Message::kDead:
      s.Update(CheckName("dead node", m.dead().node()));
      s.Update(CheckName("dead from", m.dead().from()));
      break;
    case pb::Message::kPushPull:
      s.Update(CheckName("push-pull from", m.push_pull().from()));
      for (const pb::PushNode& n : m.push_pull().nodes()) {
        if (!s.ok()) break;
        s.Update(CheckName("push-pull node", n.name()));
        s.Update(CheckAddr("push-pull address", n.addr()));
        s.Update(CheckBytes("push-pull meta", n.meta(), meta_bytes_max));
      }
      break;
    case pb::Message::kAck:
      if (m.ack().payload().size() > kAckPayloadBytesMax) {
        return absl::InvalidArgumentError(absl::StrCat("ack payload of ", m.ack().payload().size(), " bytes"));
      }
      break;
    case pb::Message::kNack:
    case pb::Message::kUser:  // checked by the level above (CheckSerfMessage)
    case pb::Message::BODY_NOT_SET: break;
  }
  return s;
}

absl::Status CheckQueryFilters(const pb::Query& q) {
  for (const std::string& n : q.filter_nodes()) {
    if (absl::Status s = CheckName("query node filter", n); !s.ok()) return s;
  }
  for (const pb::Tag& t : q.filter_tags()) {
    if (absl::Status s = CheckBytes("query tag filter key", t.key(), kTagKeyBytesMax); !s.ok()) return s;
    if (absl::Status s = CheckBytes("query tag filter pattern", t.value(), kTagFilterPatternBytesMax); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckQuery(const pb::Query& q, const SerfLimits& limits) {
  absl::Status s;
  s.Update(CheckName("query origin", q.origin()));
  s.Update(CheckAddr("query origin address", q.origin_addr()));
  s.Update(CheckQueryFilters(q));
  if (!s.ok()) return s;
  // The count of filters is bounded here too: each costs at least two bytes encoded.
  const size_t encoded = q.ByteSizeLong();
  if (encoded > limits.query_bytes_max) {
    return absl::InvalidArgumentError(
        absl::StrCat("query of ", encoded, " bytes encoded exceeds the ", limits.query_bytes_max, "-byte limit"));
  }
  return absl::OkStatus();
}

absl::Status CheckSerfMessage(const pb::SerfMessage& m, const SerfLimits& limits) {
  switch (m.body_case()) {
    case pb::SerfMessage::kJoin: return CheckName("join intent node", m.join().node());
    case pb::SerfMessage::kLeave: return CheckName("leave intent node", m.leave().node());
    case pb::SerfMessage::kUserEvent: return CheckUserEvent(m.user_event(), limits);
    case pb::SerfMessage::kQuery: return CheckQuery(m.query(), limits);
    case pb::SerfMessage::kQueryResponse: {
      absl::Status s = CheckName("query response from", m.query_response().from());
      s.Update(CheckAddr("query response relay_to", m.query_response().relay_to()));
      s.Update(CheckBytes("query response payload", m.query_response().payload(), limits.query_response_bytes_max));
      return s;
    }
    case pb::SerfMessage::BODY_NOT_SET: return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status CheckSerfState(const pb::SerfState& st, const SerfLimits& limits) {
  for (const pb::MemberLTime& ml : st.status_ltimes()) {
    if (absl::Status s = CheckName("push-pull member", ml.name()); !s.ok()) return s;
  }
  for (const std::string& n : st.left_members()) {
    if (absl::Status s = CheckName("push-pull left member", n); !s.ok()) return s;
  }
  for (const pb::UserEvent& e : st.events()) {
    if (absl::Status s = CheckUserEvent(e, limits); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace muster::gossip
