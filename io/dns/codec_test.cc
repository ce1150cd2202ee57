// The DNS codec without sockets: queries read as ldns reads them (case, EDNS0, classes,
// opcodes), answers cut to size with TC, and a seeded randomized run of garbage, truncated,
// mutated and compression-loop packets through the parser: never a crash, and every reply is
// a well-formed FORMERR/NOTIMP response carrying the query's ID.
#include "io/dns/codec.h"

#include <ldns/ldns.h>

#include <string>
#include <vector>

#include "core/agent/dns_resolve.h"
#include "core/base/rng.h"
#include "gtest/gtest.h"

namespace muster::io::dns {
namespace {

namespace pbd = ::muster::proto::dns;
namespace rr = ::muster::agent::dns;

// A query's wire form, made by ldns.
std::string QueryBytes(const char* name, ldns_rr_type type, bool edns = false, uint16_t id = 4242) {
  ldns_pkt* p = nullptr;
  EXPECT_EQ(ldns_pkt_query_new_frm_str(&p, name, type, LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
  ldns_pkt_set_id(p, id);
  if (edns) ldns_pkt_set_edns_udp_size(p, 1232);
  uint8_t* wire = nullptr;
  size_t size = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, p, &size), LDNS_STATUS_OK);
  std::string out(reinterpret_cast<char*>(wire), size);
  free(wire);
  ldns_pkt_free(p);
  return out;
}

struct Reply {
  bool ok = false;
  uint16_t id = 0;
  bool qr = false, tc = false;
  int rcode = -1;
  size_t answers = 0, additional = 0, authority = 0;
};

Reply Read(const std::string& bytes) {
  Reply r;
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) != LDNS_STATUS_OK) {
    ldns_pkt_free(p);
    return r;
  }
  r.ok = true;
  r.id = ldns_pkt_id(p);
  r.qr = ldns_pkt_qr(p);
  r.tc = ldns_pkt_tc(p);
  r.rcode = ldns_pkt_get_rcode(p);
  r.answers = ldns_pkt_ancount(p);
  r.authority = ldns_pkt_nscount(p);
  r.additional = ldns_pkt_arcount(p);
  ldns_pkt_free(p);
  return r;
}

pbd::DnsAnswer ManyA(int n) {
  pbd::DnsAnswer a;
  for (int i = 0; i < n; ++i) {
    pbd::DnsRecord* r = a.add_answer();
    r->set_name("big.service.consul.");
    r->set_type(rr::kTypeA);
    r->set_ip(std::string("\x0a\x01\x00", 3) + static_cast<char>(i + 1));
    pbd::DnsRecord* glue = a.add_additional();
    glue->set_name("n" + std::to_string(i) + ".node.dc1.consul.");
    glue->set_type(rr::kTypeA);
    glue->set_ip(r->ip());
  }
  return a;
}

TEST(ParseQuery, ReadsNameLowercasedTypeAndEdns) {
  Parsed p = ParseQuery(QueryBytes("Web.Service.CONSUL.", LDNS_RR_TYPE_SRV, /*edns=*/true));
  ASSERT_TRUE(p.query.has_value());
  EXPECT_EQ(p.query->name, "web.service.consul.");
  EXPECT_EQ(p.query->type, LDNS_RR_TYPE_SRV);
  EXPECT_EQ(p.query->id, 4242);
  EXPECT_TRUE(p.query->edns);
  EXPECT_EQ(p.query->udp_size, 1232u);
  Parsed plain = ParseQuery(QueryBytes("a.consul.", LDNS_RR_TYPE_A));
  ASSERT_TRUE(plain.query.has_value());
  EXPECT_FALSE(plain.query->edns);
  EXPECT_EQ(plain.query->udp_size, kUdpSizeDefault);
}

