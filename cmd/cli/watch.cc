// `muster watch -type=key|keyprefix|services|nodes|service|checks|event [-key -prefix -service
// -tag -passingonly -state -name] [-shell=false] [handler...]`, as Consul's: a blocking query
// run in a loop, following Consul's watch plan (api/watch/plan.go):
//   - each query carries the last X-Consul-Index (index=N, with wait=kWatchWait), none at first;
//   - an answer with the same index is ignored; an index that went backwards resets the next
//     query's to 0 (WaitIndexVal.Next); an answer equal to the last one is ignored;
//   - an error forgets the index and backs off 5s x failures^2, at most 180s;
//   - the event watch drops the events up to the last one seen (the index names an event ID).
// With no handler the first result is printed as json.MarshalIndent(result, "", "    ") and
// the watch ends, exit 0. With one, every result is handed to `sh -c "handler..."` (or the
// words themselves with -shell=false) as json.Encoder's line on stdin with CONSUL_INDEX set; a
// handler that fails ends the watch, exit 1.
#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cmd/cli/api_client.h"
#include "cmd/cli/columns.h"
#include "cmd/cli/command.h"
#include "cmd/cli/go_json.h"
#include "core/agent/go_shapes.h"
#include "core/base/go_duration.h"

namespace muster::cli {
namespace {

constexpr std::string_view kWatchHelp = R"(Usage: muster watch [options] [child...]

  Watches for changes in a given data view from muster. If a child process
  is specified, it will be invoked with the latest results on changes. Otherwise,
  the latest values are dumped to stdout and the watch terminates.

  Providing the watch type is required, and other parameters may be required
  or supported depending on the watch type.
)";

// How long the agent may hold each blocking query. Consul's watch sends none, so its agent
// holds one for its default 5 minutes; ours names a wait inside the HTTP client's timeout
// (kRequestTimeoutDefault), so a quiet watch is never mistaken for a hung agent.
constexpr absl::Duration kWatchWait = absl::Seconds(60);
// Consul's back-off after a failed query: kRetryInterval x failures^2, capped.
constexpr absl::Duration kRetryInterval = absl::Seconds(5);
constexpr absl::Duration kRetryMax = absl::Seconds(180);
// How often a running handler is checked for having ended.
constexpr absl::Duration kChildPollInterval = absl::Milliseconds(10);

// What one watch type asks for and how its answer reads.
struct WatchQuery {
  std::string path;
  QueryParams params;
  bool not_found_is_null = false;  // KV: a 404 is "nothing there" (null), not an error
  bool kv_pairs = false;           // KV: each entry laid out as the Go client's KVPair
  bool single_pair = false;        // key: the one entry, not the list
  bool events = false;             // event: prune what was already handed over
};

class WatchCommand : public Command {
 public:
  WatchCommand() {
    flags_.AddString("type", &type_,
                     "Specifies the watch type. One of key, keyprefix, services, nodes, service, checks, or event.");
    flags_.AddString("key", &key_, "Specifies the key to watch. Only for 'key' type.");
    flags_.AddString("prefix", &prefix_, "Specifies the key prefix to watch. Only for 'keyprefix' type.");
    flags_.AddString("service", &service_,
                     "Specifies the service to watch. Required for 'service' type, optional for 'checks' type.");
    flags_.AddString("tag", &tag_, "Specifies the service tag to filter on. Optional for 'service' type.");
    flags_.AddString("passingonly", &passing_only_,
                     "Specifies if only hosts passing all checks are displayed. Optional for 'service' type, must be "
                     "one of `[true|false]`. Defaults false.");
    flags_.AddBool("shell", &shell_,
                   "Use a shell to run the command (can set a custom shell via the SHELL environment variable).");
    flags_.AddString("state", &state_, "Specifies the states to watch. Optional for 'checks' type.");
    flags_.AddString("name", &name_, "Specifies an event name to watch. Only for 'event' type.");
    http_.AddClientFlags(flags_);
    http_.AddServerFlags(flags_);
  }
  std::string_view Synopsis() const override { return "Watch for changes in muster"; }
  std::string Help() const override { return HelpWithFlags(kWatchHelp, flags_); }

