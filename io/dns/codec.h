// The DNS wire format of the agent's DNS interface, through Debian's libldns only (nothing
// hand-written): a query's bytes into what the resolver needs (core/agent/dns_resolve.h), and
// the resolver's structured records into an answer cut to the transport's size. No sockets:
// io/dns/server.h carries the bytes.
//
// Every input is untrusted: ldns bounds each length and refuses compression-pointer loops;
// what it cannot read gets FORMERR when at least the header's ID is there and the packet is a
// query, and nothing otherwise (a response or a runt is never answered, so two servers cannot
// bounce errors at each other).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"

#include "proto/dns.pb.h"

struct ldns_struct_rr;

namespace muster::io::dns {

// RFC 1035 4.2.1: without EDNS0 a UDP message is at most 512 bytes.
inline constexpr size_t kUdpSizeDefault = 512;
// The EDNS0 sizes honoured (RFC 6891: below 512 is taken as 512); what we advertise back.
inline constexpr size_t kUdpSizeMax = 4096;
// A TCP message's two-byte length (RFC 1035 4.2.2).
inline constexpr size_t kTcpMessageBytesMax = 65535;

struct RrDeleter {
  void operator()(ldns_struct_rr* rr) const;
};

// A query as read: what the answer echoes and what the resolver is asked.
struct Query {
  uint16_t id = 0;
  bool recursion_desired = false;
  bool checking_disabled = false;
  uint16_t type = 0;
  uint16_t klass = 0;
  std::string name;                 // lowercased, fully qualified, ldns's presentation form
  std::unique_ptr<ldns_struct_rr, RrDeleter> question;  // echoed as sent (its case kept)
  bool edns = false;
  size_t udp_size = kUdpSizeDefault;  // what a UDP answer may take (EDNS0's, bounded)
  std::string raw;  // the query's bytes, kept only when the recursors may be asked (a PTR)
};

// What to do with a datagram or TCP message.
struct Parsed {
  std::optional<Query> query;  // set: answer it
  std::string reply;           // else, if not empty: send this at once (FORMERR, NOTIMP, REFUSED...)
};
Parsed ParseQuery(std::string_view bytes);

// A header-only answer with `rcode` to `query` (its question echoed).
std::string ErrorReply(const Query& query, uint32_t rcode);

// An answer's records as the encoder writes them: built once, and written for every query
// that shares them (a name asked again in one dns.query batch), each in an order of its own.
class AnswerRecords {
 public:
  explicit AnswerRecords(const proto::dns::DnsAnswer& answer);
  ~AnswerRecords();
  AnswerRecords(const AnswerRecords&) = delete;
  AnswerRecords& operator=(const AnswerRecords&) = delete;

  // As EncodeAnswer, with the answer records in `order` (a permutation of their indexes;
  // empty, or not a permutation of this answer's count: as they are).
  std::string Encode(const Query& query, size_t size_max, size_t answers_max, absl::Span<const uint32_t> order,
                     bool* truncated = nullptr) const;

 private:
  std::string Write(const Query& query, size_t answers, bool additional, bool tc, absl::Span<const uint32_t> order) const;

  uint32_t rcode_;
  // One per record of the answer (null: one ldns cannot write, left out).
  std::vector<ldns_struct_rr*> answer_, authority_, additional_;
  size_t writable_answers_ = 0;
};

// The answer's wire form for `query`: at most `size_max` bytes and, when `answers_max` is
// not 0, at most that many answer records. Cut by dropping the additional section, then answer
// records from the end, with TC set. `truncated` (optional) says whether it was cut.
std::string EncodeAnswer(const Query& query, const proto::dns::DnsAnswer& answer, size_t size_max,
                         size_t answers_max, bool* truncated = nullptr);

// The ID of a DNS message (its first two bytes, read and written through ldns), for
// forwarding to a recursor under an ID of our own. nullopt: shorter than a header.
std::optional<uint16_t> MessageId(std::string_view bytes);
void SetMessageId(std::string& bytes, uint16_t id);

}  // namespace muster::io::dns
