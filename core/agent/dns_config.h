// Consul's `dns_config` block: how the agent's DNS interface answers (io/dns serves it, and
// core/agent/dns_resolve.h resolves its names). Plain data with Consul's defaults; io/config
// reads it from the JSON files, and -domain, -alt-domain and -recursor sit beside it in
// AgentConfig as in Consul.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace muster::agent {

struct DnsConfig {
  // Any server may answer from its own state (Consul >= 0.7's default), unless its last
  // contact with the leader is older than max_stale: then the query is asked again in the
  // default mode (the leader answers). Consul >= 0.7.1: ten years, so DNS keeps answering
  // during an election or an outage.
  bool allow_stale = true;
  absl::Duration max_stale = absl::Hours(87600);
  // TTLs of node answers, and of service answers by service name: a name, or a prefix ending
  // in '*' (the longest prefix wins, an exact name over any prefix; "*" is the default).
  // Consul's default is 0 for both: nothing is cached downstream.
  absl::Duration node_ttl = absl::ZeroDuration();
  std::vector<std::pair<std::string, absl::Duration>> service_ttl;
  // Instances with a warning check are answered too unless this is set; critical ones never.
  bool only_passing = false;
  // A UDP answer to a query without EDNS0 holds at most this many answer records (Consul's
  // default 3); a query with EDNS0 gets as many as fit its buffer size.
  int udp_answer_limit = 3;
  // Accepted for Consul's configurations: muster sets the TC bit whenever it cuts a UDP
  // answer, so resolvers ask again over TCP (RFC 1035), whatever this says.
  bool enable_truncate = false;
  // How long a query forwarded to one recursor may take before the next is tried (Consul's
  // recursor_timeout, 2 s).
  absl::Duration recursor_timeout = absl::Seconds(2);
};

}  // namespace muster::agent