  int Run(const std::vector<std::string>& args, Environment& env) override {
    if (absl::Status s = flags_.Parse(args); !s.ok()) return ReportFlagError(s, *this, env);
    if (type_.empty()) {
      *env.err << "Watch type must be specified\n\n" << Help() << "\n";
      return 1;
    }
    bool passing = false;
    if (!passing_only_.empty() && !ParseGoBool(passing_only_, &passing)) {
      *env.err << "Failed to parse passingonly flag: strconv.ParseBool: parsing " << GoQuote(passing_only_)
               << ": invalid syntax\n";
      return 1;
    }
    absl::StatusOr<WatchQuery> query = MakeQuery(passing);
    if (!query.ok()) {
      *env.err << query.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<ApiClient> client = http_.Client(env);
    if (!client.ok()) {
      *env.err << "Error connecting to muster agent: " << client.status().message() << "\n";
      return 1;
    }
    if (absl::StatusOr<std::string> node = AgentNodeName(*client); !node.ok()) {
      *env.err << "Error querying muster agent: " << node.status().message() << "\n";
      return 1;
    }
    return Loop(*client, *query, env);
  }

 private:
  // Consul's watch.Parse and its per-type factories: what each type needs, and every given
  // parameter must be one its type reads ("Invalid parameters: [...]" otherwise).
  absl::StatusOr<WatchQuery> MakeQuery(bool passing) const {
    std::map<std::string, bool> given = {{"key", !key_.empty()},
                                         {"prefix", !prefix_.empty()},
                                         {"service", !service_.empty()},
                                         {"tag", !tag_.empty()},
                                         {"passingonly", !passing_only_.empty()},
                                         {"state", !state_.empty()},
                                         {"name", !name_.empty()},
                                         {"stale", flags_.WasSet("stale")}};
    std::vector<std::string> reads;
    WatchQuery query;
    const auto strip = [](const std::string& k) { return !k.empty() && k[0] == '/' ? k.substr(1) : k; };
    if (type_ == "key") {
      reads = {"key", "stale"};
      if (key_.empty()) return absl::InvalidArgumentError("Must specify a single key to watch");
      query.path = absl::StrCat("/v1/kv/", strip(key_));
      query.not_found_is_null = true;
      query.kv_pairs = true;
      query.single_pair = true;
    } else if (type_ == "keyprefix") {
      reads = {"prefix", "stale"};
      if (prefix_.empty()) return absl::InvalidArgumentError("Must specify a single prefix to watch");
      query.path = absl::StrCat("/v1/kv/", strip(prefix_));
      query.params.emplace_back("recurse", "");
      query.not_found_is_null = true;
      query.kv_pairs = true;
    } else if (type_ == "services") {
      reads = {"stale"};
      query.path = "/v1/catalog/services";
    } else if (type_ == "nodes") {
      reads = {"stale"};
      query.path = "/v1/catalog/nodes";
    } else if (type_ == "service") {
      reads = {"service", "tag", "passingonly", "stale"};
      if (service_.empty()) return absl::InvalidArgumentError("Must specify a single service to watch");
      query.path = absl::StrCat("/v1/health/service/", service_);
      if (!tag_.empty()) query.params.emplace_back("tag", tag_);
      if (passing) query.params.emplace_back("passing", "1");
    } else if (type_ == "checks") {
      reads = {"service", "state", "tag", "stale"};
      if (!service_.empty() && !state_.empty()) return absl::InvalidArgumentError("Cannot specify service and state");
      if (!service_.empty()) {
        query.path = absl::StrCat("/v1/health/checks/", service_);
      } else {
        query.path = absl::StrCat("/v1/health/state/", state_.empty() ? "any" : state_);
        if (!tag_.empty()) query.params.emplace_back("tag", tag_);
      }
    } else if (type_ == "event") {
      reads = {"name"};  // stale does not apply to events
      query.path = "/v1/event/list";
      if (!name_.empty()) query.params.emplace_back("name", name_);
      query.events = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("Unsupported watch type: ", type_));
    }
    std::vector<std::string> unread;
    for (const auto& [param, is_given] : given) {
      if (is_given && std::find(reads.begin(), reads.end(), param) == reads.end()) unread.push_back(param);
    }
    if (!unread.empty())
      return absl::InvalidArgumentError(absl::StrCat("Invalid parameters: [", absl::StrJoin(unread, " "), "]"));
    return query;
  }

