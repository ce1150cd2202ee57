#include "io/dns/codec.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "absl/strings/ascii.h"
#include "core/agent/dns_resolve.h"

namespace muster::io::dns {

namespace pbd = ::muster::proto::dns;
namespace rr = ::muster::agent::dns;

void RrDeleter::operator()(ldns_struct_rr* r) const { ldns_rr_free(r); }

namespace {

struct PktDeleter {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktDeleter>;

// A packet's wire form. ldns_pkt2wire allocates a 64 KiB buffer for every packet (and glibc
// then consolidates its free lists on each such free: ~4% of a query's CPU); one buffer per
// thread, cleared each time, writes the same bytes with the same compression.
std::string Wire(const ldns_pkt* p) {
  struct BufferDeleter {
    void operator()(ldns_buffer* b) const { ldns_buffer_free(b); }
  };
  static thread_local std::unique_ptr<ldns_buffer, BufferDeleter> buffer(ldns_buffer_new(LDNS_MAX_PACKETLEN));
  ldns_buffer_clear(buffer.get());
  if (ldns_pkt2buffer_wire(buffer.get(), p) != LDNS_STATUS_OK) return "";
  return std::string(reinterpret_cast<const char*>(ldns_buffer_begin(buffer.get())), ldns_buffer_position(buffer.get()));
}

// A packet whose records are borrowed (the query's question, an answer's records built once
// for every size tried): freeing it frees the packet and its lists, not the records.
struct BorrowingPktDeleter {
  void operator()(ldns_pkt* p) const {
    for (ldns_rr_list* list : {ldns_pkt_question(p), ldns_pkt_answer(p), ldns_pkt_authority(p), ldns_pkt_additional(p)}) {
      ldns_rr_list_set_rr_count(list, 0);
    }
    ldns_pkt_free(p);
  }
};
using BorrowingPktPtr = std::unique_ptr<ldns_pkt, BorrowingPktDeleter>;

// The answer skeleton every reply shares: the query's ID, opcode, RD and CD, its question,
// QR and AA set (we are the authority for our names), RA clear (we recurse only for what
// we forward, and then the recursor's answer is what the client gets).
BorrowingPktPtr Skeleton(const Query& q, uint32_t rcode) {
  BorrowingPktPtr p(ldns_pkt_new());
  ldns_pkt_set_id(p.get(), q.id);
  ldns_pkt_set_qr(p.get(), true);
  ldns_pkt_set_aa(p.get(), true);
  ldns_pkt_set_rd(p.get(), q.recursion_desired);
  ldns_pkt_set_cd(p.get(), q.checking_disabled);
  ldns_pkt_set_opcode(p.get(), LDNS_PACKET_QUERY);
  ldns_pkt_set_rcode(p.get(), static_cast<uint8_t>(rcode));
  if (q.question != nullptr) ldns_pkt_push_rr(p.get(), LDNS_SECTION_QUESTION, q.question.get());
  // RFC 6891 7: an answer to a query with an OPT carries one.
  if (q.edns) ldns_pkt_set_edns_udp_size(p.get(), kUdpSizeMax);
  return p;
}

// The names of one answer, each read from its text once (an answer's records mostly share
// their owner): every use gets a copy, as an RR owns its names.
class Dnames {
 public:
  ~Dnames() {
    for (auto& [name, rdf] : names_) ldns_rdf_deep_free(rdf);
  }
  ldns_rdf* Get(const std::string& name) {
    for (auto& [known, rdf] : names_) {
      if (known == name) return rdf == nullptr ? nullptr : ldns_rdf_clone(rdf);
    }
    ldns_rdf* rdf = ldns_dname_new_frm_str(name.c_str());
    names_.emplace_back(name, rdf);
    return rdf == nullptr ? nullptr : ldns_rdf_clone(rdf);
  }

