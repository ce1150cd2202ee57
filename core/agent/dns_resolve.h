// The DNS interface's names, resolved on the state store (issue 15; Consul's agent/dns.go and
// docs/discovery/dns.mdx, /work/shared/design/http-api.md "DNS"). A pure function of the
// catalog and one question: it returns structured records (answer, authority, additional) and
// an rcode; io/dns parses and encodes the wire format with ldns and cuts answers to size.
//
// It runs as the read "dns.query" (core/agent/methods.cc): stale by default, on whichever
// server the asking agent reaches, so a client agent forwards it like any catalog read. The
// question carries the asking agent's domain, datacenter and dns_config, so the server needs
// none of its own. Never touches a clock or a socket; instance order is shuffled from the
// seed the machine draws from its Rng, so a run is reproducible.
//
// Names (lowercased by io; the domain is "consul." or -domain, and -alt-domain the same way):
//   NODE.node[.DC].DOMAIN                 A/AAAA of the node's address (CNAME for a host name),
//                                         TXT from its meta ("k=v"; the value alone when the key
//                                         starts with "rfc1035-"), TXT also in additional for A
//   [TAG.]SERVICE.service[.DC].DOMAIN     A/AAAA of every instance with no critical check
//                                         (warning ones dropped only with only_passing), the
//                                         service's own Address over its node's, deduplicated;
//                                         SRV (when asked) "1 W PORT NODE.node.DC.DOMAIN." with
//                                         the address in additional, or the service Address as
//                                         the target when it is a host name
//   _SERVICE._TAG.service[.DC].DOMAIN     RFC 2782: "_tcp" means no tag filter
//   HEX.addr[.DC].DOMAIN                  the address written in hex (8 digits A, 32 AAAA)
//   DOMAIN                                SOA, NS (the servers: the "consul" service's nodes)
//   a.b.c.d.in-addr.arpa, ...ip6.arpa     PTR to the node with that address
// Anything else in the domain, and another datacenter (one datacenter until WAN federation),
// is NXDOMAIN with the SOA in authority; a known name without records of the asked type is
// NOERROR with no answer and the SOA in authority (RFC 2308 NODATA).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "core/state/store.h"
#include "proto/agent.pb.h"
#include "proto/dns.pb.h"

namespace muster::agent {

inline constexpr std::string_view kDnsQueryMethod = "dns.query";

// The RR types and rcodes the resolver names (RFC 1035, 2782, 3596, 6891).
namespace dns {
inline constexpr uint32_t kTypeA = 1;
inline constexpr uint32_t kTypeNs = 2;
inline constexpr uint32_t kTypeCname = 5;
inline constexpr uint32_t kTypeSoa = 6;
inline constexpr uint32_t kTypePtr = 12;
inline constexpr uint32_t kTypeTxt = 16;
inline constexpr uint32_t kTypeAaaa = 28;
inline constexpr uint32_t kTypeSrv = 33;
inline constexpr uint32_t kTypeAny = 255;

inline constexpr uint32_t kRcodeNoError = 0;
inline constexpr uint32_t kRcodeFormErr = 1;
inline constexpr uint32_t kRcodeServFail = 2;
inline constexpr uint32_t kRcodeNxDomain = 3;
inline constexpr uint32_t kRcodeNotImp = 4;
inline constexpr uint32_t kRcodeRefused = 5;
}  // namespace dns

// Answer records past this are not added: more than any TCP message (64 KiB) could carry.
inline constexpr size_t kDnsAnswerRecordsMax = 4096;
// A DNS name is at most 255 bytes on the wire (RFC 1035 2.3.4); its text form is at most this.
inline constexpr size_t kDnsNameBytesMax = 1024;
// Questions in one dns.query batch (io/dns sends what one loop turn received).
inline constexpr size_t kDnsBatchQuestionsMax = 64;
// NS records for the domain (Consul's maxNSRecords... it answers at most 3 servers).
inline constexpr size_t kDnsNameServersMax = 3;

// Where a query name is answered.
enum class DnsZone {
  kDomain,   // the domain or the alt domain: resolved on the catalog
  kReverse,  // under in-addr.arpa. or ip6.arpa.: PTR from the catalog, else the recursors
  kOutside,  // anything else: forwarded to the recursors, or REFUSED without one
};
// `name`, `domain` and `alt_domain` lowercased and fully qualified ("" alt_domain: none).
DnsZone ZoneOf(std::string_view name, std::string_view domain, std::string_view alt_domain);

// A configured domain as the resolver compares it: lowercased, with exactly one final dot
// ("" stays "": no alt domain).
std::string CanonicalDomain(std::string_view domain);

// The TTL of a service's answers, in seconds: the exact name in service_ttl, else the longest
// prefix ending in '*', else 0.
uint32_t ServiceTtlSeconds(const proto::dns::DnsQuestion& question, std::string_view service);

proto::dns::DnsAnswer ResolveDns(const state::Store& store, const proto::dns::DnsQuestion& question,
                                 uint64_t shuffle_seed);

// The "dns.query" read: the answer, serialized, is the Reply's body; its index is the store's.
// With a DnsBatch instead of one question, the body is a DnsAnswers: each distinct answer
// once, and per ask which one and the order of its records.
// INVALID_ARGUMENT for a question without a name or domain, one longer than DNS allows, or an
// empty batch or one past kDnsBatchQuestionsMax.
absl::Status ServeDnsQuery(const state::Store& store, const proto::agent::Call& call, uint64_t shuffle_seed,
                           proto::agent::Reply* reply);

}  // namespace muster::agent