// The name as the resolver gets it is ldns's text of the name's canonical (lowercased) form,
// for plain names (written without ldns's printf) and for names with bytes ldns escapes alike:
// 3,000 seeded names of random labels from letters of both cases, digits, '-', '_' and bytes
// such as '.', '\\', ' ', ';', 0x00, 0x7f and 0xff.
TEST(ParseQuery, NameTextIsLdnsTextOfTheLowercasedName) {
  const std::string plain = "abcXYZ019-_";
  const std::string odd = std::string("abcXYZ019-_.\\ ;()\"@$", 20) + std::string("\0\x7f\xff\x01", 4);
  Rng rng(31);
  for (int n = 0; n < 3000; ++n) {
    const std::string& alphabet = n % 2 == 0 ? plain : odd;
    std::string wire("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
    std::string labels;
    const int count = 1 + static_cast<int>(rng.Uniform(4));
    for (int l = 0; l < count; ++l) {
      const size_t size = 1 + rng.Uniform(12);
      labels.push_back(static_cast<char>(size));
      for (size_t i = 0; i < size; ++i) labels.push_back(alphabet[rng.Uniform(alphabet.size())]);
    }
    labels.push_back('\0');
    wire += labels + std::string("\x00\x01\x00\x01", 4);
    Parsed parsed = ParseQuery(wire);
    ASSERT_TRUE(parsed.query.has_value()) << n;
    ldns_rdf* name = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, labels.size(), labels.data());
    ASSERT_NE(name, nullptr);
    ldns_dname2canonical(name);
    char* text = ldns_rdf2str(name);
    ASSERT_NE(text, nullptr);
    EXPECT_EQ(parsed.query->name, std::string(text)) << n;
    free(text);
    ldns_rdf_deep_free(name);
  }
}

TEST(ParseQuery, ResponsesAndRuntsGetNothingGarbageGetsFormErr) {
  std::string response = QueryBytes("a.consul.", LDNS_RR_TYPE_A);
  response[2] = static_cast<char>(response[2] | 0x80);  // QR
  Parsed r = ParseQuery(response);
  EXPECT_FALSE(r.query.has_value());
  EXPECT_TRUE(r.reply.empty()) << "a response is never answered";
  EXPECT_TRUE(ParseQuery("short").reply.empty());
  std::string cut = QueryBytes("a.consul.", LDNS_RR_TYPE_A).substr(0, 16);
  Parsed c = ParseQuery(cut);
  ASSERT_FALSE(c.query.has_value());
  Reply formerr = Read(c.reply);
  EXPECT_TRUE(formerr.ok && formerr.qr);
  EXPECT_EQ(formerr.rcode, LDNS_RCODE_FORMERR);
  EXPECT_EQ(formerr.id, 4242);
}

TEST(ParseQuery, CompressionPointerLoopIsFormErr) {
  std::string loop = QueryBytes("a.consul.", LDNS_RR_TYPE_A).substr(0, 12);
  loop += std::string("\xc0\x0c\x00\x01\x00\x01", 6);  // QNAME: a pointer to itself
  Parsed p = ParseQuery(loop);
  ASSERT_FALSE(p.query.has_value());
  EXPECT_EQ(Read(p.reply).rcode, LDNS_RCODE_FORMERR);
  std::string two = QueryBytes("a.consul.", LDNS_RR_TYPE_A).substr(0, 12);
  two += std::string("\xc0\x0e\xc0\x0c\x00\x01\x00\x01", 8);  // two pointers at each other
  EXPECT_FALSE(ParseQuery(two).query.has_value());
}

TEST(ParseQuery, OtherOpcodesAndClassesAreNotImplemented) {
  std::string notify = QueryBytes("a.consul.", LDNS_RR_TYPE_A);
  notify[2] = static_cast<char>((notify[2] & 0x87) | (LDNS_PACKET_NOTIFY << 3));
  EXPECT_EQ(Read(ParseQuery(notify).reply).rcode, LDNS_RCODE_NOTIMPL);
  ldns_pkt* p = nullptr;
  ASSERT_EQ(ldns_pkt_query_new_frm_str(&p, "a.consul.", LDNS_RR_TYPE_A, LDNS_RR_CLASS_CH, 0), LDNS_STATUS_OK);
  uint8_t* wire = nullptr;
  size_t size = 0;
  ASSERT_EQ(ldns_pkt2wire(&wire, p, &size), LDNS_STATUS_OK);
  EXPECT_EQ(Read(ParseQuery(std::string(reinterpret_cast<char*>(wire), size)).reply).rcode, LDNS_RCODE_NOTIMPL);
  free(wire);
  ldns_pkt_free(p);
}

