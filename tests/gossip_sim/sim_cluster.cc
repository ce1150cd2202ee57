#include "tests/gossip_sim/sim_cluster.h"

#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "sim/testing/seed_loop.h"

namespace muster::gossip::testing {

int SeedCount(int default_count) {
  return static_cast<int>(sim::testing::SeedsFromEnv("GOSSIP", {1, static_cast<uint64_t>(default_count)}).count);
}

uint64_t FirstSeed(uint64_t first) { return sim::testing::SeedsFromEnv("GOSSIP", {first, 1}).first; }

SimCluster::SimCluster(uint64_t seed, const ClusterOptions& options)
    : sim_(seed), on_send_(options.on_send), on_violation_(options.on_violation) {
  sim_.network().SetDefaultLink(options.link);
  sim_.set_log_sink(options.log_sink);
  sim_.set_step_observer([this, on_step = options.on_step](NodeId id, const Input& in, const Effects& e) {
    CheckInvariants(id, e);
    if (on_step) on_step(id, in, e);
  });
  auto tweak = options.tweak;
  for (int i = 0; i < options.nodes; ++i) {
    std::vector<Address> seeds;
    if (options.join && i > 0 && options.join_spread == absl::ZeroDuration()) seeds.push_back("n1");
    ids_.push_back(sim_.AddNode(SerfMachine::Factory(
        [tweak](const MachineContext& ctx) {
          SerfConfig c = SerfConfig::Lan(ctx.address);
          if (tweak) tweak(c);
          return c;
        },
        seeds)));
  }
  last_join_ = sim_.now();
  if (options.join && options.join_spread > absl::ZeroDuration()) {
    for (size_t i = 1; i < ids_.size(); ++i) {
      Time at = sim_.now() + sim_.rng().UniformDuration(absl::ZeroDuration(), options.join_spread);
      last_join_ = std::max(last_join_, at);
      NodeId id = ids_[i];
      sim_.At(at, [this, id] { sim_.Request(id, "join", "n1", [](const Response&) {}); });
    }
  }
}

void SimCluster::Violation(const std::string& what) {
  if (on_violation_) return on_violation_(what);
  // A scenario's seed loop starts at GOSSIP_SEED, so one seed reruns alone.
  MUSTER_CHECK(false, "seed ", sim_.seed(), ": ", what, "\n  reproduce: GOSSIP_SEED=", sim_.seed(),
               " GOSSIP_SEEDS=1 bazel test //tests/gossip_sim:", program_invocation_short_name,
               " --test_filter=<the test that ran it>");
}

void SimCluster::CheckInvariants(NodeId id, const Effects& effects) {
  for (const OutboundMessage& m : effects.messages) {
    if (on_send_) on_send_(id, m);
    if (m.channel == Channel::kDatagram && m.payload.size() > kDatagramPayloadBytesMax) {
      Violation(absl::StrCat("oversized datagram from ", ToString(id), ": ", m.payload.size(), " bytes"));
    }
  }
  SerfMachine* n = node(id);
  if (n == nullptr) return;
  const Serf& s = n->serf();
  Watermarks& w = watermarks_[id.value];
  if (w.life != n->host_incarnation()) w = Watermarks{n->host_incarnation()};  // a restart: a new life
  const NodeState* self = s.memberlist().Node(s.config().memberlist.name);
  uint64_t inc = self == nullptr ? 0 : self->incarnation;
  const std::string at = ToString(id);
  if (inc < w.incarnation) Violation(absl::StrCat("incarnation went back at ", at, ": ", w.incarnation, " -> ", inc));
  if (s.member_ltime() < w.member_ltime) Violation(absl::StrCat("member clock went back at ", at));
  if (s.event_ltime() < w.event_ltime) Violation(absl::StrCat("event clock went back at ", at));
  if (s.query_ltime() < w.query_ltime) Violation(absl::StrCat("query clock went back at ", at));
  // Memberlist's own per-node invariants (the cached alive count every timeout scales with
  // is recounted only for small pools, where the O(N) recount per step stays cheap).
  if (absl::Status st = s.memberlist().CheckInvariants(); !st.ok()) Violation(absl::StrCat(st.message()));
  w.incarnation = inc;
  w.member_ltime = s.member_ltime();
  w.event_ltime = s.event_ltime();
  w.query_ltime = s.query_ltime();
}

SerfMachine* SimCluster::node(NodeId id) { return static_cast<SerfMachine*>(sim_.machine(id)); }

std::vector<NodeId> SimCluster::Live() const {
  std::vector<NodeId> live;
  for (NodeId id : ids_) {
    if (sim_.IsUp(id)) live.push_back(id);
  }
  return live;
}

std::set<std::string> SimCluster::LiveNames() const {
  std::set<std::string> names;
  for (NodeId id : Live()) names.insert(Name(id));
  return names;
}

bool SimCluster::AllSeeAlive(const std::set<std::string>& alive) {
  for (NodeId id : Live()) {
    const Serf& s = node(id)->serf();
    if (s.shut_down()) continue;
    // Both are ordered by name: walk them side by side.
    auto want = alive.begin();
    for (const auto& [name, m] : s.members()) {
      if (m.status != MemberStatus::kAlive) continue;
      if (want == alive.end() || *want != name) return false;
      ++want;
    }
    if (want != alive.end()) return false;
  }
  return true;
}

bool SimCluster::AllSeeStatus(const std::string& name, MemberStatus status) {
  for (NodeId id : Live()) {
    const Serf& s = node(id)->serf();
    if (s.shut_down()) continue;
    const Member* m = s.member(name);
    if (m == nullptr || m->status != status) return false;
  }
  return true;
}

std::optional<Duration> SimCluster::RunUntil(const std::function<bool()>& done, Duration budget, Duration step) {
  const Time start = sim_.now();
  while (sim_.now() - start < budget) {
    if (done()) return sim_.now() - start;
    sim_.RunFor(step);
  }
  if (done()) return sim_.now() - start;
  return std::nullopt;
}

}  // namespace muster::gossip::testing
