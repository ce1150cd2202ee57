// The framing of messages between muster agents, for both UDP and TCP. Every frame names
// the sender's advertised address, because a TCP peer's source port is ephemeral and the
// core addresses nodes by where they listen.
//
//   datagram: [u16 from_len][from][payload]
//   stream:   [u32 body_len][u16 from_len][from][payload]    (body = everything after the u32)
//
// Integers are big-endian. A frame larger than kStreamFrameBytesMax is a protocol error and
// closes the connection rather than allocating without bound.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/node_id.h"

namespace muster::io {

inline constexpr uint32_t kStreamFrameBytesMax = 64u << 20;

std::string EncodeDatagram(std::string_view from, std::string_view payload);
std::string EncodeStreamFrame(std::string_view from, std::string_view payload);

struct DecodedFrame {
  Address from;
  std::string payload;
};
// Decodes a datagram, or a stream frame's body; nullopt when malformed.
std::optional<DecodedFrame> DecodeBody(std::string_view body);

// Accumulates stream bytes and yields whole frames.
class StreamFrameReader {
 public:
  void Append(const char* data, size_t size) { buffer_.append(data, size); }
  // Next whole frame, if one is buffered. Sets error() on a malformed or oversized frame.
  std::optional<DecodedFrame> Next();
  bool error() const { return error_; }
  size_t buffered_bytes() const { return buffer_.size() - offset_; }

 private:
  std::string buffer_;
  size_t offset_ = 0;
  bool error_ = false;
};

}  // namespace muster::io