 private:
  std::vector<std::pair<std::string, ldns_rdf*>> names_;  // few: a linear search
};

ldns_rdf* Int16(uint32_t v) { return ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, static_cast<uint16_t>(v)); }
ldns_rdf* Int32(uint32_t v) { return ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, v); }

// One record of ours as an ldns RR; null for one that cannot be written (a name ldns refuses,
// a type the resolver never makes).
ldns_rr* ToRr(const pbd::DnsRecord& r, Dnames& names) {
  auto Dname = [&](const std::string& name) { return names.Get(name); };
  ldns_rdf* owner = Dname(r.name());
  if (owner == nullptr) return nullptr;
  ldns_rr* out = ldns_rr_new();
  ldns_rr_set_owner(out, owner);
  ldns_rr_set_type(out, static_cast<ldns_rr_type>(r.type()));
  ldns_rr_set_class(out, LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl(out, r.ttl_s());
  std::vector<ldns_rdf*> rdata;
  switch (r.type()) {
    case rr::kTypeA:
    case rr::kTypeAaaa: {
      const size_t want = r.type() == rr::kTypeA ? 4 : 16;
      if (r.ip().size() != want) break;
      rdata.push_back(ldns_rdf_new_frm_data(r.type() == rr::kTypeA ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA, want,
                                            r.ip().data()));
      break;
    }
    case rr::kTypeSrv:
      rdata = {Int16(r.priority()), Int16(r.weight()), Int16(r.port()), Dname(r.target())};
      break;
    case rr::kTypePtr:
    case rr::kTypeNs:
    case rr::kTypeCname:
      rdata.push_back(Dname(r.target()));
      break;
    case rr::kTypeTxt:
      for (const std::string& t : r.txt()) {
        // A character-string is a length byte and at most 255 bytes: longer text is split.
        for (size_t at = 0; at < t.size() || (at == 0 && t.empty()); at += 255) {
          const std::string piece = t.substr(at, 255);
          std::string data(1, static_cast<char>(piece.size()));
          data += piece;
          rdata.push_back(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, data.size(), data.data()));
          if (t.empty()) break;
        }
      }
      break;
    case rr::kTypeSoa:
      rdata = {Dname(r.target()),    Dname(r.mbox()),        Int32(r.serial()),   Int32(r.refresh_s()),
               Int32(r.retry_s()),   Int32(r.expire_s()),    Int32(r.minimum_s())};
      break;
    default:
      break;
  }
  const bool complete = !rdata.empty() && std::none_of(rdata.begin(), rdata.end(), [](ldns_rdf* d) { return d == nullptr; });
  for (ldns_rdf* d : rdata) {
    if (d == nullptr) continue;
    if (complete) {
      ldns_rr_push_rdf(out, d);
    } else {
      ldns_rdf_deep_free(d);
    }
  }
  if (!complete) {
    ldns_rr_free(out);
    return nullptr;
  }
  return out;
}

// The lowercased text of a name ldns has read whose labels hold only letters, digits, '-' and
// '_' (nearly every name asked): the same text as ldns_rdf2str of its canonical form, without
// its printf per character, which was a quarter of a query's parsing. nullopt for anything
// else (escapes to write): ldns writes those.
std::optional<std::string> PlainName(const ldns_rdf* name) {
  const uint8_t* at = ldns_rdf_data(name);
  const size_t size = ldns_rdf_size(name);
  std::string out;
  out.reserve(size);
  size_t i = 0;
  while (i < size) {
    const size_t label = at[i++];
    if (label == 0) break;
    if (label > size - i) return std::nullopt;
    for (size_t j = 0; j < label; ++j) {
      const char c = static_cast<char>(at[i + j]);
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return std::nullopt;
      out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
    }
    out.push_back('.');
    i += label;
  }
  if (i != size) return std::nullopt;
  if (out.empty()) out = ".";
  return out;
}

}  // namespace

Parsed ParseQuery(std::string_view bytes) {
  Parsed out;
  if (bytes.size() < LDNS_HEADER_SIZE) return out;  // a runt: not even an ID to answer
  const auto* wire = reinterpret_cast<const uint8_t*>(bytes.data());
  if (LDNS_QR_WIRE(wire)) return out;  // a response: never answered
  Query header;
  header.id = LDNS_ID_WIRE(wire);
  header.recursion_desired = LDNS_RD_WIRE(wire);
  header.checking_disabled = LDNS_CD_WIRE(wire);
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, wire, bytes.size()) != LDNS_STATUS_OK) {
    ldns_pkt_free(raw);
    out.reply = ErrorReply(header, rr::kRcodeFormErr);
    return out;
  }
  PktPtr pkt(raw);
  if (ldns_pkt_get_opcode(pkt.get()) != LDNS_PACKET_QUERY) {
    out.reply = ErrorReply(header, rr::kRcodeNotImp);
    return out;
  }
  if (ldns_pkt_qdcount(pkt.get()) != 1 || ldns_pkt_ancount(pkt.get()) != 0) {
    out.reply = ErrorReply(header, rr::kRcodeFormErr);
    return out;
  }
  ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(pkt.get()), 0);
  header.question.reset(ldns_rr_clone(question));
  header.type = ldns_rr_get_type(question);
  header.klass = ldns_rr_get_class(question);
  header.edns = ldns_pkt_edns(pkt.get());
  if (header.edns) {
    header.udp_size = std::clamp<size_t>(ldns_pkt_edns_udp_size(pkt.get()), kUdpSizeDefault, kUdpSizeMax);
  }
  if (header.klass != LDNS_RR_CLASS_IN && header.klass != LDNS_RR_CLASS_ANY) {
    out.reply = ErrorReply(header, rr::kRcodeNotImp);
    return out;
  }
  if (std::optional<std::string> plain = PlainName(ldns_rr_owner(question)); plain.has_value()) {
    header.name = std::move(*plain);
  } else {
    ldns_rdf* lower = ldns_rdf_clone(ldns_rr_owner(question));
    ldns_dname2canonical(lower);
    char* text = ldns_rdf2str(lower);
    ldns_rdf_deep_free(lower);
    if (text == nullptr) {
      out.reply = ErrorReply(header, rr::kRcodeFormErr);
      return out;
    }
    header.name = text;
    free(text);
  }
  out.query = std::move(header);
  return out;
}

