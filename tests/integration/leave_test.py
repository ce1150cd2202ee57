"""Scenario 6: SIGINT makes a member *left*, not *failed*. A follower that gets SIGINT leaves
gracefully and exits 0; the other servers' /v1/agent/members show it with Status 3 (left) and
keep showing that, never 4 (failed), for longer than gossip takes to call a silent member
failed. Then the leader gets SIGINT: it too exits 0 and is shown left, and the one remaining
server leads and takes writes."""

import signal
import time

import cluster
from cluster import log

ADDRESSES = ["127.0.0.122", "127.0.0.123", "127.0.0.124"]
STATUS_ALIVE, STATUS_LEFT, STATUS_FAILED = 1, 3, 4
# Longer than a killed member takes to be marked failed (the autopilot scenario measures ~8 s).
WATCH_AFTER_LEAVE_SECONDS = 10.0
LEFT_SEEN_SECONDS_MAX = 10.0


def leave(member, others, watch_seconds):
    started = time.monotonic()
    code = member.signal_and_wait(signal.SIGINT)
    exited = time.monotonic() - started
    assert code == 0, f"{member.name} exited {code} after SIGINT, not 0"
    text = member.log_text()
    assert "Caught signal: interrupt" in text, f"{member.name} did not log the signal"
    assert "Graceful" in text, f"{member.name} logged no graceful leave"
    seen = cluster.wait_until(f"every other server to show {member.name} as left",
                              lambda: all((o.members() or {}).get(member.name) == STATUS_LEFT for o in others),
                              LEFT_SEEN_SECONDS_MAX)
    log(f"{member.name} exited 0 {exited:.2f}s after SIGINT; shown left by all others {seen:.2f}s later")
    deadline = time.monotonic() + watch_seconds
    polls = 0
    while time.monotonic() < deadline:
        for other in others:
            status = (other.members() or {}).get(member.name)
            assert status == STATUS_LEFT, f"{other.name} shows {member.name} with status {status}, not left (3)"
        polls += 1
        time.sleep(0.5)
    log(f"{member.name} still left (3), never failed (4), on all others for {watch_seconds}s ({polls} polls)")


def body(binary, tmpdir, agents):
    servers = cluster.start_servers(binary, tmpdir, agents, ADDRESSES)
    leader = cluster.agent_at(servers, cluster.agreed_leader(servers))
    follower = next(s for s in servers if s is not leader)
    others = [s for s in servers if s is not follower]
    leave(follower, others, WATCH_AFTER_LEAVE_SECONDS)
    log(f"raft configuration after {follower.name} left: {leader.raft_servers()}")
    assert leader.put_kv("after-follower-left", "ok"), "write after a follower left"

    last = next(s for s in others if s is not leader)
    leave(leader, [last], 2.0)
    log(f"raft configuration after the leader {leader.name} left: {last.raft_servers()}")
    elapsed = cluster.wait_until(f"{last.name} to lead alone", lambda: last.leader() == last.rpc_address(), 20)
    assert last.put_kv("after-leader-left", "ok"), f"write through {last.name} alone"
    log(f"{last.name} leads {elapsed:.2f}s after the leader left; write acknowledged")
    members = last.members()
    assert members == {follower.name: STATUS_LEFT, leader.name: STATUS_LEFT, last.name: STATUS_ALIVE}, members


if __name__ == "__main__":
    cluster.scenario(body)
