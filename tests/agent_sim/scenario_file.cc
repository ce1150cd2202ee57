#include "tests/agent_sim/scenario_file.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace muster::agent_sim {
namespace {

// A cluster bigger than this is not a simulation anyone means to write by hand (the `sim`
// binary's own limit).
constexpr int kAgentsMax = 200;
constexpr int kRateMax = 1000;
// Without a `duration` line: the safety phase lasts until the last action's end plus this.
constexpr Duration kDurationMargin = absl::Seconds(5);

constexpr char kVerbs[] =
    "start, partition, one-way, bridge, isolate, heal, kill, restart, pause, skew, step, loss, dup, delay, "
    "workload, put, expect";

std::string Exact(Duration d) { return absl::FormatDuration(d); }

// The shortest form of `p` that reads back as the same double.
std::string Probability(double p) {
  for (int precision = 6; precision < 17; ++precision) {
    const std::string text = absl::StrFormat("%.*g", precision, p);
    double back = 0;
    if (absl::SimpleAtod(text, &back) && back == p) return text;
  }
  return absl::StrFormat("%.17g", p);
}

std::string NodeText(const NodeRef& n) {
  return n.leader ? "leader" : n.killed ? "killed" : absl::StrCat("s", n.index);
}

std::string GroupText(const std::vector<NodeRef>& g) {
  std::vector<std::string> parts;
  for (const NodeRef& n : g) parts.push_back(NodeText(n));
  return absl::StrJoin(parts, ",");
}

std::string IndexList(const std::vector<int>& v) {
  std::vector<std::string> parts;
  for (int i : v) parts.push_back(absl::StrCat("s", i));
  return absl::StrJoin(parts, ",");
}

// One line's parse: its words, and where the error goes.
class LineParser {
 public:
  LineParser(std::vector<std::string> words, const Schedule& s, const std::map<std::string, std::vector<NodeRef>>& groups)
      : words_(std::move(words)), s_(s), groups_(groups) {}

  bool done() const { return pos_ >= words_.size(); }
  const std::string& peek() const { return words_[pos_]; }
  bool Accept(const std::string& word) {
    if (done() || words_[pos_] != word) return false;
    pos_++;
    return true;
  }
  bool Word(std::string* out, const std::string& what) {
    if (done()) return Fail(absl::StrCat("expected ", what, " at the end of the line"));
    *out = words_[pos_++];
    return true;
  }
  bool Expect(const std::string& word) {
    if (Accept(word)) return true;
    return Fail(absl::StrCat("expected '", word, "'", done() ? " at the end of the line" : absl::StrCat(", not '", peek(), "'")));
  }
  bool End() {
    if (done()) return true;
    return Fail(absl::StrCat("unexpected '", peek(), "' at the end"));
  }
  bool Fail(std::string what) {
    if (error_.empty()) error_ = std::move(what);
    return false;
  }
  const std::string& error() const { return error_; }

