// The DNS interface's work per query without sockets (issue 15): each stage one query passes
// through between the datagram and the answer's bytes, so a change to one is measured alone
// (bench/dns_bench.sh measures the whole against NSD over loopback). A catalog of one service
// `web` with 3 instances; batches of 20 questions (what one recvmmsg reads under load).
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/agent/dns_resolve.h"
#include "core/state/store.h"
#include "core/state/test_util.h"
#include "io/dns/codec.h"
#include "proto/agent.pb.h"
#include "proto/dns.pb.h"

// After the C++ headers: ldns's C headers define what <optional>'s operators then trip on.
#include <ldns/ldns.h>

namespace muster {
namespace {

namespace pbd = ::muster::proto::dns;
constexpr int kBatch = 20;

std::string QueryBytes(const char* name) {
  ldns_pkt* p = nullptr;
  ldns_pkt_query_new_frm_str(&p, name, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD);
  ldns_pkt_set_id(p, 4242);
  uint8_t* wire = nullptr;
  size_t size = 0;
  ldns_pkt2wire(&wire, p, &size);
  std::string out(reinterpret_cast<char*>(wire), size);
  free(wire);
  ldns_pkt_free(p);
  return out;
}

state::Store& Catalog() {
  static state::Store* store = [] {
    auto* s = new state::Store();
    for (int i = 1; i <= 3; ++i) {
      state::RegisterRequest r = state::testing::ServiceReq("n" + std::to_string(i), "web" + std::to_string(i), "web");
      r.node.address = "10.0.0." + std::to_string(i);
      s->Register(static_cast<uint64_t>(i), state::testing::T(1), std::move(r)).IgnoreError();
    }
    return s;
  }();
  return *store;
}

proto::agent::Call BatchCall() {
  proto::agent::Call call;
  pbd::DnsBatch* b = call.mutable_dns_batch();
  b->mutable_settings()->set_domain("consul.");
  b->mutable_settings()->set_datacenter("dc1");
  for (int i = 0; i < kBatch; ++i) {
    pbd::DnsAsk* a = b->add_asks();
    a->set_name("web.service.consul.");
    a->set_type(1);
  }
  call.set_consistency("stale");
  return call;
}

std::string ReplyBytes() {
  proto::agent::Reply reply;
  agent::ServeDnsQuery(Catalog(), BatchCall(), 7, &reply).IgnoreError();
  return reply.SerializeAsString();
}

void BM_ParseQuery(benchmark::State& state) {
  const std::string bytes = QueryBytes("web.service.consul.");
  for (auto _ : state) {
    io::dns::Parsed parsed = io::dns::ParseQuery(bytes);
    benchmark::DoNotOptimize(parsed.query->type);
  }
}
BENCHMARK(BM_ParseQuery);

// The question batch io builds and serializes, and the machine parses (per batch of 20).
void BM_BatchCallRoundTrip(benchmark::State& state) {
  for (auto _ : state) {
    std::string wire = BatchCall().SerializeAsString();
    proto::agent::Call parsed;
    benchmark::DoNotOptimize(parsed.ParseFromString(wire));
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_BatchCallRoundTrip);

// The machine's resolution of a batch of 20 (per batch).
void BM_ServeBatch(benchmark::State& state) {
  const proto::agent::Call call = BatchCall();
  uint64_t seed = 1;
  for (auto _ : state) {
    proto::agent::Reply reply;
    benchmark::DoNotOptimize(agent::ServeDnsQuery(Catalog(), call, ++seed, &reply).ok());
    std::string wire = reply.SerializeAsString();
    benchmark::DoNotOptimize(wire.data());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_ServeBatch);

// io reading the machine's answer to a batch of 20.
void BM_ParseAnswers(benchmark::State& state) {
  const std::string bytes = ReplyBytes();
  for (auto _ : state) {
    proto::agent::Reply reply;
    pbd::DnsAnswers answers;
    benchmark::DoNotOptimize(reply.ParseFromString(bytes) && answers.ParseFromString(reply.body()));
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_ParseAnswers);

void BM_EncodeAnswer(benchmark::State& state) {
  const io::dns::Parsed parsed = io::dns::ParseQuery(QueryBytes("web.service.consul."));
  proto::agent::Reply reply;
  pbd::DnsAnswers answers;
  reply.ParseFromString(ReplyBytes());
  answers.ParseFromString(reply.body());
  for (auto _ : state) {
    std::string wire = io::dns::EncodeAnswer(*parsed.query, answers.answers(0), 512, 3);
    benchmark::DoNotOptimize(wire.data());
  }
}
BENCHMARK(BM_EncodeAnswer);

// io's whole work on the machine's answer to a batch of 20: the reply parsed, each distinct
// answer's records built once, and 20 answers written, each in its ask's order (per query).
void BM_AnswerBatch(benchmark::State& state) {
  const io::dns::Parsed parsed = io::dns::ParseQuery(QueryBytes("web.service.consul."));
  const std::string bytes = ReplyBytes();
  for (auto _ : state) {
    proto::agent::Reply reply;
    pbd::DnsAnswers answers;
    reply.ParseFromString(bytes);
    answers.ParseFromString(reply.body());
    std::vector<std::unique_ptr<io::dns::AnswerRecords>> records(static_cast<size_t>(answers.answers_size()));
    for (const pbd::DnsAskAnswer& ask : answers.asks()) {
      auto& r = records[ask.answer()];
      if (r == nullptr) r = std::make_unique<io::dns::AnswerRecords>(answers.answers(static_cast<int>(ask.answer())));
      std::string wire = r->Encode(*parsed.query, 512, 3, absl::MakeConstSpan(ask.order().data(), ask.order_size()));
      benchmark::DoNotOptimize(wire.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_AnswerBatch);

}  // namespace
}  // namespace muster

BENCHMARK_MAIN();
