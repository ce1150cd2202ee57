// Bootstrap on a node's first step, for every machine that hosts Raft: a node that starts
// with no hard state in storage and has a bootstrap configuration writes it as entry 1 the
// first time it is stepped (so its writes go out in a batch like any other); a node that
// restarts with hard state never bootstraps again, whatever its options say.
#pragma once

#include <utility>

#include "core/base/check.h"
#include "core/raft/log.h"
#include "core/raft/raft.h"
#include "core/seam/storage_view.h"

namespace muster::raft {

class FirstStepBootstrap {
 public:
  FirstStepBootstrap(const StorageView* storage, pb::Configuration configuration)
      : pending_((storage == nullptr || !storage->Get(kHardStateKey).has_value()) && configuration.servers_size() > 0),
        configuration_(std::move(configuration)) {}

  // On the first call only, bootstraps `raft` if the node is fresh; true if it did (the
  // writes are in `ready`, to be carried out before the step's own).
  bool Run(Raft& raft, Time now, Ready* ready) {
    if (!std::exchange(pending_, false)) return false;
    MUSTER_CHECK(raft.Bootstrap(now, configuration_, ready).ok(), "bootstrap of a fresh node failed");
    return true;
  }

 private:
  bool pending_;
  pb::Configuration configuration_;
};

}  // namespace muster::raft
