#include "core/seam/envelope.h"

#include "absl/strings/str_cat.h"

namespace muster {

std::string Seal(EnvelopeKind kind, std::string_view body) {
  proto::Envelope e;
  e.set_protocol_version(kProtocolVersion);
  e.set_kind(kind);
  e.set_body(std::string(body));
  return e.SerializeAsString();
}

absl::StatusOr<Opened> Open(std::string_view bytes) {
  if (bytes.empty()) return absl::InvalidArgumentError("empty message: not an envelope");
  proto::Envelope e;
  if (!e.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(absl::StrCat("not an envelope (", bytes.size(), " bytes that do not parse)"));
  }
  // A message with no version field is an old or foreign format, not version 0 of ours.
  if (e.protocol_version() > kProtocolVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("protocol version ", e.protocol_version(), " is newer than ours (", kProtocolVersion, ")"));
  }
  if (e.protocol_version() < kProtocolVersionMin) {
    return absl::FailedPreconditionError(absl::StrCat("protocol version ", e.protocol_version(),
                                                      " is older than we speak (", kProtocolVersionMin, "..",
                                                      kProtocolVersion, ")"));
  }
  // proto3 keeps unknown enum values: a kind we do not know is refused, not dispatched.
  if (e.kind() == proto::Envelope::KIND_UNSPECIFIED || !proto::Envelope::Kind_IsValid(e.kind())) {
    return absl::InvalidArgumentError(absl::StrCat("unknown message kind ", static_cast<int>(e.kind())));
  }
  Opened o;
  o.kind = e.kind();
  o.version = e.protocol_version();
  o.body = std::move(*e.mutable_body());
  return o;
}

}  // namespace muster
