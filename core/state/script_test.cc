// Data-driven stories of the state store on the shared driver (core/testing/script.h): every
// mutation is a proto Command (fsm.h's builders), serialized and applied through
// Fsm::Apply at the next log index, exactly as a replica applies a committed entry, and each
// prints the index it applied at, its result and the parked watches it woke. Queries print
// the index a blocking client waits on. testdata/help.txt lists every command with an
// example. After an intended change: SCRIPT_REWRITE=1 bazel run //core/state:script_test
//
// Time is the proposer's clock stamped into each command; it starts at SimEpoch() and moves
// only with `advance`. Times print relative to the start ("+15s").
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "core/base/strings.h"
#include "core/state/fsm.h"
#include "core/state/store.h"
#include "core/state/watch.h"
#include "core/testing/script.h"
#include "gtest/gtest.h"

namespace muster::state {
namespace {

using script::Invocation;
using proto::state::KVRequest;
using proto::state::SessionRequest;

std::string Since(Time t) {
  if (t == absl::InfinitePast()) return "never";
  return absl::StrCat("+", absl::FormatDuration(t - SimEpoch()));
}

std::string Quote(const std::string& s) { return absl::StrCat("\"", absl::CHexEscape(s), "\""); }

std::string Describe(const KVEntry& e) {
  std::string out = absl::StrCat(e.key, "=", Quote(e.value));
  if (e.flags != 0) absl::StrAppend(&out, " flags=", e.flags);
  absl::StrAppend(&out, " lock_index=", e.lock_index);
  if (!e.session.empty()) absl::StrAppend(&out, " session=", e.session);
  absl::StrAppend(&out, " create=", e.create_index, " modify=", e.modify_index);
  return out;
}

std::string Describe(const Session& s) {
  std::string out = absl::StrCat(s.id, " node=", s.node, " behavior=", Absl(SessionBehaviorName(s.behavior)),
                                 " lock_delay=", absl::FormatDuration(s.lock_delay));
  if (!s.node_checks.empty()) absl::StrAppend(&out, " checks=[", absl::StrJoin(s.node_checks, " "), "]");
  if (!s.service_checks.empty()) absl::StrAppend(&out, " service_checks=[", absl::StrJoin(s.service_checks, " "), "]");
  if (s.ttl > absl::ZeroDuration()) {
    absl::StrAppend(&out, " ttl=", absl::FormatDuration(s.ttl), " expires=", Since(s.expires_at));
  }
  absl::StrAppend(&out, " create=", s.create_index);
  return out;
}

std::string Describe(const Check& c) {
  return absl::StrCat(c.node, "/", c.check_id, " ", Absl(HealthStatusName(c.status)),
                      c.service_id.empty() ? "" : absl::StrCat(" service=", c.service_id), " modify=", c.modify_index);
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) out.emplace_back(part);
  return out;
}

class Interpreter {
 public:
  Interpreter() {
    RegisterClockAndWatches();
    RegisterCatalog();
    RegisterKV();
    RegisterSessions();
    RegisterTxn();
    RegisterAutopilot();
  }
  const script::CommandSet& commands() const { return commands_; }

 private:
  void Add(std::string usage, std::string doc, std::string example, script::Handler run,
           bool takes_input = false) {
    std::string name = usage.substr(0, usage.find(' '));
    commands_.Add({.name = std::move(name),
                   .usage = std::move(usage),
                   .doc = std::move(doc),
                   .example = std::move(example),
                   .takes_input = takes_input,
                   .run = std::move(run)});
  }

