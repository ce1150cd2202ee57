// How a message travels. Datagrams (UDP in io/) may be lost, duplicated or reordered and are
// bounded in size; a stream (TCP in io/) delivers in order per connection or fails.
#pragma once

#include <cstdint>

namespace muster {

enum class Channel : uint8_t { kDatagram = 0, kStream = 1 };

// Largest datagram payload a machine may emit: under a typical 1500-byte MTU with room
// for IP/UDP headers, as memberlist's UDP buffer size.
inline constexpr uint32_t kDatagramPayloadBytesMax = 1400;

}  // namespace muster
