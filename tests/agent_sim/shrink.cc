#include "tests/agent_sim/shrink.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace muster::agent_sim {
namespace {

// The shortest safety phase tried, and the margin kept past the failure when the phase is
// first cut to it (the failing step may need a moment of what came before).
constexpr Duration kDurationMin = absl::Seconds(1);
constexpr Duration kPastFailure = absl::Seconds(1);
// A pause is not halved below this.
constexpr Duration kPauseMin = absl::Milliseconds(50);

std::string Text(Duration d) { return absl::FormatDuration(d); }

// The schedule with the faults at `keep` (indexes into the faults, in order) and every setup
// action.
Schedule WithFaults(const Schedule& s, const std::vector<size_t>& keep) {
  Schedule out = s;
  out.actions.clear();
  size_t fault = 0, k = 0;
  for (const Action& a : s.actions) {
    if (a.is_setup()) {
      out.actions.push_back(a);
      continue;
    }
    if (k < keep.size() && keep[k] == fault) {
      out.actions.push_back(a);
      k++;
    }
    fault++;
  }
  return out;
}

// The schedule cut to a safety phase of `d`: what comes later dropped.
Schedule WithDuration(const Schedule& s, Duration d) {
  Schedule out = s;
  out.duration = d;
  out.actions.clear();
  for (const Action& a : s.actions) {
    const Duration end = a.at + (a.is_expectation() ? a.length : absl::ZeroDuration());
    if (end <= d) out.actions.push_back(a);
  }
  return out;
}

// Removes `index` from `refs`, renumbering those after it; false if a ref was `index`.
bool DropRef(std::vector<NodeRef>* refs, int index) {
  bool had = false;
  std::vector<NodeRef> out;
  for (NodeRef r : *refs) {
    if (!r.leader && r.index == index) {
      had = true;
      continue;
    }
    if (!r.leader && r.index > index) r.index--;
    out.push_back(r);
  }
  *refs = std::move(out);
  return had;
}

void DropIndex(std::vector<int>* v, int index) {
  std::vector<int> out;
  for (int i : *v) {
    if (i != index) out.push_back(i > index ? i - 1 : i);
  }
  *v = std::move(out);
}

class Shrinker {
 public:
  Shrinker(const CandidateRun& run, int runs_max, ShrinkResult* r) : run_(run), runs_max_(runs_max), r_(*r) {}

  bool budget_left() const { return r_.runs < runs_max_; }
  // Runs `candidate`; if it fails on the property, it becomes the smallest.
  bool Try(const Schedule& candidate, const std::string& step) {
    if (!budget_left()) return false;
    r_.runs++;
    const std::string failure = run_(candidate);
    if (failure.empty()) return false;
    if (const std::string property = FailureProperty(failure); property != r_.property) {
      r_.other_failures++;
      r_.refused.push_back(absl::StrCat(step, ": ", property));
      return false;
    }
    r_.smallest = candidate;
    r_.steps.push_back(step);
    return true;
  }

  // Just past the failure, when it came in the safety phase.
  void CutAtFailure(Duration failed_at) {
    const Schedule s = r_.smallest;
    const Duration past = absl::Ceil(failed_at + kPastFailure, absl::Seconds(1));
    if (past >= s.duration) return;
    Try(WithDuration(s, past), absl::StrCat("duration ", Text(s.duration), " -> ", Text(past), " (the failure at ",
                                            Text(absl::Trunc(failed_at, absl::Milliseconds(1))), ")"));
  }

  // Halves while it still fails.
  bool Halve() {
    bool any = false;
    while (budget_left() && r_.smallest.duration / 2 >= kDurationMin) {
      const Schedule s = r_.smallest;
      const Duration half = absl::Trunc(s.duration / 2, absl::Milliseconds(1));
      if (!Try(WithDuration(s, half), absl::StrCat("duration ", Text(s.duration), " -> ", Text(half)))) break;
      any = true;
    }
    return any;
  }