  // Applies `c` at the next index as a replica would (the bytes of a committed entry) and
  // prints "apply INDEX: true|false|ERROR", `detail` of a successful result, and the wakes.
  std::string Apply(Invocation& in, const proto::state::Command& c,
                    const std::function<std::string(const ApplyResult&)>& detail = nullptr) {
    if (!in.errors().empty()) return "";
    const uint64_t index = fsm_.store().last_index() + 1;
    const ApplyResult r = fsm_.Apply(index, c.SerializeAsString());
    std::string out = absl::StrCat("apply ", index, ": ", r.status.ok() ? (r.ok ? "true" : "false") : r.status.ToString());
    if (detail != nullptr && r.status.ok()) {
      if (std::string d = detail(r); !d.empty()) absl::StrAppend(&out, "\n", d);
    }
    if (!r.woken.empty()) absl::StrAppend(&out, "\nwoke [", absl::StrJoin(r.woken, " "), "]");
    return out;
  }

  Duration DurationOption(Invocation& in, const std::string& key, Duration fallback) {
    if (!in.has_option(key)) return fallback;
    Duration d;
    if (!absl::ParseDuration(in.Option(key, ""), &d)) in.Fail(absl::StrCat(key, " is not a duration"));
    return d;
  }

  static std::optional<WatchTopic> ParseTopic(const std::string& s) {
    const size_t colon = s.find(':');
    if (colon == std::string::npos) return std::nullopt;
    const std::string kind = s.substr(0, colon);
    std::string name = s.substr(colon + 1);
    if (kind == "kv") return WatchTopic::KVKey(std::move(name));
    if (kind == "prefix") return WatchTopic::KVPrefix(std::move(name));
    if (kind == "table") return WatchTopic::Table(std::move(name));
    if (kind == "service") return WatchTopic::ServiceName(std::move(name));
    if (kind == "node") return WatchTopic::NodeName(std::move(name));
    if (kind == "session") return WatchTopic::SessionId(std::move(name));
    return std::nullopt;
  }

  void RegisterClockAndWatches() {
    Add("advance DURATION", "moves the proposer's clock (stamped into later commands) by DURATION; prints it",
        "advance 15s", [this](Invocation& in) {
          Duration d;
          if (!absl::ParseDuration(in.Arg(0), &d) || d < absl::ZeroDuration()) {
            in.Fail("want a duration such as 15s or 500ms, not negative");
            return std::string();
          }
          now_ += d;
          return absl::StrCat("now ", Since(now_));
        });
    Add("watch ID TOPIC...",
        "parks blocking query ID on topics kv:KEY prefix:P table:NAME service:NAME node:NAME session:ID; "
        "an apply that touches one prints it in woke [...]",
        "watch 1 kv:app/config", [this](Invocation& in) {
          std::vector<WatchTopic> topics;
          for (size_t i = 1; i < in.arg_count(); ++i) {
            std::optional<WatchTopic> t = ParseTopic(in.Arg(i));
            if (!t.has_value()) {
              in.Fail(absl::StrCat("bad topic ", in.Arg(i)));
              return std::string();
            }
            topics.push_back(*std::move(t));
          }
          const uint64_t id = in.ArgUint(0);
          if (!in.errors().empty()) return std::string();
          return fsm_.watches().Add(id, std::move(topics)) ? std::string("parked") : std::string("registry full");
        });
    Add("index TABLE", "prints the index of TABLE's last change (nodes services checks kvs sessions autopilot-config)", "index kvs",
        [this](Invocation& in) { return absl::StrCat(in.Arg(0), " index=", fsm_.store().TableIndex(in.Arg(0))); });
  }