  bool DurationWord(Duration* out, const std::string& what, bool signed_ok = false) {
    std::string text;
    if (!Word(&text, what)) return false;
    absl::Duration d;
    if (!absl::ParseDuration(text, &d) || (!signed_ok && d < absl::ZeroDuration())) {
      return Fail(absl::StrCat(what, ": '", text, "' is not a", signed_ok ? "" : " non-negative",
                               " duration (3s, 1.5s, 500ms, 1m30s)"));
    }
    *out = d;
    return true;
  }
  bool IntWord(int* out, const std::string& what, int lo, int hi) {
    std::string text;
    if (!Word(&text, what)) return false;
    if (!absl::SimpleAtoi(text, out) || *out < lo || *out > hi) {
      return Fail(absl::StrCat(what, ": '", text, "' is not a whole number in [", lo, ", ", hi, "]"));
    }
    return true;
  }
  bool ProbabilityWord(double* out, const std::string& what) {
    std::string text;
    if (!Word(&text, what)) return false;
    if (!absl::SimpleAtod(text, out) || !(*out >= 0 && *out <= 1)) {
      return Fail(absl::StrCat(what, ": '", text, "' is not a probability in [0, 1]"));
    }
    return true;
  }
  // "s3" (an agent of the cluster) or, if allowed, "leader" or "killed" (resolved as the action
  // runs; `killed_ok` defaults to `leader_ok`: a restart takes "killed" but not "leader").
  bool Node(const std::string& text, NodeRef* out, bool leader_ok, std::optional<bool> killed_ok = std::nullopt) {
    if (text == "leader" || text == "killed") {
      if (!(text == "leader" ? leader_ok : killed_ok.value_or(leader_ok))) {
        return Fail(absl::StrCat("'", text, "' is not allowed here (a fixed agent, s1..sN)"));
      }
      *out = text == "leader" ? NodeRef{0, true} : NodeRef{0, false, true};
      return true;
    }
    int index = 0;
    if (text.size() < 2 || text[0] != 's' || !absl::SimpleAtoi(text.substr(1), &index) || index < 1 ||
        index > s_.agents()) {
      return Fail(absl::StrCat("'", text, "' is no agent: s1..s", s_.agents(), " (servers s1..s", s_.servers,
                               s_.clients > 0 ? absl::StrCat(", clients s", s_.servers + 1, "..s", s_.agents()) : "",
                               ")", leader_ok ? ", leader or killed" : ""));
    }
    *out = NodeRef{index, false};
    return true;
  }
  bool NodeWord(NodeRef* out, const std::string& what, bool leader_ok = true, std::optional<bool> killed_ok = std::nullopt) {
    std::string text;
    if (!Word(&text, what)) return false;
    return Node(text, out, leader_ok, killed_ok);
  }
  // Words up to one of `stops` (or the end): agents separated by commas or spaces, braces
  // ignored, or one group's name.
  bool Group(std::vector<NodeRef>* out, const std::vector<std::string>& stops, bool leader_ok = true) {
    std::vector<std::string> items;
    // The words that end any list (no agent or group is named so).
    static const std::vector<std::string> kListEnds = {"|", "->", "via", "rate", "at", "expect", "join", "clock", "for"};
    auto ends = [&](const std::string& w) {
      return std::find(stops.begin(), stops.end(), w) != stops.end() ||
             std::find(kListEnds.begin(), kListEnds.end(), w) != kListEnds.end() || w.rfind("read", 0) == 0;
    };
    while (!done() && !ends(peek())) {
      for (absl::string_view part : absl::StrSplit(absl::string_view(words_[pos_]), absl::ByAnyChar(",{}"), absl::SkipEmpty())) {
        items.emplace_back(part);
      }
      pos_++;
    }
    if (items.empty()) return Fail("expected agents (s1,s2) or a group's name");
    std::set<std::pair<int, int>> seen;  // (index, 0 / leader 1 / killed 2)
    for (const std::string& item : items) {
      std::vector<NodeRef> refs;
      auto named = groups_.find(item);
      if (named != groups_.end()) {
        refs = named->second;
      } else {
        NodeRef n;
        if (!Node(item, &n, leader_ok)) return false;
        refs.push_back(n);
      }
      for (const NodeRef& n : refs) {
        if (seen.insert({n.index, n.leader ? 1 : n.killed ? 2 : 0}).second) out->push_back(n);
      }
    }
    return true;
  }
  bool IndexGroup(std::vector<int>* out, const std::vector<std::string>& stops) {
    std::vector<NodeRef> refs;
    if (!Group(&refs, stops, /*leader_ok=*/false)) return false;
    for (const NodeRef& n : refs) out->push_back(n.index);
    return true;
  }