TEST(EncodeAnswer, CutsToTheSizeWithTcAndKeepsTheSoa) {
  Parsed p = ParseQuery(QueryBytes("big.service.consul.", LDNS_RR_TYPE_A));
  ASSERT_TRUE(p.query.has_value());
  bool truncated = false;
  std::string udp = EncodeAnswer(*p.query, ManyA(40), kUdpSizeDefault, 0, &truncated);
  EXPECT_TRUE(truncated);
  EXPECT_LE(udp.size(), kUdpSizeDefault);
  Reply r = Read(udp);
  EXPECT_TRUE(r.ok && r.tc);
  EXPECT_GT(r.answers, 10u) << "as many as fit";
  EXPECT_EQ(r.additional, 0u);

  std::string tcp = EncodeAnswer(*p.query, ManyA(40), kTcpMessageBytesMax, 0, &truncated);
  EXPECT_FALSE(truncated);
  Reply whole = Read(tcp);
  EXPECT_FALSE(whole.tc);
  EXPECT_EQ(whole.answers, 40u);
  EXPECT_EQ(whole.additional, 40u);

  std::string limited = EncodeAnswer(*p.query, ManyA(5), kUdpSizeDefault, 3, &truncated);
  EXPECT_TRUE(truncated);
  EXPECT_EQ(Read(limited).answers, 3u) << "udp_answer_limit without EDNS0";

  pbd::DnsAnswer nx;
  nx.set_rcode(rr::kRcodeNxDomain);
  pbd::DnsRecord* soa = nx.add_authority();
  soa->set_name("consul.");
  soa->set_type(rr::kTypeSoa);
  soa->set_target("ns.consul.");
  soa->set_mbox("hostmaster.consul.");
  Reply n = Read(EncodeAnswer(*p.query, nx, kUdpSizeDefault, 3));
  EXPECT_EQ(n.rcode, LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(n.authority, 1u);
  EXPECT_EQ(n.id, 4242);
}

// The last octets of a reply's A answers, in order.
std::vector<int> LastOctets(const std::string& bytes) {
  std::vector<int> out;
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) != LDNS_STATUS_OK) return out;
  for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); ++i) {
    const ldns_rdf* ip = ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), i), 0);
    out.push_back(ldns_rdf_data(ip)[3]);
  }
  ldns_pkt_free(p);
  return out;
}

// Records built once are written for many queries, each in its own order (and cut in that
// order); an order that is not a permutation of the records writes them as they are.
TEST(AnswerRecords, WritesTheSharedRecordsInEachQuerysOrder) {
  Parsed p = ParseQuery(QueryBytes("big.service.consul.", LDNS_RR_TYPE_A));
  ASSERT_TRUE(p.query.has_value());
  const AnswerRecords records(ManyA(4));
  const std::vector<uint32_t> order = {2, 0, 3, 1};
  EXPECT_EQ(LastOctets(records.Encode(*p.query, kTcpMessageBytesMax, 0, order)), (std::vector<int>{3, 1, 4, 2}));
  EXPECT_EQ(LastOctets(records.Encode(*p.query, kTcpMessageBytesMax, 0, {})), (std::vector<int>{1, 2, 3, 4}));
  bool truncated = false;
  EXPECT_EQ(LastOctets(records.Encode(*p.query, kUdpSizeDefault, 2, order, &truncated)), (std::vector<int>{3, 1}));
  EXPECT_TRUE(truncated);
  for (const std::vector<uint32_t>& bad : {std::vector<uint32_t>{0, 1, 2}, std::vector<uint32_t>{0, 0, 1, 2},
                                           std::vector<uint32_t>{0, 1, 2, 9}}) {
    EXPECT_EQ(LastOctets(records.Encode(*p.query, kTcpMessageBytesMax, 0, bad)), (std::vector<int>{1, 2, 3, 4}));
  }
  // The same bytes as the one-shot encoder.
  EXPECT_EQ(records.Encode(*p.query, kUdpSizeDefault, 3, {}), EncodeAnswer(*p.query, ManyA(4), kUdpSizeDefault, 3));
}