  void RegisterCatalog() {
    Add("register-node NODE [address=ADDR] [serf=STATUS]",
        "registers NODE with a serfHealth check of STATUS (passing warning critical, or none; default passing)",
        "register-node n1 serf=passing", [this](Invocation& in) {
          RegisterRequest r;
          r.node.name = in.Arg(0);
          r.node.address = in.Option("address", "10.0.0.1");
          r.node.datacenter = "dc1";
          const std::string serf = in.Option("serf", "passing");
          if (serf != "none") {
            absl::StatusOr<HealthStatus> status = ParseHealthStatus(serf);
            if (!status.ok()) in.Fail(absl::StrCat("bad serf status ", serf));
            Check c;
            c.check_id = std::string(kSerfCheckId);
            c.name = std::string(kSerfCheckName);
            c.status = status.value_or(HealthStatus::kPassing);
            r.checks.push_back(std::move(c));
          }
          return Apply(in, commands::Register(now_, r));
        });
    Add("register-check NODE CHECK STATUS [service=ID]",
        "registers or updates check CHECK of known NODE (of service ID, if given) with STATUS",
        "register-check n1 serfHealth critical", [this](Invocation& in) {
          RegisterRequest r;
          r.node.name = in.Arg(0);
          r.skip_node_update = true;
          Check c;
          c.check_id = in.Arg(1);
          c.name = c.check_id;
          absl::StatusOr<HealthStatus> status = ParseHealthStatus(in.Arg(2));
          if (!status.ok()) in.Fail(absl::StrCat("bad status ", in.Arg(2)));
          c.status = status.value_or(HealthStatus::kPassing);
          c.service_id = in.Option("service", "");
          r.checks.push_back(std::move(c));
          return Apply(in, commands::Register(now_, r));
        });
    Add("register-service NODE ID NAME [tags=A,B] [port=N]", "registers service instance ID named NAME on known NODE",
        "register-service n1 web1 web tags=v1,primary port=80", [this](Invocation& in) {
          RegisterRequest r;
          r.node.name = in.Arg(0);
          r.skip_node_update = true;
          Service s;
          s.id = in.Arg(1);
          s.name = in.Arg(2);
          s.tags = SplitList(in.Option("tags", ""));
          s.port = static_cast<int32_t>(in.OptionUint("port", 80));
          r.service = std::move(s);
          return Apply(in, commands::Register(now_, r));
        });
    Add("deregister NODE [service=ID] [check=ID]", "deregisters NODE, or only its service ID or check ID",
        "deregister n1 service=web1", [this](Invocation& in) {
          return Apply(in, commands::Deregister(now_, in.Arg(0), in.Option("service", ""), in.Option("check", "")));
        });
    Add("service-nodes NAME", "prints the instances of service NAME and the index a blocking query waits on",
        "service-nodes web", [this](Invocation& in) {
          Indexed<std::vector<ServiceInstance>> r = fsm_.store().ServiceNodes(in.Arg(0), {});
          std::string out = absl::StrCat("index=", r.index);
          for (const ServiceInstance& i : r.value) {
            absl::StrAppend(&out, "\n", i.node.name, "/", i.service.id, " tags=[", absl::StrJoin(i.service.tags, " "),
                            "] modify=", i.service.modify_index);
          }
          return out;
        });
    Add("node-checks NODE", "prints NODE's checks and the checks index", "node-checks n1", [this](Invocation& in) {
      Indexed<std::vector<Check>> r = fsm_.store().NodeChecks(in.Arg(0));
      std::string out = absl::StrCat("index=", r.index);
      for (const Check& c : r.value) absl::StrAppend(&out, "\n", Describe(c));
      return out;
    });
  }

  KVEntry EntryOf(Invocation& in, size_t key_arg) {
    KVEntry e;
    e.key = in.Arg(key_arg);
    e.flags = in.OptionUint("flags", 0);
    return e;
  }

  // kv-lock and kv-unlock: KEY SESSION [value=V].
  std::string LockOp(Invocation& in, KVRequest::Op op) {
    KVEntry e = EntryOf(in, 0);
    e.session = in.Arg(1);
    e.value = in.Option("value", "");
    return Apply(in, commands::KV(now_, op, e));
  }

