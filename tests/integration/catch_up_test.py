"""Scenario 4: a restarted server catches up from the leader's log, and from a snapshot. With
-raft-snapshot-threshold=SNAPSHOT_THRESHOLD on every server, a follower is stopped (SIGTERM,
which for a server does not leave) while a few keys are written, fewer than the threshold, so
the leader still holds every entry it missed; then stopped again (SIGKILL) while more keys
than the threshold are written, so the leader compacts its log past the follower's last entry
and must send a snapshot. After each restart the follower's own state (?stale) has every key."""

import concurrent.futures
import signal

import cluster
from cluster import log

ADDRESSES = ["127.0.0.112", "127.0.0.113", "127.0.0.114"]
SNAPSHOT_THRESHOLD = 1000
LOG_PHASE_KEYS = 50
SNAPSHOT_PHASE_KEYS = SNAPSHOT_THRESHOLD + 200
WRITER_THREADS = 4
CATCH_UP_SECONDS_MAX = 30

HTTP_BODY_BYTES_MAX = 512 * 1024
INSTALL_LINE = "installing snapshot"
SEND_LINE = "sending snapshot to"


def write_keys(via, prefix, count):
    """Writes prefix + i for i < count through `via` from several threads; all must be acked."""
    keys = {f"{prefix}{i:05d}": f"{prefix} value {i}" for i in range(count)}
    with concurrent.futures.ThreadPoolExecutor(WRITER_THREADS) as pool:
        acked = list(pool.map(lambda kv: via.put_kv(*kv), keys.items()))
    assert all(acked), f"{acked.count(False)} of {count} writes through {via.name} not acknowledged"
    return keys


def catch_up(follower, servers, expected):
    seconds = cluster.wait_until(
        f"{follower.name}'s own state to hold all {len(expected)} keys",
        lambda: (follower.stale_kv("") or {}) == expected, CATCH_UP_SECONDS_MAX, interval=0.2)
    return seconds


def body(binary, tmpdir, agents):
    servers = cluster.start_servers(binary, tmpdir, agents, ADDRESSES,
                                    [f"-raft-snapshot-threshold={SNAPSHOT_THRESHOLD}"])
    leader = cluster.agent_at(servers, cluster.agreed_leader(servers))
    follower = next(s for s in servers if s is not leader)
    expected = {}

    # From the log.
    code = follower.signal_and_wait(signal.SIGTERM)
    log(f"stopped follower {follower.name} with SIGTERM (exit {code}); writing {LOG_PHASE_KEYS} keys")
    expected.update(write_keys(leader, "log/", LOG_PHASE_KEYS))
    follower.start()
    seconds = catch_up(follower, servers, expected)
    assert INSTALL_LINE not in follower.log_text(), \
        f"{follower.name} installed a snapshot though the leader's log held every entry it missed"
    log(f"{follower.name} caught up from the log: {len(expected)} keys {seconds:.2f}s after its restart")

    # From a snapshot.
    leader = cluster.agent_at(servers, cluster.wait_until(
        "a leader", lambda: cluster.agreed_leader(servers), 30) and cluster.agreed_leader(servers))
    follower = next(s for s in servers if s is not leader)
    follower.kill()
    log(f"killed follower {follower.name}; writing {SNAPSHOT_PHASE_KEYS} keys through {leader.name}")
    expected.update(write_keys(leader, "snap/", SNAPSHOT_PHASE_KEYS))
    follower.start()
    seconds = catch_up(follower, servers, expected)
    follower_log = follower.log_text().split("===== start ")[-1]
    install_lines = [l for l in follower_log.splitlines() if INSTALL_LINE in l]
    assert install_lines, f"{follower.name} caught up without installing a snapshot"
    sent = [l for l in leader.log_text().splitlines() if SEND_LINE in l]
    assert sent, f"the leader {leader.name} never logged {SEND_LINE!r}"
    log(f"{follower.name} caught up from a snapshot: {len(expected)} keys {seconds:.2f}s after its restart; "
        f"it logged: {install_lines[-1].split(']', 1)[-1].strip()}; the leader: {sent[-1].split(']', 1)[-1].strip()}")

    # A server with raft state never bootstraps again; and everyone agrees at the end.
    bootstraps = follower.log_text().count("Found expected number of peers, attempting bootstrap")
    assert bootstraps <= 1, f"{follower.name} bootstrapped {bootstraps} times over its restarts"
    restarts = follower.log_text().split("===== start ")[2:]
    assert all("Raft data found, disabling bootstrap mode" in r for r in restarts), \
        f"a restart of {follower.name} did not log 'Raft data found, disabling bootstrap mode'"
    for server in servers:
        assert server.stale_kv("") == expected, f"{server.name}'s kv differs"
    log(f"raft configuration at the end: {leader.raft_servers()}")

    # Large entries: the biggest body the HTTP API takes (Consul's 512 KiB), written through a
    # follower (so it is forwarded over RPC, then replicated), reaches every server whole; one
    # byte more is refused with 413 and changes nothing.
    big = "".join(chr(ord("a") + i % 26) for i in range(HTTP_BODY_BYTES_MAX))
    assert follower.put_kv("big/ok", big), "a 512 KiB write through a follower"
    status, _, _ = follower.http("PUT", "/v1/kv/big/too", big + "x")
    assert status == 413, f"a body of 512 KiB + 1 answered {status}, not 413"
    cluster.wait_until("the 512 KiB value whole on every server",
                       lambda: all((s.stale_kv("big/") or {}) == {"big/ok": big} for s in servers), 20)
    log(f"a {HTTP_BODY_BYTES_MAX}-byte value forwarded and replicated whole; one byte more: 413")


if __name__ == "__main__":
    cluster.scenario(body)