 private:
  std::vector<std::string> words_;
  size_t pos_ = 0;
  const Schedule& s_;
  const std::map<std::string, std::vector<NodeRef>>& groups_;
  std::string error_;
};

bool Overlap(const std::vector<NodeRef>& a, const std::vector<NodeRef>& b) {
  for (const NodeRef& x : a) {
    if (std::find(b.begin(), b.end(), x) != b.end()) return true;
  }
  return false;
}

// The verb and its arguments (the time clause already taken).
bool ParseVerb(LineParser& p, const std::string& verb, const Schedule& s, Action* a) {
  if (verb == "start") {
    a->kind = ActionKind::kStart;
    if (!p.NodeWord(&a->node, "an agent", /*leader_ok=*/false)) return false;
    while (!p.done()) {
      if (p.Accept("at")) {
        if (!p.DurationWord(&a->at, "start's time")) return false;
      } else if (p.Accept("expect")) {
        if (!s.is_server(a->node.index)) return p.Fail(absl::StrCat("s", a->node.index, " is a client: no expect"));
        if (!p.IntWord(&a->expect, "bootstrap-expect", 1, kAgentsMax)) return false;
      } else if (p.Accept("join")) {
        if (!p.IndexGroup(&a->join, {"at", "expect", "clock"})) return false;
      } else if (p.Accept("clock")) {
        if (!p.DurationWord(&a->clock, "clock offset", /*signed_ok=*/true)) return false;
        a->clock_given = true;
      } else {
        return p.Fail(absl::StrCat("start: unexpected '", p.peek(), "' (at T, expect N, join s1,s2, clock +D)"));
      }
    }
    return true;
  }
  if (verb == "partition" || verb == "one-way" || verb == "bridge") {
    a->kind = verb == "partition" ? ActionKind::kPartition : verb == "one-way" ? ActionKind::kOneWay : ActionKind::kBridge;
    const std::string between = verb == "one-way" ? "->" : "|";
    if (!p.Group(&a->group_a, {between})) return false;
    if (!p.Expect(between)) return false;
    if (p.Accept("rest")) {
      a->group_b_rest = true;
    } else if (!p.Group(&a->group_b, {"via"})) {
      return false;
    }
    if (Overlap(a->group_a, a->group_b)) return p.Fail("an agent on both sides");
    if (a->kind == ActionKind::kBridge) {
      if (!p.Expect("via") || !p.NodeWord(&a->node, "the bridge")) return false;
      if (Overlap({a->node}, a->group_a) || Overlap({a->node}, a->group_b)) return p.Fail("the bridge is on a side");
    }
    return p.End();
  }
  if (verb == "isolate" || verb == "restart") {
    a->kind = verb == "isolate" ? ActionKind::kIsolate : ActionKind::kRestart;
    return p.NodeWord(&a->node, "an agent", /*leader_ok=*/verb == "isolate", /*killed_ok=*/true) && p.End();
  }
  if (verb == "heal") {
    a->kind = ActionKind::kHeal;
    return p.End();
  }
  if (verb == "kill") {
    a->kind = ActionKind::kKill;
    if (!p.NodeWord(&a->node, "an agent")) return false;
    a->kill = KillMode::kPlain;
    if (p.Accept("torn")) {
      a->kill = KillMode::kTorn;
    } else if (p.Accept("wipe")) {
      a->kill = KillMode::kWipe;
    } else if (!p.Accept("plain") && !p.done()) {
      return p.Fail(absl::StrCat("kill: '", p.peek(), "': plain, torn or wipe"));
    }
    return p.End();
  }
  if (verb == "pause") {
    a->kind = ActionKind::kPause;
    return p.NodeWord(&a->node, "an agent") && p.Expect("for") && p.DurationWord(&a->length, "how long") && p.End();
  }
  if (verb == "skew" || verb == "step") {
    a->kind = ActionKind::kClockStep;
    if (!p.NodeWord(&a->node, "an agent") || !p.DurationWord(&a->length, "the step", /*signed_ok=*/true)) return false;
    if (verb == "step" && a->length <= absl::ZeroDuration()) return p.Fail("step: a clock steps forward (+D)");
    return p.End();
  }
  if (verb == "loss" || verb == "dup") {
    a->kind = verb == "loss" ? ActionKind::kLoss : ActionKind::kDup;
    return p.ProbabilityWord(&a->probability, verb) && p.End();
  }
  if (verb == "delay") {
    a->kind = ActionKind::kDelay;
    std::string text, error;
    if (!p.Word(&text, "a delay (exp:1ms+5ms, fixed:5ms, uniform:1ms-20ms, default)")) return false;
    if (text != "default" && !ParseDelay(text, &a->delay, &error)) return p.Fail(error.substr(2));
    return p.End();
  }
  if (verb == "workload") {
    a->kind = ActionKind::kWorkload;
    std::string kind;
    if (!p.Word(&kind, absl::StrCat("a workload (", WorkloadNames(), ", off)"))) return false;
    if (kind == "off") return p.End();
    if (!ParseWorkloadName(kind, &a->workload)) return p.Fail(absl::StrCat("workload: '", kind, "' is none of ", WorkloadNames(), ", off"));
    a->rate = 20;
    while (!p.done()) {
      std::string word;
      if (p.Accept("rate")) {
        if (!p.IntWord(&a->rate, "rate", 1, kRateMax)) return false;
      } else if (p.Accept("via")) {
        if (!p.IndexGroup(&a->via, {"rate", "read"})) return false;
      } else if (p.peek().rfind("read=", 0) == 0 || p.peek() == "read") {
        p.Word(&word, "read");
        std::string mode = word == "read" ? "" : word.substr(5);
        if (mode.empty() && (!p.Expect("=") || !p.Word(&mode, "a read mode"))) return false;
        if (mode != "any" && mode != "default" && mode != "consistent" && mode != "stale") {
          return p.Fail(absl::StrCat("read=", mode, ": any, default, consistent or stale"));
        }
        a->read_mode = mode;
      } else {
        return p.Fail(absl::StrCat("workload: unexpected '", p.peek(), "' (rate N, via s1,s2, read=MODE)"));
      }
    }
    return true;
  }
  if (verb == "put") {
    a->kind = ActionKind::kPut;
    if (!p.Word(&a->key, "a key") || !p.Word(&a->value, "a value")) return false;
    if (a->key.rfind("k/", 0) == 0 || a->key.rfind("c/", 0) == 0 || a->key.rfind("settle/", 0) == 0) {
      return p.Fail(absl::StrCat("put: keys under k/, c/ and settle/ are the workload's"));
    }
    if (p.Accept("via") && !p.NodeWord(&a->node, "an agent")) return false;
    return p.End();
  }
  if (verb == "expect") {
    std::string what;
    if (!p.Word(&what, "what is expected (leader, new-leader, no-leader, converged, value)")) return false;
    // Without its window, an expectation must hold at that moment.
    auto window = [&](const std::string& word) {
      if (p.done()) return true;
      return p.Expect(word) && p.DurationWord(&a->length, word) && p.End();
    };
    if (what == "leader" || what == "new-leader" || what == "converged") {
      a->kind = what == "leader" ? ActionKind::kExpectLeader
                : what == "new-leader" ? ActionKind::kExpectNewLeader
                                       : ActionKind::kExpectConverged;
      return window("within");
    }
    if (what == "no-leader") {
      a->kind = ActionKind::kExpectNoLeader;
      return window("for");
    }
    if (what == "value") {
      a->kind = ActionKind::kExpectValue;
      return p.Word(&a->key, "a key") && p.Word(&a->value, "a value") && window("within");
    }
    return p.Fail(absl::StrCat("expect '", what, "': leader, new-leader, no-leader, converged or value"));
  }
  return p.Fail(absl::StrCat("unknown verb '", verb, "' (one of: ", kVerbs, ")"));
}

}  // namespace

