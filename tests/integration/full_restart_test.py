"""The whole cluster killed (SIGKILL, all three at once) and restarted from its data dirs, one
at a time in another order: nobody bootstraps again ("Raft data found, disabling bootstrap
mode"), one leader is elected once two are back, every acknowledged key is there with its
value, node IDs are the ones kept in the data dirs, and writes go on. Twice."""

import random
import time

import cluster
from cluster import log

ADDRESSES = ["127.0.0.152", "127.0.0.153", "127.0.0.154"]
SEED = 3
KEYS_PER_ROUND = 200
ROUNDS = 2


def node_ids(servers):
    config = servers[0].get_json("/v1/operator/raft/configuration")
    return {s["Node"]: s["ID"] for s in config["Servers"]}


def body(binary, tmpdir, agents):
    rng = random.Random(SEED)
    servers = cluster.start_servers(binary, tmpdir, agents, ADDRESSES)
    ids = node_ids(servers)
    expected = {}
    for round_number in range(1, ROUNDS + 1):
        for i in range(KEYS_PER_ROUND):
            key, value = f"r{round_number}/{i:04d}", f"value {i} of round {round_number}"
            assert rng.choice(servers).put_kv(key, value), f"write of {key}"
            expected[key] = value
        for s in servers:
            s.kill()
        order = list(servers)
        rng.shuffle(order)
        restarted = time.monotonic()
        order[0].start()
        time.sleep(rng.uniform(0.5, 2.0))
        order[1].start()
        elected = cluster.wait_until("a leader of the first two back", lambda: cluster.agreed_leader(order[:2]), 30)
        order[2].start()
        cluster.wait_until("one leader named by all three", lambda: cluster.agreed_leader(servers), 30)
        log(f"round {round_number}: all killed, restarted {[s.name for s in order]}; a leader of the first two "
            f"{elected:.2f}s after the second started, all three agree {time.monotonic() - restarted:.2f}s "
            f"after the first")
        for s in servers:
            restart_log = s.log_text().split("===== start ")[-1]
            assert "Raft data found, disabling bootstrap mode" in restart_log, f"{s.name} did not find its raft data"
            assert "attempting bootstrap" not in restart_log, f"{s.name} bootstrapped again"
        cluster.wait_until("every key on every server", lambda: all(s.stale_kv("r") == expected for s in servers), 20)
        assert node_ids(servers) == ids, f"node IDs changed across the restart: {node_ids(servers)} vs {ids}"
        log(f"round {round_number}: all {len(expected)} keys on all three; node IDs kept")
    assert servers[0].put_kv("after/restarts", "ok"), "write after the restarts"


if __name__ == "__main__":
    cluster.scenario(body)