  // Zeller's ddmin over the faults: remove one of n chunks at a time (n = 2, 4, ... up to one
  // fault per chunk); a removal that still fails is kept and n shrinks back.
  void Faults() {
    size_t n = 2;
    while (budget_left()) {
      const size_t count = FaultCount(r_.smallest);
      if (count == 0) return;
      n = std::min(n, count);
      bool removed = false;
      for (size_t chunk = 0; chunk < n && budget_left(); ++chunk) {
        const size_t from = count * chunk / n, to = count * (chunk + 1) / n;
        std::vector<size_t> keep;
        for (size_t i = 0; i < count; ++i) {
          if (i < from || i >= to) keep.push_back(i);
        }
        if (Try(WithFaults(r_.smallest, keep), absl::StrCat("faults ", count, " -> ", keep.size()))) {
          removed = true;
          n = std::max<size_t>(n - 1, 2);
          break;
        }
      }
      if (removed) continue;
      if (n >= count) return;
      n = std::min(n * 2, count);
    }
  }

  // Each fault made milder, one at a time: a torn or wiped kill plain, a pause half as long.
  bool Simplify() {
    bool any = false;
    for (size_t i = 0; i < r_.smallest.actions.size() && budget_left(); ++i) {
      Schedule candidate = r_.smallest;
      Action& a = candidate.actions[i];
      std::string step;
      if (a.kind == ActionKind::kKill && a.kill != KillMode::kPlain) {
        step = absl::StrCat("kill ", KillModeName(a.kill), " -> plain (t=", Text(a.at), ")");
        a.kill = KillMode::kPlain;
      } else if (a.kind == ActionKind::kPause && a.length >= 2 * kPauseMin) {
        const Duration half = absl::Trunc(a.length / 2, absl::Milliseconds(1));
        step = absl::StrCat("pause ", Text(a.length), " -> ", Text(half), " (t=", Text(a.at), ")");
        a.length = half;
      } else {
        continue;
      }
      any |= Try(candidate, step);
    }
    return any;
  }

  bool Agents() {
    bool any = false;
    // Clients first (the last one each time), then servers from the last.
    while (budget_left() && r_.smallest.clients > 0) {
      const int last = r_.smallest.agents();
      if (!Try(WithoutAgent(r_.smallest, last), absl::StrCat("clients ", r_.smallest.clients, " -> ", r_.smallest.clients - 1)))
        break;
      any = true;
    }
    for (int i = r_.smallest.servers; i >= 1 && budget_left() && r_.smallest.servers > 1; --i) {
      if (i > r_.smallest.servers) continue;
      if (Try(WithoutAgent(r_.smallest, i),
              absl::StrCat("servers ", r_.smallest.servers, " -> ", r_.smallest.servers - 1, " (s", i, " gone)"))) {
        any = true;
      }
    }
    return any;
  }

 private:
  const CandidateRun& run_;
  int runs_max_;
  ShrinkResult& r_;
};

}  // namespace

