"""Identity: two agents with one node name or one node ID are refused, and the cluster keeps the
first. A fourth server named like s1 (on its own address) is shown a conflict in the logs
while every server keeps s1 alive at its own address and the raft configuration is unchanged;
a fourth server with s1's node ID under a new name is refused at -join with a line naming the
conflicting ID, exits 1, and never appears in members or the raft configuration."""

import subprocess
import time

import cluster
from cluster import Agent, log

ADDRESSES = ["127.0.0.136", "127.0.0.137", "127.0.0.138"]
NEWCOMER_ADDRESS = "127.0.0.139"
# How long the cluster is watched for the newcomer's effect.
WATCH_SECONDS = 5.0
# Longer than gossip takes to call a silent member failed (~5.3 s in signals_test).
TWIN_DEATH_WATCH_SECONDS = 8.0
# The newcomer must give up at once, well before -join's own 10 s wait for a seed.
REFUSAL_SECONDS_MAX = 8.0


def watch_unchanged(servers, before_members, before_raft, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for s in servers:
            members = s.get_json("/v1/agent/members") or []
            ours = {(m["Name"], m["Addr"], m["Status"]) for m in members}
            assert before_members <= ours, f"{s.name} lost an original member: {sorted(ours)}"
            assert s.raft_servers() == before_raft, f"{s.name}'s raft configuration changed: {s.raft_servers()}"
        time.sleep(0.5)


def body(binary, tmpdir, agents):
    cluster.assert_ports_free([NEWCOMER_ADDRESS])
    servers = cluster.start_servers(binary, tmpdir, agents, ADDRESSES)
    leader = cluster.agreed_leader(servers)
    config = servers[0].get_json("/v1/operator/raft/configuration")
    s1_id = next(s["ID"] for s in config["Servers"] if s["Node"] == "s1")
    before_members = {(s.name, s.address, 1) for s in servers}
    before_raft = servers[0].raft_servers()

    # One name twice.
    twin = Agent(binary, "s1", NEWCOMER_ADDRESS, tmpdir + "/twin-name", ["-join=" + ADDRESSES[1]])
    agents.append(twin)
    twin.start()
    watch_unchanged(servers, before_members, before_raft, WATCH_SECONDS)
    conflict = "conflicting address for s1"
    assert any(conflict in s.log_text() for s in servers), f"no server logged {conflict!r}"
    assert conflict in twin.log_text(), f"the newcomer did not log {conflict!r}"
    for s in servers:
        s1 = [m for m in s.get_json("/v1/agent/members") if m["Name"] == "s1"]
        assert [(m["Addr"], m["Status"]) for m in s1] == [(ADDRESSES[0], 1)], f"{s.name} shows s1 as {s1}"
    assert cluster.agreed_leader(servers) == leader, "the leader changed"
    log(f"a second s1 at {NEWCOMER_ADDRESS}: the cluster keeps s1 at {ADDRESSES[0]} for {WATCH_SECONDS}s, "
        f"both sides log {conflict!r}")
    twin.kill()
    # The twin's death must not be taken for s1's (longer than gossip takes to call one failed).
    watch_unchanged(servers, before_members, before_raft, TWIN_DEATH_WATCH_SECONDS)
    log(f"after the second s1 was killed, s1 stayed alive everywhere for {TWIN_DEATH_WATCH_SECONDS}s")

    # One node ID twice.
    clone = Agent(binary, "s4", NEWCOMER_ADDRESS, tmpdir + "/twin-id", ["-node-id=" + s1_id, "-join=" + ADDRESSES[1]])
    agents.append(clone)
    clone.start()
    try:
        code = clone.process.wait(timeout=REFUSAL_SECONDS_MAX)
    except subprocess.TimeoutExpired:
        code = None
    members_seen = servers[1].members()
    raft_seen = servers[1].get_json("/v1/operator/raft/configuration")
    assert code not in (None, 0), (f"s4 with s1's node ID still running after {REFUSAL_SECONDS_MAX}s "
                                   f"(members {members_seen}, raft {raft_seen})")
    clone.process = None
    assert f"conflicting node ID" in clone.log_text() and s1_id in clone.log_text(), \
        "the refused server's output does not name the conflicting node ID"
    time.sleep(1.0)
    stopped = [s.name for s in servers if not s.running()]
    assert not stopped, f"incumbent servers stopped over the newcomer's duplicate ID: {stopped}"
    watch_unchanged(servers, before_members, before_raft, 2.0)
    # Whether the incumbent saw s4 in its LAN pool (and warned) before s4 gave up is a race.
    incumbent_warned = f'member "s4" has conflicting node ID {s1_id}' in servers[0].log_text()
    s4_status = servers[1].members().get("s4")
    names = {s["ID"]: s["Node"] for s in servers[0].get_json("/v1/operator/raft/configuration")["Servers"]}
    assert names[s1_id] == "s1", f"s1's raft ID is shown as {names[s1_id]}"
    log(f"s4 with s1's node ID refused: exit {code}; the incumbents keep running, raft configuration "
        f"unchanged; s1 warned: {incumbent_warned}; s4's gossip status afterwards: {s4_status}")


if __name__ == "__main__":
    cluster.scenario(body)
