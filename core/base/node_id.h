// Identity of a process in the cluster. Raft names its servers by NodeId; the transport
// reaches a node by its Address ("127.0.0.2:8300" in io/, any unique string in sim/).
// Hosts keep the mapping; the core only carries it in configurations and member lists.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace muster {

struct NodeId {
  uint64_t value = 0;

  bool valid() const { return value != 0; }
  friend bool operator==(NodeId a, NodeId b) = default;
  friend auto operator<=>(NodeId a, NodeId b) = default;
  template <typename H>
  friend H AbslHashValue(H h, NodeId id) {
    return H::combine(std::move(h), id.value);
  }
  template <typename Sink>
  friend void AbslStringify(Sink& sink, NodeId id) {
    sink.Append(absl::StrCat("n", id.value));
  }
};

inline std::string ToString(NodeId id) { return absl::StrCat("n", id.value); }

// Where a message goes on the wire: "host:port" in io/, a node's name in sim/.
using Address = std::string;

}  // namespace muster
