"""Serf's snapshot with real processes (core/agent/serf_snapshot.h): 3 servers and a client.

- The client c1 starts with -join to s1 only (once, not retried) and so knows the pool. Killed
  with SIGKILL, failed in the servers' view for longer than they gossip to the dead (30 s), and
  restarted WITHOUT -join, it is back in the pool from its snapshot: it lists every server alive
  and they list it alive within 10 s, and it logged its re-join. (~60 s in all.)
- c1 then leaves gracefully (PUT /v1/agent/leave) and is started again without -join: with
  rejoin_after_leave off (Consul's default) it re-joins nobody, and the servers keep it left.
"""

import time

import cluster
from cluster import log

SERVER_ADDRESSES = ["127.0.6.1", "127.0.6.2", "127.0.6.3"]
CLIENT_ADDRESS = "127.0.6.4"
# The snapshot is written at most once a second after a change.
SNAPSHOT_WRITE_SECONDS = 1.0
# From the restart to a whole pool: the first re-join's push-pull, then gossip (loopback).
REJOINED_SECONDS_MAX = 10.0
# Memberlist's gossip_to_the_dead_time (30 s on the LAN) and a margin: past it the servers send
# a dead member nothing, so a restarted one hears from nobody unless it joins someone.
GOSSIP_TO_THE_DEAD_SECONDS = 33.0
# How long the client that left is watched for a re-join that must not happen.
NO_REJOIN_WATCH_SECONDS = 8.0


def pool_has(agent, names, status=1):
    members = agent.members() or {}
    return all(members.get(n) == status for n in names)


def body(binary, tmpdir, agents):
    servers = cluster.start_servers(binary, tmpdir, agents, SERVER_ADDRESSES)
    names = [s.name for s in servers]
    cluster.assert_ports_free([CLIENT_ADDRESS])
    c1 = cluster.Agent(binary, "c1", CLIENT_ADDRESS, tmpdir, server=False)
    join_flag = f"-join={servers[0].lan_address()}"
    c1.args.append(join_flag)
    agents.append(c1)
    c1.start()
    cluster.wait_until("c1 listing every server alive", lambda: pool_has(c1, names + ["c1"]), 20)
    time.sleep(SNAPSHOT_WRITE_SECONDS * 3)

    # 1. A crash, and a restart without -join once the servers have stopped gossiping to it
    # (without a snapshot nothing would then bring it back): the snapshot does.
    c1.kill()
    c1.args.remove(join_flag)
    cluster.wait_until("c1 failed in every server's view", lambda: all(pool_has(s, ["c1"], status=4) for s in servers),
                       20)
    time.sleep(GOSSIP_TO_THE_DEAD_SECONDS)
    restarted = time.monotonic()
    c1.start()
    took = cluster.wait_until("c1 back in the pool from its snapshot",
                              lambda: pool_has(c1, names + ["c1"]) and all(pool_has(s, ["c1"]) for s in servers),
                              REJOINED_SECONDS_MAX)
    log(f"c1 re-joined from its snapshot {time.monotonic() - restarted:.2f}s after its restart "
        f"(seen whole {took:.2f}s in)")
    text = c1.log_text()
    assert "Attempting re-join to previously known nodes" in text, "no re-join logged"
    time.sleep(SNAPSHOT_WRITE_SECONDS * 3)

    # 2. A graceful leave, then a start without -join: nobody re-joined.
    status, reply, _ = c1.http("PUT", "/v1/agent/leave")
    assert status == 200, f"leave: {status} {reply!r}"
    deadline = time.monotonic() + cluster.EXIT_TIMEOUT_SECONDS
    while c1.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    if c1.running():
        c1.signal_and_wait(2)  # SIGINT: the leave is done, the host may not have stopped by itself
    else:
        c1.process.wait()
        c1.process = None
    cluster.wait_until("c1 left in every server's view", lambda: all(pool_has(s, ["c1"], status=3) for s in servers), 15)
    c1.start()
    cluster.wait_until("c1 answering", lambda: c1.members() is not None, 10)
    time.sleep(NO_REJOIN_WATCH_SECONDS)
    members = c1.members()
    assert members == {"c1": 1}, f"c1 re-joined after a graceful leave: {members}"
    assert all(pool_has(s, ["c1"], status=3) for s in servers), [s.members() for s in servers]
    assert "the snapshot ends with a leave" in c1.log_text()
    log("after a graceful leave c1 re-joined nobody, as rejoin_after_leave=false")


if __name__ == "__main__":
    cluster.scenario(body)
