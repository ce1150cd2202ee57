// Bounds on what a gossip message may carry, and the checks that enforce them where input
// enters. Gossip is unauthenticated (until encryption lands), so every name, address, tag
// and filter in a packet is attacker input; whatever of it goes into datagrams we build
// later (a member's name is in every ping, suspect and indirect ping about it) must be
// bounded on the way in, or one crafted packet makes every member build a datagram over the
// limit (issue 10 item 2: a 2,000-byte name in an alive aborted every member).
// Remote input that fails a check is dropped with a log line; a local request gets the
// same Status back. These functions never CHECK on what they check.
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"
#include "proto/gossip.pb.h"

namespace muster::gossip {

// A node name. memberlist and Serf set none; Consul warns beyond 63 bytes (one DNS label)
// and we keep twice that as a hard limit, so that the largest message naming two members
// and an address (an indirect ping, ~530 bytes) stays far under the datagram payload.
inline constexpr size_t kNodeNameBytesMax = 128;
// An address "host:port": a DNS name is at most 253 bytes, plus ":65535".
inline constexpr size_t kAddressBytesMax = 260;
// A query's tag filter is a regular expression (RE2 syntax, run in linear time); the
// pattern's length bounds its compile time and program size.
inline constexpr size_t kTagFilterPatternBytesMax = 256;
// A tag key, in a query's tag filter (a member's own tags are bounded by their encoded size,
// meta_bytes_max).
inline constexpr size_t kTagKeyBytesMax = 128;

// An ack's payload (Serf's coordinate: 8 doubles and 3 more, about 100 bytes encoded).
inline constexpr size_t kAckPayloadBytesMax = 256;

// Every name, address and meta in a memberlist message (push-pull entries included).
absl::Status CheckMessage(const proto::gossip::Message& m, size_t meta_bytes_max);

// The Serf level's size limits (SerfConfig's, passed in so this file needs no Serf).
struct SerfLimits {
  size_t user_event_bytes_max = 0;     // name + payload, as Serf's UserEventSizeLimit
  size_t query_bytes_max = 0;          // the encoded query, as Serf's QuerySizeLimit
  size_t query_response_bytes_max = 0;  // payload
};

// A query's node and tag filters: names and keys bounded, patterns at most
// kTagFilterPatternBytesMax. (Whether a pattern compiles is the caller's question: an
// error for a local query, a mismatch for a remote one.)
absl::Status CheckQueryFilters(const proto::gossip::Query& q);
// A whole query, as it would go out: origin, filters, and its encoded size within
// query_bytes_max (Serf checks the encoded message, not only name and payload).
absl::Status CheckQuery(const proto::gossip::Query& q, const SerfLimits& limits);
// Any Serf message from the network (intents, user events, queries, responses).
absl::Status CheckSerfMessage(const proto::gossip::SerfMessage& m, const SerfLimits& limits);
// Serf's part of a push-pull (member names, recent user events).
absl::Status CheckSerfState(const proto::gossip::SerfState& s, const SerfLimits& limits);

}  // namespace muster::gossip
