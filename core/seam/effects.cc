#include "core/seam/effects.h"

#include <iterator>

namespace muster {
namespace {
template <typename T>
void MoveAppend(std::vector<T>& to, std::vector<T>& from) {
  if (to.empty()) {
    to = std::move(from);
  } else {
    to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  }
  from.clear();
}
}  // namespace

void Effects::Append(Effects&& other) {
  MoveAppend(writes, other.writes);
  MoveAppend(messages, other.messages);
  MoveAppend(processes, other.processes);
  MoveAppend(responses, other.responses);
  MoveAppend(events, other.events);
  if (other.wake_at.has_value()) WakeAt(*other.wake_at);
  other.wake_at.reset();
}

}  // namespace muster
