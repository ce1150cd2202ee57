#include "tests/agent_sim/workload_register.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "proto/agent.pb.h"
#include "tests/agent_sim/agent_run.h"

namespace muster::agent_sim {

namespace pba = ::muster::proto::agent;

namespace {

constexpr const char* kStatuses[] = {"passing", "warning", "critical"};

// Check ID -> status, from agent.checks (an object) or health.node (an array); serfHealth
// (the servers' own) left out.
std::map<std::string, std::string> CheckStatuses(const std::string& body) {
  std::map<std::string, std::string> out;
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() && !j.is_array()) return out;
  for (const auto& c : j) {
    if (!c.is_object()) continue;
    const std::string id = c.value("CheckID", "");
    if (id != "serfHealth") out[id] = c.value("Status", "");
  }
  return out;
}

// Service IDs but "consul", which the leader registers for each server (no agent runs it).
std::set<std::string> ServiceIds(const nlohmann::json& services) {
  std::set<std::string> out;
  if (!services.is_object()) return out;
  for (auto it = services.begin(); it != services.end(); ++it) {
    if (it.key() != "consul") out.insert(it.key());
  }
  return out;
}

}  // namespace

RegisterWorkload::RegisterWorkload(AgentRun& run) : run_(run) {}

void RegisterWorkload::Tick(int index) {
  // Through a client up, when there are clients.
  std::vector<int> clients;
  for (int i : run_.up_indexes()) {
    if (run_.agent(i)->raft() == nullptr) clients.push_back(i);
  }
  if (!clients.empty()) index = clients[run_.rng().Uniform(clients.size())];
  if (busy_[index]) return;
  const int k = static_cast<int>(run_.rng().Uniform(kRegisterServicesPerAgent));
  const std::string id = absl::StrCat("wl", k);
  pba::Call call;
  std::string method;
  const double draw = run_.rng().UniformDouble();
  if (draw < 0.4) {
    method = "agent.service.register";
    call.set_json(absl::StrCat(R"({"Name": ")", id, R"(", "ID": ")", id, R"(", "Port": )", 8000 + k,
                               R"(, "Check": {"TTL": "10m", "Status": ")", kStatuses[run_.rng().Uniform(3)], R"("}})"));
    registers_++;
  } else if (draw < 0.55) {
    method = "agent.service.deregister";
    call.set_key(id);
    deregisters_++;
  } else {
    method = "agent.check.update";
    call.set_key(absl::StrCat("service:", id));
    call.set_json(absl::StrCat(R"({"Status": ")", kStatuses[run_.rng().Uniform(3)], R"(", "Output": "update )", updates_, R"("})"));
    updates_++;
  }
  touched_.insert(index);
  busy_[index] = true;
  const uint64_t life = life_[index];
  run_.sim().Request(run_.node(index), method, call.SerializeAsString(), [this, index, life](const Response& resp) {
    if (life_[index] != life) return;
    busy_[index] = false;
    if (resp.status.ok()) answered_ok_++;
  });
}

void RegisterWorkload::OnDown(int index) {
  life_[index]++;
  busy_[index] = false;
}

void RegisterWorkload::Judge() {
  judged_ = true;
  const Time settled = run_.sim().now();
  CompareRound();
  run_.RunUntil([this] { return converged_; }, kCatalogConvergeBound);
  if (converged_) {
    converged_after_ = run_.sim().now() - settled;
  } else if (!run_.checker().failed()) {
    run_.checker().Fail(run_.sim().now(), absl::StrCat("catalog: the agents' services and checks not in the catalog within ",
                                                       absl::FormatDuration(kCatalogConvergeBound), " of settling: ",
                                                       last_difference_));
  }
}