TEST(EncodeAnswer, UnwritableRecordsAreLeftOut) {
  Parsed p = ParseQuery(QueryBytes("x.consul.", LDNS_RR_TYPE_ANY));
  pbd::DnsAnswer a;
  pbd::DnsRecord* bad_ip = a.add_answer();
  bad_ip->set_name("x.consul.");
  bad_ip->set_type(rr::kTypeA);
  bad_ip->set_ip("abc");
  pbd::DnsRecord* bad_name = a.add_answer();
  bad_name->set_name(std::string(300, 'a') + ".");
  bad_name->set_type(rr::kTypeCname);
  bad_name->set_target("y.");
  pbd::DnsRecord* txt = a.add_answer();
  txt->set_name("x.consul.");
  txt->set_type(rr::kTypeTxt);
  txt->add_txt(std::string(600, 't'));  // three character-strings
  Reply r = Read(EncodeAnswer(*p.query, a, kTcpMessageBytesMax, 0));
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.answers, 1u);
}

// Seeded: garbage of every length, every cut of valid queries, and random byte flips of them.
TEST(ParseQueryFuzz, NeverCrashesAndRepliesAreFormErrWithTheId) {
  Rng rng(20261201);
  const std::string valid[] = {QueryBytes("web.service.consul.", LDNS_RR_TYPE_SRV, true),
                               QueryBytes("n1.node.dc1.consul.", LDNS_RR_TYPE_A),
                               QueryBytes("1.0.0.10.in-addr.arpa.", LDNS_RR_TYPE_PTR, true)};
  int parsed = 0, replied = 0, silent = 0;
  auto check = [&](const std::string& bytes) {
    Parsed p = ParseQuery(bytes);
    if (p.query.has_value()) {
      ++parsed;
      EXPECT_LE(p.query->name.size(), 4 * 255u) << "ldns's presentation form of at most 255 wire bytes";
      (void)EncodeAnswer(*p.query, ManyA(3), kUdpSizeDefault, 3);
      return;
    }
    if (p.reply.empty()) {
      ++silent;
      return;
    }
    ++replied;
    Reply r = Read(p.reply);
    ASSERT_TRUE(r.ok);
    EXPECT_TRUE(r.qr);
    EXPECT_TRUE(r.rcode == LDNS_RCODE_FORMERR || r.rcode == LDNS_RCODE_NOTIMPL) << r.rcode;
    EXPECT_EQ(r.id, *MessageId(bytes));
  };
  for (int i = 0; i < 3000; ++i) {
    std::string garbage(rng.Uniform(600), '\0');
    for (char& c : garbage) c = static_cast<char>(rng.Uniform(256));
    check(garbage);
  }
  for (const std::string& v : valid) {
    for (size_t cut = 0; cut <= v.size(); ++cut) check(v.substr(0, cut));
    for (int i = 0; i < 3000; ++i) {
      std::string m = v;
      for (uint64_t flips = 1 + rng.Uniform(4); flips > 0; --flips) {
        m[rng.Uniform(m.size())] = static_cast<char>(rng.Uniform(256));
      }
      check(m);
    }
  }
  EXPECT_GT(parsed, 100);
  EXPECT_GT(replied, 100);
  EXPECT_GT(silent, 100);
}

}  // namespace
}  // namespace muster::io::dns
