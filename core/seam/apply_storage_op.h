// Applies one StorageOp to an ordered in-memory key-value map: the one definition of what
// put, delete and delete-range mean, shared by the simulated disk and io/'s MemoryStore.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "core/seam/effects.h"

namespace muster {

using OrderedKv = std::map<std::string, std::string, std::less<>>;

// Any ordered map of strings with std::map's interface (the simulated disk keeps an
// absl::btree_map: fewer nodes to allocate, walk and free than OrderedKv's).
template <typename Map = OrderedKv>
void ApplyStorageOp(Map& kv, const StorageOp& op) {
  switch (op.kind) {
    case StorageOp::Kind::kPut:
      kv.insert_or_assign(op.key, op.value);
      return;
    case StorageOp::Kind::kDelete:
      kv.erase(op.key);
      return;
    case StorageOp::Kind::kDeleteRange: {
      // value is the exclusive end key; empty means "to the end of the key space".
      auto first = kv.lower_bound(op.key);
      auto last = op.value.empty() ? kv.end() : kv.lower_bound(op.value);
      if (first != kv.end() && (last == kv.end() || first->first < last->first)) kv.erase(first, last);
      return;
    }
  }
}

}  // namespace muster
