// The one framing of every message between muster agents (proto/envelope.proto): a protocol
// version and a kind around the body a component encodes. A machine seals what it sends and
// opens what arrives; anything that is not a well-formed envelope of a version we speak and a
// kind we know is refused with a status naming why, so the caller logs one clear line and
// drops it: never a misread, never a crash (the input is a stranger's bytes).
//
// Versions: kProtocolVersion is what we send; we open kProtocolVersionMin..kProtocolVersion.
// A newer peer's envelope is refused as FAILED_PRECONDITION ("protocol version 9 is newer
// than ours (1)"), an older unsupported one likewise; garbage as INVALID_ARGUMENT.
//
// Size: sealing adds at most kEnvelopeOverheadBytesMax to the body, so a component that keeps
// its datagrams that much under the seam's limit (gossip's datagram_bytes_max leaves 32
// bytes) still fits once sealed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/envelope.pb.h"

namespace muster {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr uint32_t kProtocolVersionMin = 1;
// Tag and length of three fields: version (<= 6 bytes), kind (2), body (1 + up to 5).
inline constexpr size_t kEnvelopeOverheadBytesMax = 16;

using EnvelopeKind = proto::Envelope::Kind;

struct Opened {
  EnvelopeKind kind = proto::Envelope::KIND_UNSPECIFIED;
  uint32_t version = 0;
  std::string body;
};

// The envelope of `body` as `kind`, at our protocol version.
std::string Seal(EnvelopeKind kind, std::string_view body);

// The kind and body of `bytes`, or why they are not an envelope we can read.
absl::StatusOr<Opened> Open(std::string_view bytes);

}  // namespace muster