  // One query: the answer's index and the result (the decoded data the handler gets).
  absl::StatusOr<std::pair<uint64_t, OrderedJson>> Fetch(ApiClient& client, const WatchQuery& query,
                                                         std::optional<uint64_t> last_index) {
    QueryParams params = query.params;
    if (last_index && *last_index != 0) {
      params.emplace_back("index", absl::StrCat(*last_index));
      params.emplace_back("wait", absl::StrCat(absl::ToInt64Milliseconds(kWatchWait), "ms"));
    }
    absl::StatusOr<HttpResponse> response =
        client.DoOk("GET", query.path, params, "", query.not_found_is_null ? 404 : 200);
    if (!response.ok()) return response.status();
    absl::StatusOr<uint64_t> index = ConsulIndex(*response);
    if (!index.ok()) return index.status();
    OrderedJson result = nullptr;
    if (response->status == 200) {
      std::optional<OrderedJson> json = ParseOrderedJson(response->body);
      if (!json) return absl::DataLossError(absl::StrCat("the agent's answer to ", query.path, " is not JSON"));
      result = std::move(*json);
    }
    if (query.kv_pairs && result.is_array()) {
      for (OrderedJson& entry : result) entry = agent::AsGoKvPair(entry);
    }
    if (query.single_pair)
      result = result.is_array() && !result.empty() ? OrderedJson(result[0]) : OrderedJson(nullptr);
    if (query.events && result.is_array() && last_index) {
      for (size_t i = 0; i < result.size(); ++i) {
        const OrderedJson& event = result[i];
        const std::string id =
            event.is_object() && event.contains("ID") && event["ID"].is_string() ? event["ID"].get<std::string>() : "";
        if (agent::IndexOfEventId(id) == *last_index) {
          OrderedJson newer = OrderedJson::array();
          for (size_t k = i + 1; k < result.size(); ++k) newer.push_back(result[k]);
          result = std::move(newer);
          break;
        }
      }
    }
    return std::make_pair(*index, std::move(result));
  }

  int Loop(ApiClient& client, const WatchQuery& query, Environment& env) {
    std::optional<uint64_t> last_index;
    std::optional<OrderedJson> last_result;
    uint64_t failures = 0;
    // Ctrl-C ends the watch, exit 0, as Consul's: caught, it also cuts a blocking read short.
    if (env.catch_interrupts) env.catch_interrupts();
    while (!Interrupted(env)) {
      absl::StatusOr<std::pair<uint64_t, OrderedJson>> fetched = Fetch(client, query, last_index);
      if (!fetched.ok() && Interrupted(env)) break;
      if (!fetched.ok()) {
        ++failures;
        last_index.reset();
        const absl::Duration retry = std::min(kRetryMax, kRetryInterval * static_cast<int64_t>(failures * failures));
        *env.err << "[ERROR] watch: Watch errored: type=" << type_ << " error=\"" << fetched.status().message()
                 << "\" retry=" << FormatGoDuration(retry) << "\n";
        env.sleep(retry);
        continue;
      }
      failures = 0;
      auto& [index, result] = *fetched;
      if (last_index && *last_index == index) continue;
      const std::optional<uint64_t> old_index = last_index;
      last_index = old_index && *old_index > index ? 0 : index;  // went backwards: start over
      if (old_index && last_result && *last_result == result) continue;
      last_result = result;
      if (flags_.args().empty()) {
        *env.out << GoMarshalIndent(result, "    ") << "\n";
        return 0;
      }
      if (!RunHandler(index, result, env)) return 1;
    }
    return 0;
  }

  static bool Interrupted(Environment& env) { return env.interrupted && env.interrupted(); }

  bool RunHandler(uint64_t index, const OrderedJson& result, Environment& env) {
    ChildSpec spec;
    if (shell_) {
      std::string shell = env.getenv ? env.getenv("SHELL").value_or("") : "";
      if (shell.empty()) shell = "/bin/sh";
      spec.argv = {shell, "-c", absl::StrJoin(flags_.args(), " ")};
    } else {
      spec.argv = flags_.args();
    }
    spec.extra_env = {{"CONSUL_INDEX", absl::StrCat(index)}};
    spec.stdin_data = GoEncode(result);
    env.out->flush();  // what we printed comes before what the handler prints
    env.err->flush();
    absl::StatusOr<std::unique_ptr<ChildProcess>> child = env.start_child(spec);
    if (!child.ok()) {
      *env.err << "Error starting handler: " << child.status().message() << "\n";
      return false;
    }
    std::optional<ChildExit> exit;
    while (!(exit = (*child)->Poll())) {
      // The handler got the terminal's Ctrl-C too; the watch ends without waiting for it.
      if (Interrupted(env)) return true;
      env.sleep(kChildPollInterval);
    }
    if (!exit->ok()) {
      *env.err << "Error executing handler: " << exit->GoText() << "\n";
      return false;
    }
    return true;
  }

  FlagSet flags_;
  HttpFlags http_;
  std::string type_;
  std::string key_;
  std::string prefix_;
  std::string service_;
  std::string tag_;
  std::string passing_only_;
  bool shell_ = true;
  std::string state_;
  std::string name_;
};

}  // namespace

std::unique_ptr<Command> NewWatchCommand() { return std::make_unique<WatchCommand>(); }

}  // namespace muster::cli
