// Helpers shared by the state store's tests: small builders for requests.
#pragma once

#include <string>
#include <vector>

#include "core/base/time.h"
#include "core/state/store.h"

namespace muster::state::testing {

inline Time T(int seconds) { return SimEpoch() + absl::Seconds(seconds); }

inline Check MakeCheck(std::string id, HealthStatus status, std::string service_id = "") {
  Check c;
  c.check_id = std::move(id);
  c.name = c.check_id;
  c.status = status;
  c.service_id = std::move(service_id);
  return c;
}

inline RegisterRequest NodeReq(std::string node, std::string address = "10.0.0.1") {
  RegisterRequest r;
  r.node.name = std::move(node);
  r.node.address = std::move(address);
  r.node.datacenter = "dc1";
  return r;
}

// A node with a passing serfHealth check, as the leader registers every live member.
inline RegisterRequest LiveNodeReq(std::string node, std::string address = "10.0.0.1") {
  RegisterRequest r = NodeReq(std::move(node), std::move(address));
  r.checks.push_back(MakeCheck(std::string(kSerfCheckId), HealthStatus::kPassing));
  r.checks.back().name = std::string(kSerfCheckName);
  return r;
}

inline RegisterRequest ServiceReq(std::string node, std::string id, std::string name,
                                  std::vector<std::string> tags = {}, int port = 80) {
  RegisterRequest r = NodeReq(std::move(node));
  Service s;
  s.id = std::move(id);
  s.name = std::move(name);
  s.tags = std::move(tags);
  s.port = port;
  r.service = s;
  return r;
}

inline KVEntry KV(std::string key, std::string value = "", std::string session = "", uint64_t flags = 0) {
  KVEntry e;
  e.key = std::move(key);
  e.value = std::move(value);
  e.session = std::move(session);
  e.flags = flags;
  return e;
}

inline Session MakeSession(std::string id, std::string node, Duration ttl = absl::ZeroDuration(),
                           SessionBehavior behavior = SessionBehavior::kRelease,
                           Duration lock_delay = absl::Seconds(15)) {
  Session s;
  s.id = std::move(id);
  s.node = std::move(node);
  s.ttl = ttl;
  s.behavior = behavior;
  s.lock_delay = lock_delay;
  return s;
}

}  // namespace muster::state::testing