bool ParseScenario(const std::string& text, const std::string& name, Schedule* out, std::string* error) {
  Schedule s;
  s.actions.clear();
  std::map<std::string, std::vector<NodeRef>> groups;
  bool duration_given = false, actions_seen = false;
  std::set<int> started;
  std::map<int, int> start_line;
  Duration previous;
  int line_number = 0;
  auto fail = [&](const std::string& what) {
    *error = absl::StrCat(name, ":", line_number, ": ", what);
    return false;
  };
  for (absl::string_view raw : absl::StrSplit(absl::string_view(text), '\n')) {
    line_number++;
    std::string line(raw);
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::vector<std::string> words = absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    LineParser p(words, s, groups);
    std::string first;
    p.Word(&first, "a verb");
    // Settings: before the first action (the actions' agent names depend on them).
    if (first == "seed" || first == "servers" || first == "clients" || first == "duration" || first == "settle") {
      if (actions_seen && (first == "servers" || first == "clients")) {
        return fail(absl::StrCat("'", first, "' after the first action (the actions name agents: say how many first)"));
      }
      bool ok = true;
      if (first == "seed") {
        std::string t;
        ok = p.Word(&t, "a seed") && (absl::SimpleAtoi(t, &s.seed) || p.Fail(absl::StrCat("seed: '", t, "' is not a number")));
      } else if (first == "servers") {
        ok = p.IntWord(&s.servers, "servers", 1, kAgentsMax);
      } else if (first == "clients") {
        ok = p.IntWord(&s.clients, "clients", 0, kAgentsMax);
      } else if (first == "duration") {
        ok = p.DurationWord(&s.duration, "duration") && (s.duration > absl::ZeroDuration() || p.Fail("duration: more than 0"));
        duration_given = true;
      } else {
        ok = p.DurationWord(&s.settle_budget, "settle") && (s.settle_budget > absl::ZeroDuration() || p.Fail("settle: more than 0"));
      }
      if (!ok || !p.End()) return fail(p.error());
      if (s.agents() > kAgentsMax) return fail(absl::StrCat("more than ", kAgentsMax, " agents"));
      continue;
    }
    if (first == "group") {
      std::string group_name;
      if (!p.Word(&group_name, "the group's name") || !p.Expect("=")) return fail(p.error());
      if (group_name == "rest" || group_name == "leader" || group_name == "killed" || group_name == "via" || group_name == "for" || (group_name.size() > 1 && group_name[0] == 's' &&
                                                            std::all_of(group_name.begin() + 1, group_name.end(), ::isdigit))) {
        return fail(absl::StrCat("group: '", group_name, "' is reserved (rest, leader, killed, s1...)"));
      }
      std::vector<NodeRef> members;
      if (!p.Group(&members, {}, /*leader_ok=*/false)) return fail(p.error());
      groups[group_name] = members;
      continue;
    }
    Action a;
    a.line = line_number;
    a.at = previous;
    std::string verb = first;
    if (first == "at" || first == "after") {
      Duration t;
      if (!p.DurationWord(&t, first == "at" ? "a time" : "a duration")) return fail(p.error());
      a.at = first == "at" ? t : previous + t;
      if (!p.Word(&verb, "a verb")) return fail(p.error());
    }
    if (!ParseVerb(p, verb, s, &a)) return fail(p.error());
    if (a.kind == ActionKind::kStart) {
      if (!started.insert(a.node.index).second) {
        return fail(absl::StrCat("s", a.node.index, " is already started (line ", start_line[a.node.index],
                                 "): restart it instead"));
      }
      start_line[a.node.index] = line_number;
      if (std::find(a.join.begin(), a.join.end(), a.node.index) != a.join.end()) {
        return fail(absl::StrCat("s", a.node.index, " joins itself"));
      }
    }
    previous = a.at;
    actions_seen = true;
    s.actions.push_back(std::move(a));
  }
  line_number = 0;
  // Agents without a start line start at once: servers expecting every server, s2.. joining
  // s1 and s1 joining s2; clients joining s1.
  std::vector<Action> defaults;
  for (int i = 1; i <= s.agents(); ++i) {
    if (started.contains(i)) continue;
    Action a;
    a.kind = ActionKind::kStart;
    a.node = NodeRef{i, false};
    if (i != 1) a.join = {1};
    if (i == 1 && s.agents() > 1) a.join = {2};
    defaults.push_back(std::move(a));
  }
  s.actions.insert(s.actions.begin(), defaults.begin(), defaults.end());
  Duration end;
  for (const Action& a : s.actions) {
    const Duration window = a.is_expectation() || a.kind == ActionKind::kPause ? a.length : absl::ZeroDuration();
    end = std::max(end, a.at + window);
  }
  if (!duration_given) {
    s.duration = end + kDurationMargin;
  } else {
    for (const Action& a : s.actions) {
      if (a.at > s.duration) {
        *error = absl::StrCat(name, ":", a.line, ": at ", Exact(a.at), ", after the safety phase (duration ",
                              Exact(s.duration), "): it would never run");
        return false;
      }
      if (a.is_expectation() && a.at + a.length > s.duration) {
        *error = absl::StrCat(name, ":", a.line, ": the expectation's window ends at ", Exact(a.at + a.length),
                              ", after the safety phase (duration ", Exact(s.duration), ")");
        return false;
      }
    }
  }
  *out = std::move(s);
  return true;
}

