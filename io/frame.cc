#include "io/frame.h"

namespace muster::io {
namespace {

void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void PutU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t GetU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

}  // namespace

std::string EncodeDatagram(std::string_view from, std::string_view payload) {
  std::string out;
  out.reserve(2 + from.size() + payload.size());
  PutU16(out, static_cast<uint16_t>(from.size()));
  out.append(from);
  out.append(payload);
  return out;
}

std::string EncodeStreamFrame(std::string_view from, std::string_view payload) {
  std::string out;
  const uint32_t body = static_cast<uint32_t>(2 + from.size() + payload.size());
  out.reserve(4 + body);
  PutU32(out, body);
  PutU16(out, static_cast<uint16_t>(from.size()));
  out.append(from);
  out.append(payload);
  return out;
}

std::optional<DecodedFrame> DecodeBody(std::string_view body) {
  if (body.size() < 2) return std::nullopt;
  const auto* u = reinterpret_cast<const unsigned char*>(body.data());
  const size_t from_len = (size_t{u[0]} << 8) | size_t{u[1]};
  if (from_len == 0 || 2 + from_len > body.size()) return std::nullopt;
  DecodedFrame frame;
  frame.from.assign(body.substr(2, from_len));
  frame.payload.assign(body.substr(2 + from_len));
  return frame;
}

std::optional<DecodedFrame> StreamFrameReader::Next() {
  if (error_) return std::nullopt;
  const size_t available = buffer_.size() - offset_;
  if (available < 4) return std::nullopt;
  const uint32_t body_len = GetU32(buffer_.data() + offset_);
  if (body_len > kStreamFrameBytesMax || body_len < 3) {
    error_ = true;
    return std::nullopt;
  }
  if (available < 4 + size_t{body_len}) return std::nullopt;
  auto frame = DecodeBody(std::string_view(buffer_).substr(offset_ + 4, body_len));
  if (!frame.has_value()) {
    error_ = true;
    return std::nullopt;
  }
  offset_ += 4 + body_len;
  // Compact once the consumed prefix dominates, so the buffer does not grow forever.
  if (offset_ > 1 << 20 && offset_ * 2 > buffer_.size()) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  } else if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  return frame;
}

}  // namespace muster::io