void RegisterWorkload::CompareRound() {
  if (converged_) return;
  const uint64_t round = ++round_;
  rounds_++;
  std::optional<int> leader = run_.SteadyLeader();
  std::vector<int> agents;
  for (int i : touched_) {
    if (run_.up(i)) agents.push_back(i);
  }
  if (!leader.has_value() || agents.empty()) {
    converged_ = agents.empty();
    if (!converged_) run_.sim().After(kCatalogCompareEvery, [this] { CompareRound(); });
    return;
  }
  auto views = std::make_shared<std::map<int, Views>>();
  // Every answer counted in before the first is sent: an agent may answer within Request.
  auto outstanding = std::make_shared<int>(static_cast<int>(agents.size()) * 4);
  const auto finish = [this, views, round] {
    if (round != round_) return;
    std::string difference;
    services_compared_ = checks_compared_ = 0;
    for (const auto& [i, v] : *views) {
      difference = !v.failed.empty() ? absl::StrCat(NodeName(i), ": ", v.failed) : Compare(i, v);
      if (!difference.empty()) break;
    }
    if (difference.empty()) {
      converged_ = true;
      return;
    }
    last_difference_ = difference;
    run_.sim().After(kCatalogCompareEvery, [this] { CompareRound(); });
  };
  for (int i : agents) {
    (*views)[i];
    pba::Call node;
    node.set_key(NodeName(i));
    node.set_consistency("consistent");
    const std::vector<std::tuple<int, std::string, pba::Call, std::string Views::*>> asks = {
        {i, "agent.services", pba::Call(), &Views::local_services},
        {i, "agent.checks", pba::Call(), &Views::local_checks},
        {*leader, "catalog.node", node, &Views::catalog_node},
        {*leader, "health.node", node, &Views::catalog_checks},
    };
    for (const auto& [to, method, call, field] : asks) {
      run_.sim().Request(run_.node(to), method, call.SerializeAsString(),
                         [views, outstanding, finish, i, field, method](const Response& resp) {
                           Views& v = (*views)[i];
                           pba::Reply reply;
                           reply.ParseFromString(resp.body);
                           if (!resp.status.ok() && resp.status.code() != absl::StatusCode::kNotFound) {
                             v.failed = absl::StrCat(method, ": ", resp.status.ToString());
                           }
                           v.*field = reply.body();
                           if (--*outstanding == 0) finish();
                         });
    }
  }
  // A round whose answers never all come (an agent crashed meanwhile: none do here, the
  // faults are off) is given up for the next.
  run_.sim().After(kCatalogCompareEvery * 10, [this, round] {
    if (round == round_ && !converged_) CompareRound();
  });
}

std::string RegisterWorkload::Compare(int index, const Views& v) {
  const nlohmann::json local = nlohmann::json::parse(v.local_services, nullptr, false);
  const nlohmann::json catalog = nlohmann::json::parse(v.catalog_node, nullptr, false);
  const std::set<std::string> want = ServiceIds(local);
  const std::set<std::string> have =
      catalog.is_object() && catalog.contains("Services") ? ServiceIds(catalog["Services"]) : std::set<std::string>();
  if (want != have) {
    return absl::StrCat(NodeName(index), " runs ", want.size(), " services, the catalog lists ", have.size(), " (",
                        v.catalog_node.substr(0, 200), ")");
  }
  const std::map<std::string, std::string> checks = CheckStatuses(v.local_checks);
  const std::map<std::string, std::string> listed = CheckStatuses(v.catalog_checks);
  if (checks != listed) {
    for (const auto& [id, status] : checks) {
      auto it = listed.find(id);
      if (it == listed.end()) return absl::StrCat(NodeName(index), "'s check ", id, " (", status, ") is not in the catalog");
      if (it->second != status) {
        return absl::StrCat(NodeName(index), "'s check ", id, " is ", status, ", the catalog says ", it->second);
      }
    }
    return absl::StrCat("the catalog lists ", listed.size(), " checks of ", NodeName(index), ", which runs ", checks.size());
  }
  services_compared_ += want.size();
  checks_compared_ += checks.size();
  return "";
}

std::string RegisterWorkload::Checked() const {
  return absl::StrCat("clients' services in the catalog with their current status (within ",
                      absl::FormatDuration(kCatalogConvergeBound), " of settling): ", touched_.size(), " agents, ",
                      registers_, " registers, ", deregisters_, " deregisters, ", updates_, " check updates (",
                      answered_ok_, " answered ok); ",
                      !judged_       ? std::string("not judged")
                      : converged_   ? absl::StrCat("ok, ", services_compared_, " services and ", checks_compared_,
                                                    " checks matched ", converged_after_.has_value()
                                                                          ? absl::FormatDuration(*converged_after_)
                                                                          : std::string("?"),
                                                    " after settling (", rounds_, " rounds)")
                                     : absl::StrCat("not converged: ", last_difference_));
}

}  // namespace muster::agent_sim
