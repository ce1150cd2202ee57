// The DNS names resolved on a small catalog: every name form of dns_resolve.h, the health
// filter, tags, TTLs, NXDOMAIN/NODATA with the SOA, PTR, and a shuffle that is reproducible
// from its seed and still moves.
#include "core/agent/dns_resolve.h"

#include <set>
#include <string>
#include <vector>

#include "core/state/test_util.h"
#include "gtest/gtest.h"

namespace muster::agent {
namespace {

namespace pbd = ::muster::proto::dns;
using state::HealthStatus;
using state::testing::MakeCheck;
using state::testing::T;

class DnsResolveTest : public ::testing::Test {
 protected:
  void Register(state::RegisterRequest r) { ASSERT_TRUE(store_.Register(++index_, T(1), std::move(r)).ok()); }

  void Node(const std::string& name, const std::string& address, std::map<std::string, std::string> meta = {}) {
    state::RegisterRequest r = state::testing::NodeReq(name, address);
    r.node.meta = std::move(meta);
    Register(std::move(r));
  }

  void Service(const std::string& node, const std::string& address, const std::string& id, const std::string& name,
               std::vector<std::string> tags, int port, std::string service_address = "",
               std::vector<state::Check> checks = {}) {
    state::RegisterRequest r = state::testing::ServiceReq(node, id, name, std::move(tags), port);
    r.node.address = address;
    r.service->address = std::move(service_address);
    for (state::Check& c : checks) c.service_id = id;
    r.checks = std::move(checks);
    Register(std::move(r));
  }

  pbd::DnsAnswer Ask(const std::string& name, uint32_t type, uint64_t seed = 1) {
    pbd::DnsQuestion q = Question(name, type);
    return ResolveDns(store_, q, seed);
  }

  pbd::DnsQuestion Question(const std::string& name, uint32_t type) {
    pbd::DnsQuestion q;
    q.set_name(name);
    q.set_type(type);
    q.set_domain("consul.");
    q.set_alt_domain("alt.example.");
    q.set_datacenter("dc1");
    return q;
  }

  static std::multiset<std::string> Ips(const google::protobuf::RepeatedPtrField<pbd::DnsRecord>& records) {
    std::multiset<std::string> out;
    for (const pbd::DnsRecord& r : records) {
      if (r.ip().size() == 4) {
        const auto* b = reinterpret_cast<const unsigned char*>(r.ip().data());
        out.insert(std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
                   std::to_string(b[3]));
      } else if (r.ip().size() == 16) {
        out.insert("v6");
      }
    }
    return out;
  }

  void ExpectNxDomain(const pbd::DnsAnswer& a) {
    EXPECT_EQ(a.rcode(), dns::kRcodeNxDomain);
    EXPECT_EQ(a.answer_size(), 0);
    ASSERT_EQ(a.authority_size(), 1);
    EXPECT_EQ(a.authority(0).type(), dns::kTypeSoa);
    EXPECT_EQ(a.authority(0).target(), "ns.consul.");
    EXPECT_EQ(a.authority(0).mbox(), "hostmaster.consul.");
  }

