// A MemberlistDelegate that carries nothing: for tests that drive Memberlist alone.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/gossip/memberlist.h"

namespace muster::gossip::testing {

class NullDelegate : public MemberlistDelegate {
 public:
  std::string NodeMeta() override { return ""; }
  void NotifyMsg(std::string_view, const Address&) override {}
  std::vector<std::string> GetBroadcasts(size_t, size_t) override { return {}; }
  std::string LocalState(bool) override { return ""; }
  void MergeRemoteState(std::string_view, bool) override {}
  void NotifyJoin(const NodeState&) override {}
  void NotifyLeave(const NodeState&) override {}
  void NotifyUpdate(const NodeState&) override {}
};

}  // namespace muster::gossip::testing