  void RegisterKV() {
    Add("kv-set KEY VALUE [flags=N]", "writes KEY", "kv-set app/config v1", [this](Invocation& in) {
      KVEntry e = EntryOf(in, 0);
      e.value = in.Arg(1);
      return Apply(in, commands::KV(now_, KVRequest::SET, e));
    });
    Add("kv-cas KEY VALUE INDEX [flags=N]",
        "writes KEY only if its ModifyIndex is INDEX (0: only if absent); prints false otherwise",
        "kv-cas app/config v2 5", [this](Invocation& in) {
          KVEntry e = EntryOf(in, 0);
          e.value = in.Arg(1);
          return Apply(in, commands::KV(now_, KVRequest::CAS, e, in.ArgUint(2)));
        });
    Add("kv-lock KEY SESSION [value=V]",
        "acquires KEY for SESSION (false if held by another or inside its lock delay)", "kv-lock leader s1 value=n1",
        [this](Invocation& in) { return LockOp(in, KVRequest::LOCK); });
    Add("kv-unlock KEY SESSION [value=V]", "releases KEY if SESSION holds it", "kv-unlock leader s1",
        [this](Invocation& in) { return LockOp(in, KVRequest::UNLOCK); });
    Add("kv-delete KEY [cas=INDEX]", "deletes KEY (with cas=, only if its ModifyIndex is INDEX)", "kv-delete app/config",
        [this](Invocation& in) {
          KVEntry e = EntryOf(in, 0);
          if (in.has_option("cas")) return Apply(in, commands::KV(now_, KVRequest::DELETE_CAS, e, in.OptionUint("cas", 0)));
          return Apply(in, commands::KV(now_, KVRequest::DELETE, e));
        });
    Add("kv-delete-tree PREFIX", "deletes every key under PREFIX", "kv-delete-tree app/", [this](Invocation& in) {
      return Apply(in, commands::KV(now_, KVRequest::DELETE_TREE, EntryOf(in, 0)));
    });
    Add("reap-tombstones INDEX", "forgets delete markers at or below INDEX (the leader's tombstone GC)",
        "reap-tombstones 4", [this](Invocation& in) {
          return Apply(in, commands::ReapTombstones(now_, in.ArgUint(0)));
        });
    Add("kv-get KEY", "prints KEY and the index a blocking read of it waits on", "kv-get app/config",
        [this](Invocation& in) {
          Indexed<std::optional<KVEntry>> r = fsm_.store().KVGet(in.Arg(0));
          return absl::StrCat("index=", r.index, " ", r.value.has_value() ? Describe(*r.value) : "(no key)");
        });
    Add("kv-list [PREFIX]", "prints every key under PREFIX (default: all) and the prefix's index", "kv-list app/",
        [this](Invocation& in) {
          Indexed<std::vector<KVEntry>> r = fsm_.store().KVList(in.ArgOr(0, ""));
          std::string out = absl::StrCat("index=", r.index);
          for (const KVEntry& e : r.value) absl::StrAppend(&out, "\n", Describe(e));
          return out;
        });
    Add("lock-delay KEY", "prints until when KEY may not be acquired, if it is delayed", "lock-delay leader",
        [this](Invocation& in) {
          std::optional<Time> until = fsm_.store().KVLockDelay(in.Arg(0));
          return until.has_value() ? absl::StrCat("delayed until ", Since(*until)) : std::string("not delayed");
        });
  }

