"""A client's server failover (issue 13, core/agent/server_router.h) with real processes: 3
servers and 2 clients on loopback.

Each round finds the server a client talks to (its debug line "client: RPC server: NAME"),
kills it with SIGKILL while that client keeps writing and reading, and measures how long until
a write sent after the kill succeeds. The kernel closes the dead process's sockets, so the
client's stream to it breaks (EOF/RST, then connection refused: StreamBrokenInput) and it moves
to the next server at once, as Consul's client on the RPC's connection error, not when gossip
declares the server failed (~4-6 s) or the forward times out (7 s): a write in flight then
fails (its outcome is unknown; Consul does not retry writes) and the next one goes to a live
server; when the killed server led, the next write waits for an election. At most one
write fails per round; reads never fail (one whose server died goes once to the next server).
The killed server is restarted and rejoins (a voter again) before the next round; the other
client's writes go on throughout.
"""

import re
import threading
import time

import cluster
from cluster import log

SERVER_ADDRESSES = ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
CLIENT_ADDRESSES = ["127.0.1.11", "127.0.1.12"]
# From the kill to the first write sent after it that succeeds: the broken stream, the next
# write (WRITE_GAP_SECONDS apart) to the next server, and room for a loaded machine. Measured on
# 2 cores (4 runs): 0.04-0.07 s after a follower's kill (was 5-7.5 s before the broken stream
# reached the core), 1.10-1.45 s after the leader's (an election first).
RECOVERY_SECONDS_MAX = 2.0
RECOVERY_AFTER_ELECTION_SECONDS_MAX = 4.0
ROUNDS = 2
WRITE_GAP_SECONDS = 0.1


def routed_server(client):
    """The name of the server the client's log says its RPCs go to last, or None."""
    names = re.findall(r"client: RPC server: (\S+) \(", client.log_text())
    return names[-1] if names else None


class Load:
    """Writes (or reads) through one agent, one request after another, recording each
    (time sent, time answered, ok, status)."""

    def __init__(self, agent, read=False):
        self.agent = agent
        self.read = read
        self.results = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        n = 0
        while not self.stopped.is_set():
            n += 1
            sent = time.monotonic()
            if self.read:
                status, _, _ = self.agent.http("GET", "/v1/kv/failover/seed")
                ok = status == 200
            else:
                status, body, _ = self.agent.http("PUT", f"/v1/kv/failover/{self.agent.name}/{n}", "v")
                ok = status == 200 and body.strip() == b"true"
            self.results.append((sent, time.monotonic(), ok, status))
            time.sleep(WRITE_GAP_SECONDS)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=cluster.HTTP_TIMEOUT_SECONDS + 5)

    def since(self, t):
        return [r for r in self.results if r[1] >= t]


def body(binary, tmpdir, agents):
    servers = cluster.start_servers(binary, tmpdir, agents, SERVER_ADDRESSES)
    clients = cluster.start_clients(binary, tmpdir, agents, CLIENT_ADDRESSES, join=servers)
    by_name = {s.name: s for s in servers}
    assert clients[0].put_kv("failover/seed", "x"), "the first write through c1 failed"
    cluster.wait_until("both clients naming the server they talk to",
                       lambda: all(routed_server(c) in by_name for c in clients), 10)
    log("routed: " + ", ".join(f"{c.name} -> {routed_server(c)}" for c in clients))

    loads = [Load(c).start() for c in clients] + [Load(c, read=True).start() for c in clients]
    time.sleep(1.0)
    recoveries = []
    for round_ in range(ROUNDS):
        client = clients[round_ % len(clients)]
        victim = by_name[routed_server(client)]
        led = cluster.agreed_leader(servers) == victim.rpc_address()
        killed_at = time.monotonic()
        victim.kill()
        log(f"round {round_ + 1}: killed {victim.name}, the server {client.name} talks to"
            + (" and the leader" if led else ""))

        def recovered():
            load = loads[round_ % len(clients)]
            return any(ok and sent >= killed_at for sent, _, ok, _ in load.results)
        cluster.wait_until(f"a write through {client.name} succeeding after {victim.name}'s kill", recovered,
                           RECOVERY_SECONDS_MAX + cluster.HTTP_TIMEOUT_SECONDS)
        load = loads[round_ % len(clients)]
        first_ok = min(answered for sent, answered, ok, _ in load.results if ok and sent >= killed_at)
        recovery = first_ok - killed_at
        recoveries.append((recovery, led))
        now_routed = routed_server(client)
        bound = RECOVERY_AFTER_ELECTION_SECONDS_MAX if led else RECOVERY_SECONDS_MAX
        log(f"round {round_ + 1}: {client.name} wrote again {recovery:.2f}s after the kill, now through {now_routed}"
            f" (bound {bound}s)")
        assert recovery <= bound, f"{client.name} wrote again only {recovery:.2f}s after the kill"
        assert now_routed != victim.name, f"{client.name} still routes to the killed {victim.name}"

        # Let the writes go on a while through the new server, then bring the victim back.
        time.sleep(3.0)
        victim.start()
        cluster.wait_until(f"{victim.name} alive again in every client's members",
                           lambda: all((c.members() or {}).get(victim.name) == 1 for c in clients), 30)
        # Autopilot removed the dead server from raft; the leader adds it back as a non-voter
        # and promotes it once stable (10 s): until then one more kill would take the quorum.
        cluster.wait_until("one leader named by every server", lambda: cluster.agreed_leader(servers), 30)
        cluster.wait_until(f"{victim.name} a voter again",
                           lambda: (clients[0].raft_servers() or {}) == {s.name: True for s in servers}, 60)
        time.sleep(2.0)
        for i, l in enumerate(loads):
            failed = [r for r in l.since(killed_at) if not r[2]]
            kind = "reads" if l.read else "writes"
            log(f"round {round_ + 1}: {l.agent.name} {kind}: {len(l.since(killed_at))} answered, {len(failed)} failed "
                f"(statuses {[r[3] for r in failed]})")
            if l.read:
                assert not failed, f"{l.agent.name}'s reads failed: {failed}"
            else:
                assert len(failed) <= 1, f"{l.agent.name}: {len(failed)} writes failed in round {round_ + 1}: {failed}"

    for l in loads:
        l.stop()
    assert all(r[2] for l in loads for r in l.results[-3:]), "the last requests did not all succeed"
    log(f"recovery after each kill: {', '.join(f'{r:.2f}s' + (' (leader)' if led else '') for r, led in recoveries)} "
        f"(bounds {RECOVERY_SECONDS_MAX}s, {RECOVERY_AFTER_ELECTION_SECONDS_MAX}s with an election)")


if __name__ == "__main__":
    cluster.scenario(body)
