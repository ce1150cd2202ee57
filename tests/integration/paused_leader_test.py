"""A paused leader (SIGSTOP, as a long GC pause or a stalled VM) must not serve stale data or
acknowledge writes it cannot commit when it wakes up. The leader holds k=v1; it is stopped;
the others elect a new leader and k becomes v2 there; requests sent to the paused leader while
it sleeps (default and consistent reads of k, a write of another key) sit in its sockets. On
SIGCONT they are the first thing it handles: each read must answer v2 or fail (never v1: its
lease ran out while it slept, on the monotonic clock), the write must be applied if
acknowledged, and the old leader must step down and rejoin as a follower. Three rounds."""

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


def body(binary, tmpdir, agents):
    servers = cluster.start_servers(binary, tmpdir, agents, ADDRESSES)
    for round_number in range(1, ROUNDS + 1):
        one_round(servers, round_number)


if __name__ == "__main__":
    cluster.scenario(body)