std::string ErrorReply(const Query& query, uint32_t rcode) {
  BorrowingPktPtr p = Skeleton(query, rcode);
  ldns_pkt_set_aa(p.get(), false);
  return Wire(p.get());
}

AnswerRecords::AnswerRecords(const pbd::DnsAnswer& a) : rcode_(a.rcode()) {
  Dnames names;
  auto build = [&](const google::protobuf::RepeatedPtrField<pbd::DnsRecord>& records, std::vector<ldns_rr*>* out) {
    out->reserve(static_cast<size_t>(records.size()));
    for (const pbd::DnsRecord& r : records) out->push_back(ToRr(r, names));  // null: ldns cannot write it
  };
  build(a.answer(), &answer_);
  build(a.authority(), &authority_);
  build(a.additional(), &additional_);
  for (ldns_rr* r : answer_) writable_answers_ += r != nullptr ? 1 : 0;
}

AnswerRecords::~AnswerRecords() {
  for (auto* list : {&answer_, &authority_, &additional_}) {
    for (ldns_rr* r : *list) {
      if (r != nullptr) ldns_rr_free(r);
    }
  }
}

std::string AnswerRecords::Write(const Query& q, size_t answers, bool additional, bool tc,
                                 absl::Span<const uint32_t> order) const {
  BorrowingPktPtr p = Skeleton(q, rcode_);
  size_t pushed = 0;
  for (size_t i = 0; i < answer_.size() && pushed < answers; ++i) {
    const size_t at = order.empty() ? i : order[i];
    if (at >= answer_.size() || answer_[at] == nullptr) continue;
    ldns_pkt_push_rr(p.get(), LDNS_SECTION_ANSWER, answer_[at]);
    ++pushed;
  }
  for (ldns_rr* r : authority_) {
    if (r != nullptr) ldns_pkt_push_rr(p.get(), LDNS_SECTION_AUTHORITY, r);
  }
  if (additional) {
    for (ldns_rr* r : additional_) {
      if (r != nullptr) ldns_pkt_push_rr(p.get(), LDNS_SECTION_ADDITIONAL, r);
    }
  }
  ldns_pkt_set_tc(p.get(), tc);
  return Wire(p.get());
}

std::string AnswerRecords::Encode(const Query& query, size_t size_max, size_t answers_max,
                                  absl::Span<const uint32_t> order, bool* truncated) const {
  if (!order.empty()) {
    // Not a permutation of our records (from a server of another version, say): as they are.
    std::vector<bool> seen(answer_.size());
    bool permutation = order.size() == answer_.size();
    for (size_t i = 0; permutation && i < order.size(); ++i) {
      permutation = order[i] < seen.size() && !seen[order[i]];
      if (permutation) seen[order[i]] = true;
    }
    if (!permutation) order = {};
  }
  size_t answers = writable_answers_;
  bool cut = answers_max != 0 && answers > answers_max;
  if (cut) answers = answers_max;
  std::string wire = Write(query, answers, !cut, cut, order);
  if (wire.size() > size_max) {
    // Too big: without the additional section, then the most answer records that fit
    // (a binary search over the count: each try is one encoding).
    cut = true;
    size_t fits = 0;
    size_t lo = 0;
    size_t hi = answers;
    while (lo <= hi) {
      const size_t mid = lo + (hi - lo) / 2;
      if (Write(query, mid, false, true, order).size() <= size_max) {
        fits = mid;
        lo = mid + 1;
      } else if (mid == 0) {
        break;
      } else {
        hi = mid - 1;
      }
    }
    wire = Write(query, fits, false, true, order);
    if (wire.size() > size_max) {  // even the header and question do not fit: an empty TC answer
      pbd::DnsAnswer empty;
      empty.set_rcode(rcode_);
      wire = AnswerRecords(empty).Write(query, 0, false, true, {});
    }
  }
  if (truncated != nullptr) *truncated = cut;
  return wire;
}

std::string EncodeAnswer(const Query& query, const pbd::DnsAnswer& answer, size_t size_max, size_t answers_max,
                         bool* truncated) {
  return AnswerRecords(answer).Encode(query, size_max, answers_max, {}, truncated);
}

std::optional<uint16_t> MessageId(std::string_view bytes) {
  if (bytes.size() < LDNS_HEADER_SIZE) return std::nullopt;
  return LDNS_ID_WIRE(reinterpret_cast<const uint8_t*>(bytes.data()));
}

void SetMessageId(std::string& bytes, uint16_t id) {
  if (bytes.size() >= 2) LDNS_ID_SET(reinterpret_cast<uint8_t*>(bytes.data()), id);
}

}  // namespace muster::io::dns
