// How a message travels. Datagrams (UDP in io/) may be lost, duplicated or reordered and are
// bounded in size; a stream (TCP in io/) delivers in order per connection or fails.
#pragma once

#include <cstdint>

namespace muster {

enum class Channel : uint8_t { kDatagram = 0, kStream = 1 };

// Which of an agent's network endpoints a message leaves from (OutboundMessage) or arrived on
// (MessageInput), as Consul's agent listens on several ports: server RPC (8300, stream), LAN
// gossip (8301, datagram + stream) and WAN gossip (8302, servers only). Both hosts keep one
// listener per endpoint: io/ a UDP and TCP socket pair per port, sim/ one registered address
// per endpoint. A machine with a single endpoint (raft's KvMachine, SerfMachine) uses kLan, the
// default, and its MachineContext::address.
enum class Endpoint : uint8_t { kLan = 0, kRpc = 1, kWan = 2 };
inline constexpr int kEndpointCount = 3;
inline constexpr const char* EndpointName(Endpoint e) {
  return e == Endpoint::kLan ? "lan" : e == Endpoint::kRpc ? "rpc" : "wan";
}

// Largest datagram payload a machine may emit: under a typical 1500-byte MTU with room
// for IP/UDP headers, as memberlist's UDP buffer size.
inline constexpr uint32_t kDatagramPayloadBytesMax = 1400;

}  // namespace muster
