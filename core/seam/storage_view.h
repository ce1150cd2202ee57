// A read-only view of a machine's durable storage (RocksDB in io/, the simulated disk in
// sim/). Machines read through it on start and, when they choose, later; every change goes
// out as a StorageWrite effect. Keys are bytes and sort bytewise, as RocksDB's default.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace muster {

class StorageView {
 public:
  virtual ~StorageView() = default;
  virtual std::optional<std::string> Get(std::string_view key) const = 0;
  // Calls `visit` for each key in [begin, end) in ascending order until it returns false.
  // An empty `end` means "to the end of the key space".
  virtual void Scan(std::string_view begin, std::string_view end,
                    const std::function<bool(std::string_view key, std::string_view value)>& visit) const = 0;
};

}  // namespace muster
