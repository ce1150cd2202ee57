"""A paused leader (SIGSTOP, as a long GC pause or a stalled VM) must not serve stale data or
acknowledge writes it cannot commit when it wakes up. The leader holds k=v1; it is stopped;
the others elect a new leader and k becomes v2 there; requests sent to the paused leader while
it sleeps (default and consistent reads of k, a write of another key) sit in its sockets. On
SIGCONT they are the first thing it handles: each read must answer v2 or fail (never v1: its
lease ran out while it slept, on the monotonic clock), the write must be applied if
acknowledged, and the old leader must step down and rejoin as a follower. Three rounds. Then
a paused follower: autopilot calls it unhealthy (HTTP 429, FailureTolerance 0) within a few
hundred ms, and healthy once awake."""

import base64
import json
import signal
import threading
import time

import cluster
from cluster import log

ADDRESSES = ["127.0.0.148", "127.0.0.149", "127.0.0.150"]
ROUNDS = 3


def read_value(agent, mode):
    status, body, _ = agent.http("GET", "/v1/kv/k" + ("?consistent" if mode == "consistent" else ""))
    if status != 200:
        return f"error {status}: {body[:80]!r}"
    return base64.b64decode(json.loads(body)[0]["Value"]).decode()


def one_round(servers, round_number):
    leader = cluster.agent_at(servers, cluster.agreed_leader(servers))
    others = [s for s in servers if s is not leader]
    old, new = f"v{round_number}-old", f"v{round_number}-new"
    assert leader.put_kv("k", old), "write of the old value"
    cluster.wait_until("the old value everywhere", lambda: all(
        (s.stale_kv("k") or {}).get("k") == old for s in servers), 10)

    leader.process.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        def new_leader():
            agreed = cluster.agreed_leader(others)
            return agreed if agreed and agreed != leader.rpc_address() else None
        elected = cluster.wait_until("a new leader while the old one sleeps", new_leader, 30, interval=0.05)
        assert others[0].put_kv("k", new), "write of the new value through a survivor"
        answers = {}

        def ask(what, call):
            answers[what] = call()
        askers = [threading.Thread(target=ask, args=(m, lambda m=m: read_value(leader, m)), daemon=True)
                  for m in ("default", "consistent")]
        askers.append(threading.Thread(target=ask, args=(
            "write", lambda: leader.put_kv(f"paused/{round_number}", "sent while paused")), daemon=True))
        for a in askers:
            a.start()
        time.sleep(0.5)  # the requests reach the sleeping leader's sockets
    finally:
        leader.process.send_signal(signal.SIGCONT)
    paused = time.monotonic() - stopped_at
    for a in askers:
        a.join(timeout=20)
    assert not any(a.is_alive() for a in askers), "a request to the woken leader got no answer"
    log(f"round {round_number}: {leader.name} paused {paused:.2f}s (new leader after {elected:.2f}s); "
        f"on waking it answered {answers}")
    for mode in ("default", "consistent"):
        assert answers[mode] != old, f"the woken old leader served the stale value on a {mode} read"
        assert answers[mode] == new or answers[mode].startswith("error"), f"{mode} read: {answers[mode]}"
    cluster.wait_until("one leader again, named by all", lambda: cluster.agreed_leader(servers), 20)
    if answers["write"]:
        cluster.wait_until("the write acknowledged by the woken leader everywhere", lambda: all(
            (s.stale_kv("paused/") or {}).get(f"paused/{round_number}") == "sent while paused" for s in servers), 10)
    cluster.wait_until("the new value everywhere", lambda: all(
        (s.stale_kv("k") or {}).get("k") == new for s in servers), 10)


def paused_follower(servers):
    """A paused follower is unhealthy in autopilot's eyes (no contact past LastContactThreshold)
    and the failure tolerance drops to 0; awake, it is healthy again."""
    leader = cluster.agent_at(servers, cluster.agreed_leader(servers))
    follower = next(s for s in servers if s is not leader)

    def health_of():
        """(HTTP status, Healthy, FailureTolerance, the follower's Healthy, its LastContact)."""
        status, body_bytes, _ = leader.http("GET", "/v1/operator/autopilot/health")
        if status not in (200, 429):  # Consul answers 429 while the cluster is unhealthy
            return None
        health = json.loads(body_bytes)
        mine = next((s for s in health["Servers"] if s["Name"] == follower.name), None)
        if mine is None:  # paused past gossip's failure detection: removed, re-added on waking
            return None
        assert (status == 200) == health["Healthy"], f"status {status} with Healthy {health['Healthy']}"
        return status, health["Healthy"], health["FailureTolerance"], mine["Healthy"], mine["LastContact"]
    cluster.wait_until("a healthy cluster", lambda: (health_of() or (0, None))[1] is True, 20)
    follower.process.send_signal(signal.SIGSTOP)
    try:
        unhealthy = cluster.wait_until(f"autopilot to see {follower.name} unhealthy",
                                       lambda: (health_of() or (None,) * 4)[3] is False, 20)
        seen = health_of()
        assert seen[:3] == (429, False, 0), f"cluster health with a paused follower: {seen}"
        assert leader.put_kv("while/follower-paused", "ok"), "write with one of three paused"
    finally:
        follower.process.send_signal(signal.SIGCONT)
    # Woken before gossip calls it failed (and autopilot removes it, as Consul's CleanupDeadServers).
    healthy = cluster.wait_until(f"{follower.name} healthy again",
                                 lambda: (health_of() or (None,) * 4)[1:4] == (True, 1, True), 60)
    log(f"paused follower {follower.name}: unhealthy after {unhealthy:.2f}s (health {seen}); "
        f"healthy {healthy:.2f}s after SIGCONT: {health_of()}")


def body(binary, tmpdir, agents):
    servers = cluster.start_servers(binary, tmpdir, agents, ADDRESSES)
    for round_number in range(1, ROUNDS + 1):
        one_round(servers, round_number)
    paused_follower(servers)


if __name__ == "__main__":
    cluster.scenario(body)