  state::Store store_;
  uint64_t index_ = 0;
};

TEST_F(DnsResolveTest, ServiceAWithTwoInstancesAndSrvWithNodeTargets) {
  Service("n1", "10.0.0.1", "web1", "web", {"v1"}, 8080);
  Service("n2", "10.0.0.2", "web2", "web", {"v2"}, 8081);
  pbd::DnsAnswer a = Ask("web.service.consul.", dns::kTypeA);
  EXPECT_EQ(a.rcode(), dns::kRcodeNoError);
  EXPECT_EQ(Ips(a.answer()), (std::multiset<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(a.answer(0).name(), "web.service.consul.");

  pbd::DnsAnswer srv = Ask("web.service.dc1.consul.", dns::kTypeSrv);
  ASSERT_EQ(srv.answer_size(), 2);
  std::set<std::string> targets;
  for (const pbd::DnsRecord& r : srv.answer()) {
    EXPECT_EQ(r.type(), dns::kTypeSrv);
    EXPECT_EQ(r.priority(), 1u);
    EXPECT_EQ(r.weight(), 1u);
    targets.insert(r.target() + ":" + std::to_string(r.port()));
  }
  EXPECT_EQ(targets, (std::set<std::string>{"n1.node.dc1.consul.:8080", "n2.node.dc1.consul.:8081"}));
  EXPECT_EQ(Ips(srv.additional()), (std::multiset<std::string>{"10.0.0.1", "10.0.0.2"}));
}

TEST_F(DnsResolveTest, TagFiltersAndRfc2782) {
  Service("n1", "10.0.0.1", "web1", "web", {"v1"}, 8080);
  Service("n2", "10.0.0.2", "web2", "web", {"v2"}, 8081);
  EXPECT_EQ(Ips(Ask("v1.web.service.consul.", dns::kTypeA).answer()), (std::multiset<std::string>{"10.0.0.1"}));
  Service("n3", "10.0.0.3", "api1", "Api", {}, 80);
  EXPECT_EQ(Ips(Ask("api.service.consul.", dns::kTypeA).answer()), (std::multiset<std::string>{"10.0.0.3"}))
      << "a service registered as Api, asked in lower case";
  pbd::DnsAnswer rfc = Ask("_web._v2.service.consul.", dns::kTypeSrv);
  ASSERT_EQ(rfc.answer_size(), 1);
  EXPECT_EQ(rfc.answer(0).port(), 8081u);
  EXPECT_EQ(Ask("_web._tcp.service.consul.", dns::kTypeSrv).answer_size(), 2) << "_tcp: no tag filter";
  ExpectNxDomain(Ask("v3.web.service.consul.", dns::kTypeA));
}

TEST_F(DnsResolveTest, CriticalInstancesDropWarningOnesOnlyWithOnlyPassing) {
  Service("n1", "10.0.0.1", "web1", "web", {}, 80, "", {MakeCheck("c1", HealthStatus::kPassing)});
  Service("n2", "10.0.0.2", "web2", "web", {}, 80, "", {MakeCheck("c2", HealthStatus::kWarning)});
  Service("n3", "10.0.0.3", "web3", "web", {}, 80, "", {MakeCheck("c3", HealthStatus::kCritical)});
  // A node-level critical check takes the node's instances with it.
  Service("n4", "10.0.0.4", "web4", "web", {}, 80);
  state::RegisterRequest down = state::testing::NodeReq("n4", "10.0.0.4");
  down.checks.push_back(MakeCheck("serfHealth", HealthStatus::kCritical));
  Register(down);
  EXPECT_EQ(Ips(Ask("web.service.consul.", dns::kTypeA).answer()), (std::multiset<std::string>{"10.0.0.1", "10.0.0.2"}));

  pbd::DnsQuestion q = Question("web.service.consul.", dns::kTypeSrv);
  q.set_only_passing(true);
  pbd::DnsAnswer passing = ResolveDns(store_, q, 1);
  ASSERT_EQ(passing.answer_size(), 1);
  EXPECT_EQ(passing.answer(0).target(), "n1.node.dc1.consul.");
}

TEST_F(DnsResolveTest, ServiceAddressOverNodeAddressAndHostNamesAsTargets) {
  Service("n1", "10.0.0.1", "a", "api", {}, 90, "192.168.1.5");
  Service("n2", "10.0.0.2", "b", "api", {}, 91, "api.example.com");
  Service("n2", "10.0.0.2", "c", "api", {}, 92, "192.168.1.5");  // the same address twice: one A
  pbd::DnsAnswer a = Ask("api.service.consul.", dns::kTypeA);
  EXPECT_EQ(Ips(a.answer()), (std::multiset<std::string>{"192.168.1.5"}));
  int cnames = 0;
  for (const pbd::DnsRecord& r : a.answer()) {
    if (r.type() == dns::kTypeCname) {
      ++cnames;
      EXPECT_EQ(r.target(), "api.example.com.");
    }
  }
  EXPECT_EQ(cnames, 1);

  pbd::DnsAnswer srv = Ask("api.service.consul.", dns::kTypeSrv);
  ASSERT_EQ(srv.answer_size(), 3);
  for (const pbd::DnsRecord& r : srv.answer()) {
    if (r.port() == 91) {
      EXPECT_EQ(r.target(), "api.example.com.");
    } else if (r.port() == 90) {
      EXPECT_EQ(r.target(), "n1.node.dc1.consul.");
    }
  }
  // Glue: each node name with the service's address, not the node's.
  ASSERT_GT(srv.additional_size(), 0);
  for (const pbd::DnsRecord& r : srv.additional()) EXPECT_EQ(r.ip(), std::string("\xc0\xa8\x01\x05", 4));
}

TEST_F(DnsResolveTest, NodeLookupWithMetaTxtAndCaseInsensitiveNames) {
  Node("Db-1", "10.1.0.7", {{"rack", "r2"}, {"rfc1035-note", "plain"}});
  pbd::DnsAnswer a = Ask("db-1.node.consul.", dns::kTypeA);
  EXPECT_EQ(a.rcode(), dns::kRcodeNoError);
  EXPECT_EQ(Ips(a.answer()), (std::multiset<std::string>{"10.1.0.7"}));
  EXPECT_EQ(a.additional_size(), 2) << "the meta as TXT in additional";

  pbd::DnsAnswer txt = Ask("db-1.node.dc1.consul.", dns::kTypeTxt);
  ASSERT_EQ(txt.answer_size(), 2);
  EXPECT_EQ(txt.answer(0).txt(0), "rack=r2");
  EXPECT_EQ(txt.answer(1).txt(0), "plain");

  // The node has no IPv6 address: NODATA, with the SOA.
  pbd::DnsAnswer aaaa = Ask("db-1.node.consul.", dns::kTypeAaaa);
  EXPECT_EQ(aaaa.rcode(), dns::kRcodeNoError);
  EXPECT_EQ(aaaa.answer_size(), 0);
  ASSERT_EQ(aaaa.authority_size(), 1);
  EXPECT_EQ(aaaa.authority(0).type(), dns::kTypeSoa);
}

TEST_F(DnsResolveTest, UnknownNamesAndOtherDatacentersAreNxDomainWithSoa) {
  Service("n1", "10.0.0.1", "web1", "web", {}, 80);
  for (const char* name : {"nope.service.consul.", "nope.node.consul.", "web.service.dc2.consul.", "web.consul.",
                           "web.service.dc1.extra.consul.", "x.query.consul.", "service.consul.",
                           "zz.addr.consul."}) {
    SCOPED_TRACE(name);
    ExpectNxDomain(Ask(name, dns::kTypeA));
  }
  pbd::DnsAnswer soa = Ask("consul.", dns::kTypeSoa);
  ASSERT_EQ(soa.answer_size(), 1);
  EXPECT_EQ(soa.answer(0).serial(), static_cast<uint32_t>(store_.last_index()));
  EXPECT_EQ(soa.answer(0).refresh_s(), 3600u);
}

TEST_F(DnsResolveTest, NsNamesTheServersWithGlue) {
  Service("srv1", "10.0.0.9", "consul", "consul", {}, 8300);
  pbd::DnsAnswer ns = Ask("consul.", dns::kTypeNs);
  ASSERT_EQ(ns.answer_size(), 1);
  EXPECT_EQ(ns.answer(0).target(), "srv1.node.dc1.consul.");
  EXPECT_EQ(Ips(ns.additional()), (std::multiset<std::string>{"10.0.0.9"}));
}

TEST_F(DnsResolveTest, AltDomainAnswersInItsOwnNames) {
  Service("n1", "10.0.0.1", "web1", "web", {}, 80);
  pbd::DnsAnswer srv = Ask("web.service.alt.example.", dns::kTypeSrv);
  ASSERT_EQ(srv.answer_size(), 1);
  EXPECT_EQ(srv.answer(0).target(), "n1.node.dc1.alt.example.");
  EXPECT_EQ(ZoneOf("web.service.alt.example.", "consul.", "alt.example."), DnsZone::kDomain);
  EXPECT_EQ(ZoneOf("example.com.", "consul.", "alt.example."), DnsZone::kOutside);
  EXPECT_EQ(ZoneOf("notconsul.", "consul.", ""), DnsZone::kOutside);
  EXPECT_EQ(ZoneOf("7.0.0.10.in-addr.arpa.", "consul.", ""), DnsZone::kReverse);
  EXPECT_EQ(CanonicalDomain("Consul"), "consul.");
  EXPECT_EQ(CanonicalDomain("my.Domain."), "my.domain.");
  EXPECT_EQ(CanonicalDomain(""), "");
}

TEST_F(DnsResolveTest, PtrFindsTheNodeOfAnAddress) {
  Node("n1", "10.0.0.1");
  Node("v6", "2001:db8::1");
  pbd::DnsAnswer ptr = Ask("1.0.0.10.in-addr.arpa.", dns::kTypePtr);
  ASSERT_EQ(ptr.answer_size(), 1);
  EXPECT_EQ(ptr.answer(0).target(), "n1.node.dc1.consul.");
  std::string v6 = "1.";
  for (int i = 0; i < 23; ++i) v6 += "0.";
  v6 += "8.b.d.0.1.0.0.2.ip6.arpa.";
  pbd::DnsAnswer ptr6 = Ask(v6, dns::kTypePtr);
  ASSERT_EQ(ptr6.answer_size(), 1);
  EXPECT_EQ(ptr6.answer(0).target(), "v6.node.dc1.consul.");
  EXPECT_EQ(Ask("2.0.0.10.in-addr.arpa.", dns::kTypePtr).rcode(), dns::kRcodeNxDomain);
  EXPECT_EQ(Ask("1.0.0.999.in-addr.arpa.", dns::kTypePtr).rcode(), dns::kRcodeNxDomain);
}

TEST_F(DnsResolveTest, AddrNamesAndTtls) {
  Service("n1", "10.0.0.1", "web1", "web-api", {}, 80);
  pbd::DnsAnswer addr = Ask("0a000001.addr.dc1.consul.", dns::kTypeA);
  EXPECT_EQ(Ips(addr.answer()), (std::multiset<std::string>{"10.0.0.1"}));

  pbd::DnsQuestion q = Question("web-api.service.consul.", dns::kTypeA);
  q.set_node_ttl_s(7);
  pbd::ServiceTtl* any = q.add_service_ttl();
  any->set_service("*");
  any->set_ttl_s(5);
  pbd::ServiceTtl* web = q.add_service_ttl();
  web->set_service("web-*");
  web->set_ttl_s(30);
  EXPECT_EQ(ResolveDns(store_, q, 1).answer(0).ttl_s(), 30u) << "the longest prefix";
  EXPECT_EQ(ServiceTtlSeconds(q, "db"), 5u);
  pbd::ServiceTtl* exact = q.add_service_ttl();
  exact->set_service("web-api");
  exact->set_ttl_s(60);
  EXPECT_EQ(ServiceTtlSeconds(q, "web-api"), 60u) << "an exact name over any prefix";
  q.set_name("n1.node.consul.");
  EXPECT_EQ(ResolveDns(store_, q, 1).answer(0).ttl_s(), 7u);
  EXPECT_EQ(Ask("web-api.service.consul.", dns::kTypeA).answer(0).ttl_s(), 0u) << "Consul's default";
}

TEST_F(DnsResolveTest, ShuffleIsReproducibleFromTheSeedAndMoves) {
  for (int i = 0; i < 10; ++i) {
    Service("n" + std::to_string(i), "10.0.0." + std::to_string(i + 1), "w", "web", {}, 80);
  }
  auto order = [&](uint64_t seed) {
    std::string s;
    const pbd::DnsAnswer a = Ask("web.service.consul.", dns::kTypeA, seed);
    for (const pbd::DnsRecord& r : a.answer()) s += r.ip();
    return s;
  };
  EXPECT_EQ(order(42), order(42));
  std::set<std::string> orders;
  for (uint64_t seed = 0; seed < 20; ++seed) orders.insert(order(seed));
  EXPECT_GT(orders.size(), 10u);
}

TEST_F(DnsResolveTest, ServeDnsQueryRefusesBadQuestionsAndAnswersAProto) {
  Service("n1", "10.0.0.1", "web1", "web", {}, 80);
  proto::agent::Call call;
  proto::agent::Reply reply;
  EXPECT_EQ(ServeDnsQuery(store_, call, 1, &reply).code(), absl::StatusCode::kInvalidArgument);
  *call.mutable_dns_question() = Question("web.service.consul.", dns::kTypeA);
  ASSERT_TRUE(ServeDnsQuery(store_, call, 1, &reply).ok());
  pbd::DnsAnswer a;
  ASSERT_TRUE(a.ParseFromString(reply.body()));
  EXPECT_EQ(a.answer_size(), 1);
  EXPECT_EQ(reply.index(), store_.last_index());
  call.mutable_dns_question()->set_name(std::string(2000, 'a') + ".");
  EXPECT_EQ(ServeDnsQuery(store_, call, 1, &reply).code(), absl::StatusCode::kInvalidArgument);
}

// A batch (what io/dns gathers from one read of datagrams) answers each ask as a question of
// its own would be answered, in order; a name asked again gets the same records in an order of
// its own; empty, oversized and malformed batches are refused whole.
TEST_F(DnsResolveTest, ABatchAnswersEveryAskInOrderAndShufflesRepeats) {
  for (int i = 1; i <= 5; ++i) {
    const std::string n = std::to_string(i);
    Service("n" + n, "10.0.0." + n, "web" + n, "web", {}, 80);
  }
  auto batch_call = [&](const std::vector<std::pair<std::string, uint32_t>>& asks) {
    proto::agent::Call call;
    pbd::DnsBatch* b = call.mutable_dns_batch();
    *b->mutable_settings() = Question("", 0);
    for (const auto& [name, type] : asks) {
      pbd::DnsAsk* a = b->add_asks();
      a->set_name(name);
      a->set_type(type);
    }
    return call;
  };
  const std::vector<std::pair<std::string, uint32_t>> asks = {
      {"web.service.consul.", dns::kTypeA},   {"web.service.consul.", dns::kTypeA},
      {"nope.service.consul.", dns::kTypeA},  {"web.service.consul.", dns::kTypeSrv},
      {"n1.node.consul.", dns::kTypeA},       {"web.service.consul.", dns::kTypeA}};
  std::set<std::string> repeat_orders;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    proto::agent::Reply reply;
    ASSERT_TRUE(ServeDnsQuery(store_, batch_call(asks), seed, &reply).ok());
    EXPECT_EQ(reply.index(), store_.last_index());
    pbd::DnsAnswers batch;
    ASSERT_TRUE(batch.ParseFromString(reply.body()));
    ASSERT_EQ(batch.asks_size(), 6);
    EXPECT_EQ(batch.answers_size(), 4) << "the repeats of web A share the first one's records";
    // Ask i's answer as io/dns writes it: the shared records in the ask's order.
    auto answer_of = [&](int i) {
      const pbd::DnsAskAnswer& ask = batch.asks(i);
      EXPECT_LT(ask.answer(), static_cast<uint32_t>(batch.answers_size()));
      pbd::DnsAnswer a = batch.answers(static_cast<int>(ask.answer()));
      if (ask.order_size() > 0) {
        EXPECT_EQ(ask.order_size(), a.answer_size());
        std::set<uint32_t> seen(ask.order().begin(), ask.order().end());
        EXPECT_EQ(seen.size(), static_cast<size_t>(a.answer_size())) << "a permutation";
        pbd::DnsAnswer ordered = a;
        for (int k = 0; k < ask.order_size(); ++k) *ordered.mutable_answer(k) = a.answer(static_cast<int>(ask.order(k)));
        return ordered;
      }
      return a;
    };
    EXPECT_EQ(batch.asks(1).answer(), batch.asks(0).answer());
    EXPECT_EQ(batch.asks(5).answer(), batch.asks(0).answer());
    for (int i : {0, 1, 5}) {
      EXPECT_EQ(Ips(answer_of(i).answer()), Ips(Ask("web.service.consul.", dns::kTypeA).answer()));
    }
    EXPECT_EQ(answer_of(2).rcode(), dns::kRcodeNxDomain);
    EXPECT_EQ(answer_of(2).authority_size(), 1);
    EXPECT_EQ(answer_of(3).answer_size(), 5);
    EXPECT_EQ(answer_of(3).answer(0).type(), dns::kTypeSrv);
    EXPECT_EQ(answer_of(3).additional_size(), 5);
    ASSERT_EQ(answer_of(4).answer_size(), 1);
    EXPECT_EQ(answer_of(4).answer(0).ip(), std::string("\x0a\x00\x00\x01", 4));
    std::string order;
    const pbd::DnsAnswer repeat = answer_of(1);
    for (const pbd::DnsRecord& r : repeat.answer()) order += r.ip();
    repeat_orders.insert(order);
  }
  EXPECT_GT(repeat_orders.size(), 10u);  // of 120 orders of 5

  proto::agent::Reply reply;
  EXPECT_EQ(ServeDnsQuery(store_, batch_call({}), 1, &reply).code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::pair<std::string, uint32_t>> too_many(kDnsBatchQuestionsMax + 1, {"web.service.consul.", 1});
  EXPECT_EQ(ServeDnsQuery(store_, batch_call(too_many), 1, &reply).code(), absl::StatusCode::kInvalidArgument);
  too_many.pop_back();
  EXPECT_TRUE(ServeDnsQuery(store_, batch_call(too_many), 1, &reply).ok());
  EXPECT_EQ(ServeDnsQuery(store_, batch_call({{"web.service.consul.", 1}, {"unqualified", 1}}), 1, &reply).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ServeDnsQuery(store_, batch_call({{std::string(2000, 'a') + ".", 1}}), 1, &reply).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace muster::agent
