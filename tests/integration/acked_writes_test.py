"""Scenario 3: writes acknowledged while servers are killed (SIGKILL) and restarted (same data
dir and flags) are all present afterwards. Two writer threads put distinct keys through random
servers during several kill/restart cycles, one of which kills two servers at once (no quorum
until they are back); at the end every key whose PUT was answered 200 "true" is on every
server (?stale, each server's own state) with its value, and nothing is there that was never
written."""

import base64
import json
import os
import random
import threading
import time

import cluster
from cluster import log

# A hunt beside a running `make test` takes other addresses (MUSTER_IT_ADDRESSES=a,b,c).
ADDRESSES = os.environ.get("MUSTER_IT_ADDRESSES", "127.0.0.108,127.0.0.109,127.0.0.110").split(",")
# A longer hunt outside Bazel: MUSTER_IT_SEED=5 MUSTER_IT_CYCLES=20 python3 acked_writes_test.py ...
SEED = int(os.environ.get("MUSTER_IT_SEED", "11"))
# Servers killed together in each cycle (2: the cluster has no quorum until one is back).
CYCLE_VICTIMS = [1, 1, 2, 1, 1]
CYCLES = int(os.environ.get("MUSTER_IT_CYCLES", str(len(CYCLE_VICTIMS))))
WRITER_THREADS = 2
PREFIX = "acked/"
SETTLE_SECONDS_MAX = 60


class Writer(threading.Thread):
    """Puts PREFIX + <thread>-<n> through a random server until stopped, remembering what was
    attempted and what was acknowledged."""

    def __init__(self, index, servers, seed):
        super().__init__(daemon=True)
        self.index = index
        self.servers = servers
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.attempted = {}
        self.acknowledged = {}
        self.failed = 0
        # (start time, server name, seconds taken, acknowledged) of every PUT.
        self.history = []

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            key = f"{PREFIX}{self.index}-{n:06d}"
            value = f"value {n} of writer {self.index}: {self.rng.getrandbits(32):08x}"
            via = self.rng.choice(self.servers)
            self.attempted[key] = value
            started = time.monotonic()
            acknowledged = via.put_kv(key, value)
            self.history.append((started, via.name, time.monotonic() - started, acknowledged))
            if acknowledged:
                self.acknowledged[key] = value
            else:
                self.failed += 1
                time.sleep(0.02)  # a dead server refuses at once; do not spin on it


class CasCounter(threading.Thread):
    """Increments COUNTER_KEY by check-and-set through random servers: read it (default
    consistency: the leader's), PUT value+1 with ?cas=<its ModifyIndex>. Counts the increments
    answered "true" (applied), "false" (definitely not: the CAS lost) and the rest (unknown
    outcome: the agent failed or did not answer, so it may or may not have been applied)."""

    def __init__(self, servers, seed):
        super().__init__(daemon=True)
        self.servers = servers
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.applied = 0
        self.lost = 0
        self.unknown = 0

    def run(self):
        while not self.stop.is_set():
            via = self.rng.choice(self.servers)
            status, body, _ = via.http("GET", "/v1/kv/" + COUNTER_KEY)
            if status == 404:
                value, index = 0, 0
            elif status == 200:
                entry = json.loads(body)[0]
                value, index = int(base64.b64decode(entry["Value"])), entry["ModifyIndex"]
            else:
                time.sleep(0.02)
                continue
            status, body, _ = via.http("PUT", f"/v1/kv/{COUNTER_KEY}?cas={index}", str(value + 1))
            if status == 200 and body.strip() == b"true":
                self.applied += 1
            elif status == 200 and body.strip() == b"false":
                self.lost += 1
            else:
                self.unknown += 1
                time.sleep(0.02)


COUNTER_KEY = "counter"
CAS_THREADS = 2


