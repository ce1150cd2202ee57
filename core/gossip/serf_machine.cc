#include "core/gossip/serf_machine.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/strings.h"
#include "core/gossip/limits.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace muster::gossip {

SerfMachine::SerfMachine(const MachineContext& ctx, SerfConfig config, std::vector<Address> seeds)
    : host_incarnation_(ctx.incarnation), seeds_(std::move(seeds)) {
  if (config.memberlist.name.empty()) config.memberlist.name = ctx.address;
  serf_ = std::make_unique<Serf>(std::move(config), ctx.address, ctx.seed,
                                 Logger(ctx.log, absl::StrCat("serf.", ctx.address)));
}

MachineFactory SerfMachine::Factory(std::function<SerfConfig(const MachineContext&)> make_config,
                                    std::vector<Address> seeds) {
  return [make_config = std::move(make_config), seeds = std::move(seeds)](const MachineContext& ctx) {
    return std::make_unique<SerfMachine>(ctx, make_config(ctx), seeds);
  };
}

void SerfMachine::Step(const Input& input, Effects* out) {
  const Time now = input.now;
  if (!started_) {
    started_ = true;
    serf_->Start(now, out);
    if (!seeds_.empty()) serf_->Join(now, seeds_, out);
  }
  if (const auto* m = std::get_if<MessageInput>(&input.what)) {
    serf_->HandleMessage(now, *m, out);
  } else if (std::holds_alternative<TickInput>(input.what)) {
    serf_->Tick(now, out);
  } else if (const auto* p = std::get_if<ProcessExitedInput>(&input.what)) {
    serf_->HandleProcessExit(now, *p, out);
  } else if (const auto* r = std::get_if<RequestInput>(&input.what)) {
    HandleRequest(now, *r, out);
  }
  // Joins answer once a seed replied to our push-pull, or fail at their deadline.
  std::erase_if(pending_joins_, [&](const PendingJoin& j) {
    if (serf_->memberlist().join_replies() > j.replies_before) {
      out->responses.push_back(Response{j.request_id, absl::OkStatus(), "joined", 0});
      return true;
    }
    if (now >= j.deadline) {
      out->responses.push_back(Response{j.request_id, absl::UnavailableError("no seed answered"), "", 0});
      return true;
    }
    return false;
  });
  for (uint64_t id : leave_responses_) out->responses.push_back(Response{id, absl::OkStatus(), "left", 0});
  leave_responses_.clear();
  for (auto& [id, body] : query_responses_) out->responses.push_back(Response{id, absl::OkStatus(), std::move(body), 0});
  query_responses_.clear();
  // Serf requested its own wake-ups; a join still waiting needs one at its deadline.
  for (const PendingJoin& j : pending_joins_) out->WakeAt(j.deadline);
}

void SerfMachine::HandleRequest(Time now, const RequestInput& r, Effects* out) {
  auto respond = [&](absl::Status status, std::string body = "") {
    out->responses.push_back(Response{r.request_id, std::move(status), std::move(body), 0});
  };
  if (r.method == "join") {
    std::vector<Address> seeds;
    for (absl::string_view s : absl::StrSplit(r.body, ',', absl::SkipWhitespace())) seeds.emplace_back(s);
    if (seeds.empty()) return respond(absl::InvalidArgumentError("no seed addresses"));
    for (const Address& seed : seeds) {
      if (seed.size() > kAddressBytesMax) {
        return respond(absl::InvalidArgumentError(
            absl::StrCat("seed address of ", seed.size(), " bytes exceeds ", kAddressBytesMax)));
      }
    }
    pending_joins_.push_back({r.request_id, serf_->memberlist().join_replies(), now + absl::Seconds(10)});
    serf_->Join(now, seeds, out);
  } else if (r.method == "leave") {
    uint64_t id = r.request_id;
    // Answer when the goodbye has had its time to spread. Added before Leave's shutdown
    // timer (same time, runs first), as shutting down clears the timers.
    Duration delay = serf_->config().leave_propagate_delay;
    serf_->AddTimer(now + delay, [this, id] { leave_responses_.push_back(id); });
    serf_->Leave(now, out);
  } else if (r.method == "user-event" || r.method == "user-event-coalesce") {
    std::pair<std::string, std::string> np = absl::StrSplit(r.body, absl::MaxSplits('\n', 1));
    respond(serf_->UserEvent(now, np.first, np.second, r.method == "user-event-coalesce", out));
  } else if (r.method == "query") {
    std::pair<std::string, std::string> hp = absl::StrSplit(r.body, absl::MaxSplits('\n', 1));
    std::vector<std::string> header = absl::StrSplit(hp.first, '\t');
    QueryParams params;
    for (size_t i = 1; i < header.size(); ++i) {
      const std::string& opt = header[i];
      if (opt == "ack") {
        params.request_ack = true;
      } else if (absl::StartsWith(opt, "node=")) {
        params.filter_nodes.push_back(opt.substr(5));
      } else if (absl::StartsWith(opt, "tag=")) {
        std::pair<std::string, std::string> kv = absl::StrSplit(opt.substr(4), absl::MaxSplits('=', 1));
        params.filter_tags[kv.first] = kv.second;
      } else if (absl::StartsWith(opt, "timeout_ms=")) {
        int64_t ms = 0;
        if (!absl::SimpleAtoi(opt.substr(11), &ms) || ms <= 0) {
          return respond(absl::InvalidArgumentError("bad timeout_ms"));
        }
        params.timeout = absl::Milliseconds(ms);
      } else if (absl::StartsWith(opt, "relay=")) {
        if (!absl::SimpleAtoi(opt.substr(6), &params.relay_factor)) {
          return respond(absl::InvalidArgumentError("bad relay"));
        }
      } else {
        return respond(absl::InvalidArgumentError(absl::StrCat("unknown query option: ", opt)));
      }
    }
    uint64_t id = r.request_id;
    auto started = serf_->Query(now, header[0], hp.second, params, [this, id](const QueryResult& res) {
      std::string body;
      for (const std::string& a : res.acks) absl::StrAppend(&body, "ack\t", a, "\n");
      for (const auto& [from, payload] : res.responses) absl::StrAppend(&body, "response\t", from, "\t", payload, "\n");
      query_responses_.push_back({id, std::move(body)});
    }, out);
    if (!started.ok()) respond(started.status());
  } else if (r.method == "members") {
    std::string body;
    for (const auto& [name, m] : serf_->members()) {
      std::vector<std::string> kv;
      for (const auto& [k, v] : m.tags) kv.push_back(absl::StrCat(k, "=", v));
      absl::StrAppend(&body, name, "\t", m.addr, "\t", Absl(MemberStatusName(m.status)), "\t", absl::StrJoin(kv, ","), "\n");
    }
    respond(absl::OkStatus(), std::move(body));
  } else if (r.method == "tags") {
    TagMap tags;
    for (absl::string_view kv : absl::StrSplit(r.body, ',', absl::SkipWhitespace())) {
      std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      tags[p.first] = p.second;
    }
    respond(serf_->SetTags(now, std::move(tags), out));
  } else {
    respond(absl::InvalidArgumentError(absl::StrCat("unknown method: ", r.method)));
  }
}

}  // namespace muster::gossip
