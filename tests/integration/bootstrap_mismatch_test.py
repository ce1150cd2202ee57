"""Mismatched -bootstrap-expect: two servers expecting 3 and one expecting 2 never bootstrap,
and each side logs the conflict (Consul's "Member X has a conflicting expect value ... All
nodes should expect the same number."); once the odd one is restarted expecting 3 (same data
dir: it had no raft state), the three bootstrap and elect one leader."""

import time

import cluster
from cluster import Agent, log

ADDRESSES = ["127.0.0.140", "127.0.0.141", "127.0.0.142"]
WATCH_SECONDS = 5.0


def body(binary, tmpdir, agents):
    cluster.assert_ports_free(ADDRESSES)
    expects = [3, 3, 2]
    for i, (address, expect) in enumerate(zip(ADDRESSES, expects), start=1):
        joins = [f"-retry-join={other}" for other in ADDRESSES if other != address]
        agents.append(Agent(binary, f"s{i}", address, tmpdir,
                            ["-retry-interval=1s"] + joins + [f"-bootstrap-expect={expect}"]))
    servers = list(agents)
    for s in servers:
        s.start()
    cluster.wait_until("all three in gossip", lambda: all(len(s.members() or {}) == 3 for s in servers), 15)

    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline:
        for s in servers:
            assert s.leader() == "", f"{s.name} names a leader with mismatched expectations"
        time.sleep(0.25)
    odd = servers[2]
    assert "Member s3 has a conflicting expect value (2 vs our 3). All nodes should expect the same number." in \
        servers[0].log_text(), "s1 did not log s3's conflicting expect value"
    assert "has a conflicting expect value (3 vs our 2)" in odd.log_text(), "s3 did not log the conflict"
    for s in servers:
        assert "Election won" not in s.log_text() and "attempting bootstrap" not in s.log_text(), \
            f"{s.name} bootstrapped with mismatched expectations"
    log(f"no leader for {WATCH_SECONDS}s with expectations {expects}; both sides logged the conflict")

    odd.kill()
    odd.args[-1] = "-bootstrap-expect=3"
    restarted = time.monotonic()
    odd.start()
    elected = cluster.wait_until("one leader once all expect 3", lambda: cluster.agreed_leader(servers), 30)
    log(f"s3 restarted expecting 3: leader {cluster.agreed_leader(servers)} named by all "
        f"{time.monotonic() - restarted:.2f}s later ({elected:.2f}s of polling)")
    terms = cluster.leaders_by_term(servers)
    assert terms and all(len(names) == 1 for names in terms.values()), f"leaders by term: {terms}"
    assert servers[0].raft_servers() == {"s1": True, "s2": True, "s3": True}


if __name__ == "__main__":
    cluster.scenario(body)