  void RegisterSessions() {
    Add("session-create ID NODE [ttl=DURATION] [behavior=release|delete] [lock-delay=DURATION] [checks=A,B] "
        "[service-checks=A,B]",
        "creates session ID on NODE; without checks= (or with checks=none) it watches NODE's serfHealth",
        "session-create s1 n1 ttl=10s behavior=delete", [this](Invocation& in) {
          Session s;
          s.id = in.Arg(0);
          s.node = in.Arg(1);
          s.ttl = DurationOption(in, "ttl", absl::ZeroDuration());
          s.lock_delay = DurationOption(in, "lock-delay", absl::Seconds(15));
          absl::StatusOr<SessionBehavior> behavior = ParseSessionBehavior(in.Option("behavior", "release"));
          if (!behavior.ok()) in.Fail("behavior is release or delete");
          s.behavior = behavior.value_or(SessionBehavior::kRelease);
          const bool default_checks = !in.has_option("checks");
          if (!default_checks && in.Option("checks", "") != "none") s.node_checks = SplitList(in.Option("checks", ""));
          s.service_checks = SplitList(in.Option("service-checks", ""));
          return Apply(in, commands::SessionCreate(now_, s, default_checks), [](const ApplyResult& r) {
            return r.session.has_value() ? Describe(*r.session) : std::string();
          });
        });
    Add("session-destroy ID", "invalidates session ID, releasing or deleting its locks", "session-destroy s1",
        [this](Invocation& in) {
          return Apply(in, commands::SessionOp(now_, SessionRequest::DESTROY, in.Arg(0)));
        });
    Add("session-renew ID", "pushes session ID's TTL deadline out from now (through the log)", "session-renew s1",
        [this](Invocation& in) {
          return Apply(in, commands::SessionOp(now_, SessionRequest::RENEW, in.Arg(0)), [](const ApplyResult& r) {
            return r.session.has_value() ? absl::StrCat("expires=", Since(r.session->expires_at)) : std::string();
          });
        });
    Add("session-expire ID", "the leader's expiry of session ID: applied only if its TTL has run out; prints whether",
        "session-expire s1", [this](Invocation& in) {
          return Apply(in, commands::SessionOp(now_, SessionRequest::EXPIRE, in.Arg(0)));
        });
    Add("session-list", "prints every session and the sessions index", "session-list", [this](Invocation&) {
      Indexed<std::vector<Session>> r = fsm_.store().SessionList();
      std::string out = absl::StrCat("index=", r.index);
      for (const Session& s : r.value) absl::StrAppend(&out, "\n", Describe(s));
      return out;
    });
    Add("sessions-expired", "prints the sessions whose TTL has run out now, and the next deadline (the leader's sweep)",
        "sessions-expired", [this](Invocation&) {
          std::vector<std::string> expired = fsm_.store().SessionsExpiredAt(now_);
          std::optional<Time> next = fsm_.store().NextSessionExpiry();
          return absl::StrCat("expired [", absl::StrJoin(expired, " "), "] next=", next ? Since(*next) : "none");
        });
  }

  // One transaction op per input line: VERB [KEY] [value=V] [index=N] [session=S] [flags=N],
  // VERB as Consul's (set cas lock unlock get get-tree check-index check-session
  // check-not-exists delete delete-cas delete-tree).
  std::optional<TxnOp> ParseTxnLine(Invocation& in, size_t n, const std::string& line) {
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    auto fail = [&](const std::string& why) {
      in.Fail(absl::StrCat("input line ", n + 1, " '", line, "': ", why));
      return std::nullopt;
    };
    if (words.empty()) return fail("want VERB [KEY] [key=value...]");
    absl::StatusOr<TxnVerb> verb = ParseTxnVerb(words[0]);
    if (!verb.ok()) return fail("unknown verb");
    TxnOp op;
    op.verb = *verb;
    size_t first_option = 1;
    if (words.size() > 1 && words[1].find('=') == std::string::npos) op.entry.key = words[first_option++];
    for (size_t i = first_option; i < words.size(); ++i) {
      const size_t eq = words[i].find('=');
      const std::string key = words[i].substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : words[i].substr(eq + 1);
      bool known = eq != std::string::npos;
      if (key == "value") {
        op.entry.value = value;
      } else if (key == "session") {
        op.entry.session = value;
      } else if (key == "index") {
        known = known && absl::SimpleAtoi(value, &op.index);
      } else if (key == "flags") {
        known = known && absl::SimpleAtoi(value, &op.entry.flags);
      } else {
        known = false;
      }
      if (!known) return fail(absl::StrCat("unknown or bad option ", words[i]));
    }
    return op;
  }