def body(binary, tmpdir, agents):
    rng = random.Random(SEED)
    servers = cluster.start_servers(binary, tmpdir, agents, ADDRESSES)
    writers = [Writer(i, servers, SEED * 100 + i) for i in range(WRITER_THREADS)]
    # Two incrementers, so CAS is contended: some lose and must change nothing.
    counters = [CasCounter(servers, SEED * 100 + 90 + i) for i in range(CAS_THREADS)]
    for w in writers + counters:
        w.start()
    try:
        for cycle in range(1, CYCLES + 1):
            victims_count = CYCLE_VICTIMS[(cycle - 1) % len(CYCLE_VICTIMS)]
            time.sleep(rng.uniform(0.5, 1.5))
            leader_address = cluster.agreed_leader(servers)
            # Half the time the leader is among the victims.
            candidates = list(servers)
            rng.shuffle(candidates)
            if leader_address and rng.random() < 0.5:
                leader = cluster.agent_at(servers, leader_address)
                candidates.remove(leader)
                candidates.insert(0, leader)
            victims = candidates[:victims_count]
            acked_before = sum(len(w.acknowledged) for w in writers)
            for v in victims:
                v.kill()
            down_seconds = rng.uniform(1.0, 3.0)
            time.sleep(down_seconds)
            for v in victims:
                v.start()
            cluster.wait_until("a leader named by every server after the restart",
                               lambda: cluster.agreed_leader(servers), 30)
            log(f"cycle {cycle}: killed {[v.name for v in victims]} (leader was {leader_address}) for "
                f"{down_seconds:.1f}s; acknowledged writes {acked_before} -> "
                f"{sum(len(w.acknowledged) for w in writers)}")
        time.sleep(1.0)
    finally:
        for w in writers + counters:
            w.stop.set()
        for w in writers + counters:
            w.join(timeout=30)
    assert not any(w.is_alive() for w in writers + counters), "a writer did not stop"

    attempted, acknowledged = {}, {}
    for w in writers:
        attempted.update(w.attempted)
        acknowledged.update(w.acknowledged)
    failed = sum(w.failed for w in writers)
    log(f"writes: {len(attempted)} attempted, {len(acknowledged)} acknowledged, {failed} failed "
        f"or unanswered")
    history = sorted(h for w in writers for h in w.history)
    slowest = max(history, key=lambda h: h[2])
    log(f"slowest PUT: {slowest[2]:.2f}s through {slowest[1]}; PUTs over 1s: "
        f"{sum(1 for h in history if h[2] > 1.0)}")
    for started, via, seconds, acked in [h for h in history if h[2] > 1.0][:10]:
        log(f"  slow PUT through {via}: {seconds:.2f}s, {'acknowledged' if acked else 'failed'}")
    assert len(acknowledged) > 100, "too few writes acknowledged for the test to mean anything"

    cluster.wait_until("one leader after the writers stopped", lambda: cluster.agreed_leader(servers), 30)
    settle_start = time.monotonic()
    for server in servers:
        def has_all():
            stored = server.stale_kv(PREFIX)
            return stored is not None and all(stored.get(k) == v for k, v in acknowledged.items())
        try:
            cluster.wait_until(f"{server.name} to hold every acknowledged write", has_all, SETTLE_SECONDS_MAX,
                               interval=0.5)
        except AssertionError:
            stored = server.stale_kv(PREFIX) or {}
            missing = [k for k in acknowledged if k not in stored]
            wrong = [k for k in acknowledged if k in stored and stored[k] != acknowledged[k]]
            raise AssertionError(f"{server.name}: {len(missing)} acknowledged keys missing "
                                 f"(first {missing[:5]}), {len(wrong)} with a wrong value (first {wrong[:5]})")
        stored = server.stale_kv(PREFIX)
        strangers = [k for k in stored if attempted.get(k) != stored[k]]
        assert not strangers, f"{server.name} holds values never written: {strangers[:5]}"
        unacked_present = len(set(stored) - set(acknowledged))
        log(f"{server.name}: all {len(acknowledged)} acknowledged writes present with their values "
            f"({len(stored)} keys; {unacked_present} of them written but not acknowledged)")
    log(f"every server settled {time.monotonic() - settle_start:.2f}s after the writers stopped")
    contents = [server.stale_kv(PREFIX) for server in servers]
    assert all(c == contents[0] for c in contents), "the servers' kv contents differ after settling"

    # Every applied CAS increment is in the counter, none twice: applied <= value <= applied +
    # unknown (an unanswered increment may have been applied; a lost CAS was not).
    values = [int((server.stale_kv(COUNTER_KEY) or {}).get(COUNTER_KEY, "0")) for server in servers]
    assert len(set(values)) == 1, f"the servers disagree on the counter: {values}"
    applied = sum(c.applied for c in counters)
    lost = sum(c.lost for c in counters)
    unknown = sum(c.unknown for c in counters)
    log(f"CAS counter: {values[0]}; increments applied {applied}, lost the CAS {lost}, outcome unknown {unknown}")
    assert applied > 10, "too few CAS increments applied for the check to mean anything"
    assert applied <= values[0] <= applied + unknown, f"counter {values[0]} outside [{applied}, {applied + unknown}]"


if __name__ == "__main__":
    cluster.scenario(body)