std::string FormatAction(const Action& a) {
  switch (a.kind) {
    case ActionKind::kStart: {
      std::string out = absl::StrCat("start ", NodeText(a.node));
      if (a.expect > 0) absl::StrAppend(&out, " expect ", a.expect);
      if (!a.join.empty()) absl::StrAppend(&out, " join ", IndexList(a.join));
      if (a.clock_given) absl::StrAppend(&out, " clock ", a.clock >= absl::ZeroDuration() ? "+" : "", Exact(a.clock));
      return out;
    }
    case ActionKind::kPartition:
    case ActionKind::kOneWay:
    case ActionKind::kBridge: {
      const char* verb = a.kind == ActionKind::kPartition ? "partition " : a.kind == ActionKind::kOneWay ? "one-way " : "bridge ";
      const char* between = a.kind == ActionKind::kOneWay ? " -> " : " | ";
      return absl::StrCat(verb, GroupText(a.group_a), between, a.group_b_rest ? "rest" : GroupText(a.group_b),
                          a.kind == ActionKind::kBridge ? absl::StrCat(" via ", NodeText(a.node)) : "");
    }
    case ActionKind::kIsolate: return absl::StrCat("isolate ", NodeText(a.node));
    case ActionKind::kHeal: return "heal";
    case ActionKind::kKill: return absl::StrCat("kill ", NodeText(a.node), " ", KillModeName(a.kill));
    case ActionKind::kRestart: return absl::StrCat("restart ", NodeText(a.node));
    case ActionKind::kPause: return absl::StrCat("pause ", NodeText(a.node), " for ", Exact(a.length));
    case ActionKind::kClockStep:
      return absl::StrCat("skew ", NodeText(a.node), " ", a.length >= absl::ZeroDuration() ? "+" : "", Exact(a.length));
    case ActionKind::kLoss: return absl::StrCat("loss ", Probability(a.probability));
    case ActionKind::kDup: return absl::StrCat("dup ", Probability(a.probability));
    case ActionKind::kDelay: return absl::StrCat("delay ", a.delay.text.empty() ? "default" : a.delay.text);
    case ActionKind::kWorkload:
      if (a.rate == 0) return "workload off";
      return absl::StrCat("workload ", WorkloadName(a.workload), " rate ", a.rate,
                          a.via.empty() ? "" : absl::StrCat(" via ", IndexList(a.via)), " read=", a.read_mode);
    case ActionKind::kPut:
      return absl::StrCat("put ", a.key, " ", a.value, !(a.node.fixed() && a.node.index == 0) ? " via " + NodeText(a.node) : "");
    case ActionKind::kExpectLeader: return absl::StrCat("expect leader within ", Exact(a.length));
    case ActionKind::kExpectNewLeader: return absl::StrCat("expect new-leader within ", Exact(a.length));
    case ActionKind::kExpectNoLeader: return absl::StrCat("expect no-leader for ", Exact(a.length));
    case ActionKind::kExpectConverged: return absl::StrCat("expect converged within ", Exact(a.length));
    case ActionKind::kExpectValue:
      return absl::StrCat("expect value ", a.key, " ", a.value, " within ", Exact(a.length));
  }
  return "?";
}

std::string FormatScenario(const Schedule& s, const std::string& comment) {
  std::string out;
  if (!comment.empty()) {
    for (absl::string_view line : absl::StrSplit(absl::string_view(comment), '\n')) {
      absl::StrAppend(&out, "# ", line, "\n");
    }
  }
  absl::StrAppend(&out, "seed ", s.seed, "\nservers ", s.servers, "\nclients ", s.clients, "\nduration ",
                  Exact(s.duration), "\nsettle ", Exact(s.settle_budget), "\n");
  for (const Action& a : SortedActions(s)) absl::StrAppend(&out, "at ", Exact(a.at), " ", FormatAction(a), "\n");
  return out;
}

}  // namespace muster::agent_sim
