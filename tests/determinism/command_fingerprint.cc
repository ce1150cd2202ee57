// Prints one number: a hash of the bytes of a seeded stream of state-store commands (catalog
// registrations with metadata and tagged addresses, KV writes, sessions) and of the state they
// produce. Run twice by two_process_test.sh: two processes must print the same number, or the
// raft log and the simulator's fingerprint would depend on the process that proposed.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/base/hash.h"
#include "core/base/rng.h"
#include "core/state/fsm.h"

namespace muster::state {
namespace {

RegisterRequest RandomRegistration(Rng& rng, int i) {
  RegisterRequest r;
  r.node.name = "node-" + std::to_string(rng.Uniform(20));
  r.node.address = "10.0.0." + std::to_string(rng.Uniform(250));
  for (uint64_t k = 0, n = rng.Uniform(12); k < n; ++k) {
    r.node.meta["k" + std::to_string(rng.Uniform(100))] = std::to_string(rng.Next());
    r.node.tagged_addresses["t" + std::to_string(rng.Uniform(100))] = std::to_string(rng.Next());
  }
  Service s;
  s.id = "svc-" + std::to_string(i);
  s.name = "svc";
  for (uint64_t k = 0, n = rng.Uniform(12); k < n; ++k) {
    s.meta["m" + std::to_string(rng.Uniform(100))] = std::to_string(rng.Next());
    s.tagged_addresses["a" + std::to_string(rng.Uniform(100))] = {"10.1.0.1", static_cast<int>(rng.Uniform(65536))};
  }
  r.service = s;
  return r;
}

uint64_t Fingerprint(uint64_t seed) {
  Rng rng(seed);
  Fsm fsm;
  uint64_t h = 0;
  for (int i = 1; i <= 500; ++i) {
    Time now = absl::FromUnixSeconds(1700000000 + i);
    std::string bytes;
    if (rng.Bernoulli(0.7)) {
      bytes = commands::Register(now, RandomRegistration(rng, i)).SerializeAsString();
    } else {
      KVEntry e;
      e.key = "kv/" + std::to_string(rng.Uniform(50));
      e.value = std::to_string(rng.Next());
      bytes = commands::KV(now, proto::state::KVRequest::SET, e).SerializeAsString();
    }
    h = HashCombine(h, StableHash(bytes));
    fsm.Apply(i, bytes);
  }
  h = HashCombine(h, fsm.ContentHash());
  return HashCombine(h, StableHash(fsm.Snapshot()));
}

}  // namespace
}  // namespace muster::state

int main(int argc, char** argv) {
  const uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1;
  std::printf("%016llx\n", static_cast<unsigned long long>(muster::state::Fingerprint(seed)));
  return 0;
}