std::string FailureProperty(std::string_view failure) {
  // The checker's message: past "at t=T: " (a report's first line carries it), to the line's end.
  absl::string_view what(failure.data(), failure.size());
  if (absl::StartsWith(what, "FAIL seed=")) {
    const size_t space = what.find(' ', 5);  // past the seed
    what.remove_prefix(space == absl::string_view::npos ? what.size() : space + 1);
  }
  if (absl::StartsWith(what, "at t=")) {
    const size_t colon = what.find(": ");
    what.remove_prefix(colon == absl::string_view::npos ? what.size() : colon + 2);
  }
  what = what.substr(0, what.find('\n'));
  // An expectation is its own property: its line.
  constexpr absl::string_view kExpectation = "expectation failed (line ";
  if (absl::StartsWith(what, kExpectation)) {
    const size_t from = kExpectation.size();
    return absl::StrCat("expectation (line ", what.substr(from, what.find(')') - from), ")");
  }
  // Each checker's messages (tests/agent_sim: agent_checker.cc, agent_run.cc, the workloads,
  // schedule_runner.cc; sim/testing's step budget and phases), by a part only its own carry.
  struct Kind {
    absl::string_view part;
    bool prefix;  // at the message's start (else anywhere in it)
    std::string_view property;
  };
  static constexpr Kind kKinds[] = {
      {"liveness:", true, "liveness"},
      {"linearizability:", true, "linearizability"},
      {"log matching:", true, "log matching"},
      {"state hash", true, "state hashes agree"},
      {"stale reads beyond", true, "stale reads"},
      {"gossip membership:", true, "gossip membership"},
      {"catalog:", true, "catalog"},
      {"user events (event_checker", true, "exactly-once user events"},
      {"lock safety (lock_checker", true, "lock safety"},
      {"lock workload:", true, "lock safety"},
      {"expectation(s) still open", false, "expectations"},
      {"two leaders in term ", true, "election safety"},
      {" was applied elsewhere with term ", false, "one applied history"},
      {" beyond anything applied", false, "one applied history"},
      {"'s store went back from index ", false, "store index never goes back"},
      {" delivered twice", false, "exactly-once answers"},
      {" answered request ", false, "exactly-once answers"},
      {" unanswered since t=", false, "exactly-once answers"},
      {"acknowledged put of ", true, "acknowledged writes"},
      {" acknowledged twice ", false, "acknowledged writes"},
      {": X-Consul-Index went backwards", false, "blocking-query indexes"},
      {", a value never written there", false, "reads see acknowledged puts"},
      {" found nothing, but its put was acknowledged", false, "reads see acknowledged puts"},
      {" steps: a message storm?", false, "step budget"},
  };
  for (const Kind& k : kKinds) {
    if (k.prefix ? absl::StartsWith(what, k.part) : absl::StrContains(what, k.part)) return std::string(k.property);
  }
  // "n3: <message>": raft's CheckInvariants or CheckTransition (any of raft's rules).
  if (what.size() > 1 && what[0] == 'n' && std::isdigit(static_cast<unsigned char>(what[1]))) {
    const size_t digits_end = what.find_first_not_of("0123456789", 1);
    if (digits_end != absl::string_view::npos && what.substr(digits_end, 2) == ": ") return "raft invariants";
  }
  std::string blanked;
  for (size_t i = 0; i < what.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(what[i]))) {
      blanked.push_back(what[i]);
    } else if (i == 0 || !std::isdigit(static_cast<unsigned char>(what[i - 1]))) {
      blanked.push_back('#');
    }
  }
  return blanked;
}

size_t FaultCount(const Schedule& s) {
  size_t n = 0;
  for (const Action& a : s.actions) n += a.is_setup() ? 0 : 1;
  return n;
}

Schedule WithoutAgent(const Schedule& s, int index) {
  Schedule out = s;
  const bool server = s.is_server(index);
  if (server) {
    out.servers--;
  } else {
    out.clients--;
  }
  out.actions.clear();
  for (Action a : s.actions) {
    if (!a.node.leader && a.node.index == index) continue;
    if (!a.node.leader && a.node.index > index) a.node.index--;
    const bool grouped = !a.group_a.empty() || !a.group_b.empty();
    DropRef(&a.group_a, index);
    DropRef(&a.group_b, index);
    if (grouped && (a.group_a.empty() || (a.group_b.empty() && !a.group_b_rest))) continue;
    DropIndex(&a.join, index);
    DropIndex(&a.via, index);
    if (a.kind == ActionKind::kStart && out.is_server(a.node.index)) {
      a.expect = std::min(a.expect == 0 ? s.servers : a.expect, out.servers);
    }
    out.actions.push_back(std::move(a));
  }
  return out;
}

ShrinkResult Shrink(const Schedule& failing, std::string_view failure, Duration failed_at, const CandidateRun& run,
                    int runs_max) {
  ShrinkResult r;
  r.smallest = failing;
  r.property = FailureProperty(failure);
  Shrinker s(run, runs_max, &r);
  s.CutAtFailure(failed_at);
  s.Halve();
  while (s.budget_left()) {
    const size_t faults_before = FaultCount(r.smallest);
    s.Faults();
    bool changed = FaultCount(r.smallest) != faults_before;
    changed |= s.Agents();
    changed |= s.Halve();
    if (!changed) changed = s.Simplify();
    if (!changed) break;
  }
  return r;
}

}  // namespace muster::agent_sim
