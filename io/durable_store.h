// Where io/ keeps a machine's durable state. The host applies each StorageWrite effect
// through Apply() before it sends anything gated on it (seam rule 2), so a store's Apply
// must not return OK for a sync write until the write would survive a power loss.
#pragma once

#include "absl/status/status.h"
#include "core/seam/effects.h"
#include "core/seam/storage_view.h"

namespace muster::io {

class DurableStore : public StorageView {
 public:
  // Applies the write atomically; when write.sync, returns only once it is durable.
  virtual absl::Status Apply(const StorageWrite& write) = 0;
};

}  // namespace muster::io
