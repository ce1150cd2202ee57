"""Leader duties toward the catalog: every server is registered as a node with a passing
serfHealth check; a server killed with SIGKILL stays in the catalog with serfHealth critical
once gossip calls it failed; a server that leaves (SIGINT) is deregistered."""

import signal

import cluster
from cluster import log

ADDRESSES = ["127.0.0.156", "127.0.0.157", "127.0.0.158"]
FAILED_SECONDS_MAX = 30


def catalog(agent):
    """{node: address} from /v1/catalog/nodes, None if not answered."""
    nodes = agent.get_json("/v1/catalog/nodes")
    return None if nodes is None else {n["Node"]: n["Address"] for n in nodes}


def serf_health(agent, node):
    """The Status of `node`'s serfHealth check, None if it has none (or no answer)."""
    checks = agent.get_json(f"/v1/health/node/{node}") or []
    return next((c["Status"] for c in checks if c["CheckID"] == "serfHealth"), None)


def body(binary, tmpdir, agents):
    servers = cluster.start_servers(binary, tmpdir, agents, ADDRESSES)
    s1, s2, s3 = servers
    everyone = {s.name: s.address for s in servers}
    registered = cluster.wait_until("every server in the catalog with serfHealth passing", lambda: catalog(s2) ==
                                    everyone and all(serf_health(s3, n) == "passing" for n in everyone), 20)
    log(f"catalog {catalog(s1)}, serfHealth passing for all, {registered:.2f}s after the election")

    # Crash one that is not the leader: it stays, critical.
    leader = cluster.agent_at(servers, cluster.agreed_leader(servers))
    crashed = next(s for s in servers if s is not leader)
    left = next(s for s in servers if s is not leader and s is not crashed)
    crashed.kill()
    critical = cluster.wait_until(f"serfHealth critical for {crashed.name}",
                                  lambda: serf_health(leader, crashed.name) == "critical", FAILED_SECONDS_MAX, 0.25)
    assert crashed.name in (catalog(leader) or {}), f"{crashed.name} left the catalog on a crash"
    assert serf_health(left, leader.name) == "passing"
    log(f"{crashed.name} killed: still in the catalog, serfHealth critical {critical:.2f}s later")

    # The other follower leaves: deregistered. (Once autopilot has removed the crashed server,
    # so the leader keeps a quorum: the crashed one and the leaver would be two of three.)
    cluster.wait_until(f"autopilot to remove {crashed.name} from raft",
                       lambda: crashed.name not in (leader.raft_servers() or {crashed.name: None}), 30, 0.25)
    code = left.signal_and_wait(signal.SIGINT)
    assert code == 0, f"{left.name} exited {code} on SIGINT"
    gone = cluster.wait_until(f"{left.name} deregistered", lambda: left.name not in (catalog(leader) or {left.name: 0}),
                              20, 0.25)
    log(f"{left.name} left: deregistered {gone:.2f}s after its exit; catalog now {catalog(leader)}")
    assert serf_health(leader, crashed.name) == "critical" and serf_health(leader, leader.name) == "passing"


if __name__ == "__main__":
    cluster.scenario(body)
