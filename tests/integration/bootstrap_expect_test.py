"""Scenario 1: three servers with -bootstrap-expect=3 elect exactly one leader once the third
joins, and not before: the first two, joined to each other, wait (and say so in their logs)."""

import threading
import time

import cluster
from cluster import Agent, log

ADDRESSES = ["127.0.0.100", "127.0.0.101", "127.0.0.102"]
# How long the first two are watched for a leader that must not appear (several election
# timeouts of the runner's 1 s).
WAIT_WITHOUT_THIRD_SECONDS = 6.0
# From the third's start to one leader that all three name.
ELECTION_AFTER_THIRD_SECONDS_MAX = 15.0

WAITING_LINE = "bootstrap_expect > 0: expecting 3 servers"
BOOTSTRAP_LINE = "Found expected number of peers, attempting bootstrap"
ELECTION_WON_LINE = "Election won"


def body(binary, tmpdir, agents):
    cluster.assert_ports_free(ADDRESSES)
    names = ["s1", "s2", "s3"]
    for i, (name, address) in enumerate(zip(names, ADDRESSES)):
        join = [] if i == 0 else ["-join=" + ADDRESSES[0]]
        agents.append(Agent(binary, name, address, tmpdir, ["-bootstrap-expect=3"] + join))
    first_two, third = agents[:2], agents[2]

    for agent in first_two:
        agent.start()
        cluster.wait_until(f"{agent.name}'s HTTP API", lambda: agent.leader() is not None, 10)
    cluster.wait_until("s1 and s2 to see each other in gossip",
                       lambda: all(len(a.members() or {}) == 2 for a in first_two), 10)

    # Without the third: no leader, for several election timeouts, on either. A request that
    # needs the leader is held (Consul's RPC hold) and then fails "No cluster leader".
    held = {}

    def ask_leader_view():
        started = time.monotonic()
        held["answer"] = first_two[1].http("GET", "/v1/operator/raft/configuration")
        held["seconds"] = time.monotonic() - started
    asker = threading.Thread(target=ask_leader_view, daemon=True)
    asker.start()
    deadline = time.monotonic() + WAIT_WITHOUT_THIRD_SECONDS
    polls = 0
    while time.monotonic() < deadline:
        for agent in first_two:
            leader = agent.leader()
            assert leader == "", f"{agent.name} names leader {leader!r} with only 2 of 3 servers up"
            servers = agent.raft_servers(stale=True)
            assert servers == {}, f"{agent.name} has raft servers {servers} with only 2 of 3 up"
        polls += 1
        time.sleep(0.25)
    status, body_bytes, headers = first_two[0].http("GET", "/v1/kv/anything?stale")
    assert status == 404 and headers.get("X-Consul-KnownLeader") == "false", \
        f"a stale read with no leader: {status} {body_bytes!r} {headers}"
    asker.join(timeout=10)
    status, body_bytes, _ = held["answer"]
    assert status == 500 and b"No cluster leader" in body_bytes, \
        f"the leader's raft configuration with no leader: {status} {body_bytes!r}"
    log(f"with no leader: a stale read answers 404 (KnownLeader false); the leader's raft configuration "
        f"was held {held['seconds']:.2f}s and answered 500 No cluster leader")
    for agent in first_two:
        text = agent.log_text()
        assert WAITING_LINE in text, f"{agent.name}'s log lacks {WAITING_LINE!r}"
        assert ELECTION_WON_LINE not in text, f"{agent.name} won an election with 2 of 3 servers"
        assert BOOTSTRAP_LINE not in text, f"{agent.name} bootstrapped with 2 of 3 servers"
    log(f"no leader on s1 and s2 for {WAIT_WITHOUT_THIRD_SECONDS}s ({polls} polls of both)"
        f"; both logged {WAITING_LINE!r}")

    started = time.monotonic()
    third.start()
    elected = cluster.wait_until("one leader named by all three",
                                 lambda: cluster.agreed_leader(agents), ELECTION_AFTER_THIRD_SECONDS_MAX)
    leader = cluster.agreed_leader(agents)
    log(f"leader {leader} named by all three {elected:.2f}s after s3 started")

    # Exactly one: one log says it won, for one term, and every server says the same leader
    # (re-checked for a moment, so a second leader that arrives late is seen).
    for _ in range(10):
        assert cluster.agreed_leader(agents) == leader, "the leader changed right after the election"
        time.sleep(0.1)
    # One leader per term (a starved follower may call a second election on a loaded machine,
    # which is fine; two leaders of one term never are), and the named one leads the last term.
    leaders_of_term = cluster.leaders_by_term(agents)
    assert leaders_of_term, "no server entered the Leader state"
    assert all(len(names) == 1 for names in leaders_of_term.values()), f"leaders by term: {leaders_of_term}"
    last_term = max(leaders_of_term)
    winners = leaders_of_term[last_term]
    assert cluster.agent_at(agents, leader).name == winners[0], \
        f"{winners[0]} leads term {last_term} but the leader named is {leader}"
    assert sum(a.log_text().count(ELECTION_WON_LINE) for a in agents) == len(leaders_of_term)
    bootstrapped = [a.name for a in agents if BOOTSTRAP_LINE in a.log_text()]
    assert bootstrapped, f"no server logged {BOOTSTRAP_LINE!r}"
    log(f"{winners[0]} logged {ELECTION_WON_LINE!r} (leaders by term: {leaders_of_term}); "
        f"{bootstrapped} logged {BOOTSTRAP_LINE!r}"
        f"; bootstrap-to-agreement {time.monotonic() - started:.2f}s")

    peers = agents[0].get_json("/v1/status/peers")
    assert sorted(peers) == sorted(a.rpc_address() for a in agents), f"peers: {peers}"
    voters = agents[1].raft_servers()
    assert voters == {"s1": True, "s2": True, "s3": True}, f"raft configuration: {voters}"
    # Servers of one datacenter find each other in the WAN pool too, through the LAN.
    cluster.wait_until("three servers in the WAN pool", lambda: sorted(
        (m["Name"], m["Addr"], m["Port"], m["Status"]) for m in agents[2].get_json("/v1/agent/members?wan") or []) ==
        [(f"s{i}.dc1", a, cluster.WAN_PORT, 1) for i, a in enumerate(ADDRESSES, start=1)], 10)


if __name__ == "__main__":
    cluster.scenario(body)
