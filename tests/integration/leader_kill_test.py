"""Scenario 2: SIGKILL of the leader. The two survivors agree on a new leader within a few
election timeouts, and writes through a survivor succeed; twice (the first killed server is
restarted in between, and catches up on what was written without it)."""

import time

import cluster
from cluster import log

ADDRESSES = ["127.0.0.104", "127.0.0.105", "127.0.0.106"]
# The runner's election timeout is 1 s (randomized up to twice that); a new leader within a few.
ELECTION_TIMEOUT_SECONDS = 1.0
NEW_LEADER_SECONDS_MAX = 5 * ELECTION_TIMEOUT_SECONDS
ROUNDS = 2


def kill_leader_round(servers, round_number):
    leader_address = cluster.agreed_leader(servers)
    assert leader_address, "no agreed leader before the kill"
    leader = cluster.agent_at(servers, leader_address)
    survivors = [s for s in servers if s is not leader]
    assert leader.put_kv(f"round{round_number}/before", "written before the kill"), "write before the kill"

    killed_at = time.monotonic()
    leader.kill()

    def new_leader():
        agreed = cluster.agreed_leader(survivors)
        return agreed if agreed and agreed != leader_address else None

    elapsed = cluster.wait_until("a new leader named by both survivors", new_leader, 30, interval=0.05)
    new_address = new_leader()
    log(f"round {round_number}: killed leader {leader.name} ({leader_address}); survivors agree on "
        f"{new_address} after {elapsed:.2f}s (bound {NEW_LEADER_SECONDS_MAX:.1f}s)")
    assert elapsed <= NEW_LEADER_SECONDS_MAX, \
        f"new leader after {elapsed:.2f}s, more than {NEW_LEADER_SECONDS_MAX}s"

    # Writes continue, through the new leader's follower (forwarded) and the leader itself.
    follower = next(s for s in survivors if s.rpc_address() != new_address)
    written_at = time.monotonic()
    for i, via in enumerate([follower, cluster.agent_at(survivors, new_address)]):
        assert via.put_kv(f"round{round_number}/after{i}", f"via {via.name}"), f"write through {via.name}"
    log(f"round {round_number}: writes through {follower.name} and the new leader acknowledged "
        f"{written_at - killed_at:.2f}s after the kill, "
        f"{time.monotonic() - written_at:.3f}s for both")
    for via in survivors:
        assert via.stale_kv(f"round{round_number}/").get(f"round{round_number}/before") == \
            "written before the kill", f"{via.name} lost the write from before the kill"
    # The three read modes through the follower, with Consul's facts about the leader.
    for mode in ("", "?consistent", "?stale"):
        status, body_bytes, headers = follower.http("GET", f"/v1/kv/round{round_number}/after1{mode}")
        assert status == 200 and b'"Key":"round' in body_bytes, f"read{mode or ' (default)'}: {status} {body_bytes!r}"
        assert headers.get("X-Consul-KnownLeader") == "true", f"read{mode}: headers {headers}"
        assert int(headers.get("X-Consul-Index", "0")) > 0, f"read{mode}: headers {headers}"
        last_contact = int(headers.get("X-Consul-LastContact", "-1"))
        assert 0 <= last_contact < 1000 and (mode == "?stale" or last_contact == 0), \
            f"read{mode}: X-Consul-LastContact {last_contact}"
    return leader, elapsed


def body(binary, tmpdir, agents):
    servers = cluster.start_servers(binary, tmpdir, agents, ADDRESSES)
    times = []
    for round_number in range(1, ROUNDS + 1):
        killed, elapsed = kill_leader_round(servers, round_number)
        times.append(elapsed)
        killed.start()
        expected = {f"round{round_number}/before": "written before the kill",
                    f"round{round_number}/after0": None, f"round{round_number}/after1": None}
        cluster.wait_until(f"{killed.name} back with every write of round {round_number}",
                           lambda: set(killed.stale_kv(f"round{round_number}/") or {}) == set(expected), 30)
        cluster.wait_until("one leader named by all three", lambda: cluster.agreed_leader(servers), 30)
    log("times to a new leader after SIGKILL: " + ", ".join(f"{t:.2f}s" for t in times))


if __name__ == "__main__":
    cluster.scenario(body)
