"""Scenario 5: a 4th and 5th server (-server, no -bootstrap-expect, -join an existing one) join
a 3-server cluster as non-voters and autopilot promotes each once it has been healthy for
ServerStabilizationTime (shortened to STABILIZATION through the HTTP API first); then one of
the five is killed with SIGKILL: writes still succeed, gossip marks it failed, and autopilot
(CleanupDeadServers) removes it from the raft configuration."""

import json
import time

import cluster
from cluster import Agent, log

ADDRESSES = ["127.0.0.116", "127.0.0.117", "127.0.0.118"]
LATE_ADDRESSES = ["127.0.0.119", "127.0.0.120"]
STABILIZATION_SECONDS = 3
# Autopilot looks every 2 s; a promotion comes within the stabilization time and two looks.
PROMOTION_SECONDS_MAX = 30
# Failure detection by gossip (probe, suspicion) and then autopilot's next look.
DEAD_SERVER_REMOVAL_SECONDS_MAX = 60
# Polls may miss a moment by this much.
POLL_SLACK_SECONDS = 0.5


def body(binary, tmpdir, agents):
    cluster.assert_ports_free(LATE_ADDRESSES)
    servers = cluster.start_servers(binary, tmpdir, agents, ADDRESSES)
    leader = cluster.agent_at(servers, cluster.agreed_leader(servers))

    status, body_bytes, _ = leader.http("GET", "/v1/operator/autopilot/configuration")
    assert status == 200, f"autopilot get-config: {status} {body_bytes!r}"
    config = json.loads(body_bytes)
    assert config["ServerStabilizationTime"] == "10s", f"default stabilization time: {config}"
    config["ServerStabilizationTime"] = f"{STABILIZATION_SECONDS}s"
    status, answer, _ = servers[1].http("PUT", "/v1/operator/autopilot/configuration", json.dumps(config))
    assert status == 200 and answer.strip() == b"true", f"autopilot set-config: {status} {answer!r}"
    seen = cluster.wait_until(
        "every server to read the new stabilization time",
        lambda: all((s.get_json("/v1/operator/autopilot/configuration?stale") or {}).get(
            "ServerStabilizationTime") == f"{STABILIZATION_SECONDS}s" for s in servers), 10)
    log(f"ServerStabilizationTime set to {STABILIZATION_SECONDS}s through a follower (on all in {seen:.2f}s)")

    late = []
    for i, address in enumerate(LATE_ADDRESSES, start=len(ADDRESSES) + 1):
        late.append(Agent(binary, f"s{i}", address, tmpdir, ["-join=" + ADDRESSES[0]]))
    agents.extend(late)
    for server in late:
        started = time.monotonic()
        server.start()
        nonvoter_at = None
        while True:
            voters = leader.raft_servers() or {}
            now = time.monotonic()
            if server.name in voters and not voters[server.name] and nonvoter_at is None:
                nonvoter_at = now
            if voters.get(server.name):
                promoted_at = now
                break
            assert now - started < PROMOTION_SECONDS_MAX, \
                f"{server.name} not promoted within {PROMOTION_SECONDS_MAX}s (configuration {voters})"
            time.sleep(0.1)
        assert nonvoter_at is not None, f"{server.name} was a voter without first being a non-voter"
        stable_for = promoted_at - nonvoter_at
        log(f"{server.name}: a non-voter {nonvoter_at - started:.2f}s after its start, a voter "
            f"{stable_for:.2f}s later (stabilization {STABILIZATION_SECONDS}s)")
        assert stable_for >= STABILIZATION_SECONDS - POLL_SLACK_SECONDS, \
            f"{server.name} promoted {stable_for:.2f}s after joining, before the stabilization time"
    servers = servers + late
    leader_log = leader.log_text()
    for server in late:
        assert f"Name: \"{server.name}\") to voter" in leader_log, f"no promotion line for {server.name}"
    assert leader_log.count("Updating configuration with AddNonvoter") >= 2, "no AddNonvoter lines"
    cluster.wait_until("all five voters everywhere",
                       lambda: all(s.raft_servers() == {f"s{i}": True for i in range(1, 6)} for s in servers), 20)
    # Autopilot's health is its last look (every 2 s), so it may trail the configuration.
    def healthy_five():
        health = leader.get_json("/v1/operator/autopilot/health")
        return health if health and health["Healthy"] and health["FailureTolerance"] == 2 and \
            sum(1 for s in health["Servers"] if s["Voter"]) == 5 else None
    cluster.wait_until("autopilot health: five healthy voters, FailureTolerance 2", healthy_five, 10)
    health = healthy_five()
    log(f"five voters; autopilot health: Healthy {health['Healthy']}, FailureTolerance {health['FailureTolerance']}")

    # Kill one voter that is not the leader.
    leader = cluster.agent_at(servers, cluster.agreed_leader(servers))
    victim = next(s for s in servers[1:] if s is not leader)
    survivors = [s for s in servers if s is not victim]
    killed_at = time.monotonic()
    victim.kill()
    for i, via in enumerate(survivors):
        assert via.put_kv(f"after-kill/{i}", via.name), f"write through {via.name} with one of five dead"
    log(f"writes through all four survivors acknowledged {time.monotonic() - killed_at:.2f}s after the kill")

    def removed():
        config = leader.raft_servers()
        return config is not None and victim.name not in config
    removed_after = cluster.wait_until(f"autopilot to remove {victim.name}", removed,
                                       DEAD_SERVER_REMOVAL_SECONDS_MAX, interval=0.2)
    status_seen = leader.members().get(victim.name)
    log(f"{victim.name} removed from the raft configuration {removed_after:.2f}s after SIGKILL "
        f"(its gossip status then: {status_seen}); configuration {leader.raft_servers()}")
    assert status_seen == 4, f"{victim.name} removed while its gossip status is {status_seen}, not failed (4)"
    assert f"name={victim.name}" in leader.log_text(), "no 'Attempting removal of failed server node' line"
    cluster.wait_until("four voters on every survivor",
                       lambda: all(s.raft_servers() == {n.name: True for n in survivors} for s in survivors), 20)
    assert survivors[0].put_kv("after-removal", "ok"), "write after the removal"
    assert sorted(leader.get_json("/v1/status/peers")) == sorted(s.rpc_address() for s in survivors)

    # The removed server restarted from its data dir: back as a non-voter, promoted, caught up.
    restarted = time.monotonic()
    victim.start()
    saw_nonvoter = False
    while True:
        config = leader.raft_servers() or {}
        if config.get(victim.name) is False:
            saw_nonvoter = True
        if config.get(victim.name) is True:
            break
        assert time.monotonic() - restarted < PROMOTION_SECONDS_MAX, \
            f"{victim.name} not a voter again within {PROMOTION_SECONDS_MAX}s: {config}"
        time.sleep(0.1)
    assert saw_nonvoter, f"{victim.name} came back a voter without being a non-voter first"
    cluster.wait_until(f"{victim.name} to hold the writes made without it",
                       lambda: "after-removal" in (victim.stale_kv("after-") or {}), 20)
    log(f"{victim.name} restarted after its removal: a non-voter, then a voter "
        f"{time.monotonic() - restarted:.2f}s after its start, with the writes made without it")


if __name__ == "__main__":
    cluster.scenario(body)