  void RegisterTxn() {
    Add("txn [read=BOOL]",
        "runs the ops of the input lines (VERB [KEY] [value=V] [index=N] [session=S] [flags=N]) all or none; prints "
        "each result, or each op's error and nothing applied; read=true serves reads without the log",
        "txn read=true", [this](Invocation& in) {
          std::vector<TxnOp> ops;
          for (size_t i = 0; i < in.input().size(); ++i) {
            if (std::optional<TxnOp> op = ParseTxnLine(in, i, in.input()[i]); op.has_value()) ops.push_back(*op);
          }
          if (!in.errors().empty()) return std::string();
          auto describe = [](const TxnResponse& t) {
            std::vector<std::string> lines;
            for (const TxnResult& e : t.results) lines.push_back(absl::StrCat("  result ", Describe(e.kv)));
            for (const TxnError& e : t.errors) lines.push_back(absl::StrCat("  error op ", e.op_index, ": ", e.what));
            return absl::StrJoin(lines, "\n");
          };
          if (in.OptionBool("read", false)) {
            absl::StatusOr<TxnResponse> r = fsm_.store().TxnRead(ops);
            if (!r.ok()) return absl::StrCat("read: ", r.status().ToString());
            std::string out = absl::StrCat("read at index ", fsm_.store().TxnReadIndex(), ": ", r->ok() ? "true" : "false");
            if (std::string d = describe(*r); !d.empty()) absl::StrAppend(&out, "\n", d);
            return out;
          }
          return Apply(in, commands::Txn(now_, ops), [describe](const ApplyResult& r) {
            return r.txn.has_value() ? describe(*r.txn) : std::string();
          });
        },
        /*takes_input=*/true);
  }

  void RegisterAutopilot() {
    Add("autopilot-set [cas=INDEX] [cleanup=BOOL] [last-contact=DURATION] [trailing=N] [min-quorum=N] "
        "[stabilization=DURATION] [zone-tag=TAG] [no-upgrade=BOOL] [version-tag=TAG]",
        "stores autopilot's configuration: Consul's defaults but for the options given (durations may be "
        "negative here, to show them refused); with cas=, only if the stored ModifyIndex is INDEX (0: only if none)",
        "autopilot-set cas=0 min-quorum=3", [this](Invocation& in) {
          AutopilotConfiguration c;
          c.cleanup_dead_servers = in.OptionBool("cleanup", c.cleanup_dead_servers);
          c.last_contact_threshold = DurationOption(in, "last-contact", c.last_contact_threshold);
          c.max_trailing_logs = in.OptionUint("trailing", c.max_trailing_logs);
          c.min_quorum = static_cast<uint32_t>(in.OptionUint("min-quorum", c.min_quorum));
          c.server_stabilization_time = DurationOption(in, "stabilization", c.server_stabilization_time);
          c.redundancy_zone_tag = in.Option("zone-tag", "");
          c.disable_upgrade_migration = in.OptionBool("no-upgrade", false);
          c.upgrade_version_tag = in.Option("version-tag", "");
          const bool has_cas = in.has_option("cas");
          return Apply(in, commands::AutopilotSet(now_, c, has_cas, in.OptionUint("cas", 0)));
        });
    Add("autopilot-get", "prints the stored autopilot configuration (or none) and the autopilot-config table index",
        "autopilot-get", [this](Invocation& in) {
          const std::string index = absl::StrCat("index=", fsm_.store().TableIndex(kTableAutopilot));
          const std::optional<AutopilotConfiguration>& c = fsm_.store().Autopilot();
          if (!c.has_value()) return absl::StrCat(index, " none");
          return absl::StrCat(index, " cleanup=", c->cleanup_dead_servers ? "true" : "false",
                              " last-contact=", absl::FormatDuration(c->last_contact_threshold),
                              " trailing=", c->max_trailing_logs, " min-quorum=", c->min_quorum,
                              " stabilization=", absl::FormatDuration(c->server_stabilization_time),
                              " zone-tag=", Quote(c->redundancy_zone_tag), " no-upgrade=", c->disable_upgrade_migration ? "true" : "false",
                              " version-tag=", Quote(c->upgrade_version_tag), " create=", c->create_index,
                              " modify=", c->modify_index);
        });
  }

  script::CommandSet commands_;
  Fsm fsm_;
  Time now_ = SimEpoch();
};

MUSTER_SCRIPT_TESTS(StateScript, Interpreter, "core/state/testdata", 7);

}  // namespace
}  // namespace muster::state
