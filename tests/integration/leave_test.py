"""Scenario 6: SIGINT makes a member *left*, not *failed*. The leader of three gets SIGINT: it
hands leadership to another ("leadership transfer to ..."), leaves gracefully, exits 0, is no
longer a raft peer, and the others' /v1/agent/members show it with Status 3 (left) and keep
showing that, never 4 (failed), for longer than gossip takes to call a silent member failed.
Then a follower of the two gets SIGINT: it too exits 0 and is shown left, and the one remaining
server leads alone and takes writes."""

import signal
import threading
import time

import cluster
from cluster import log

ADDRESSES = ["127.0.0.122", "127.0.0.123", "127.0.0.124"]
STATUS_ALIVE, STATUS_LEFT, STATUS_FAILED = 1, 3, 4
# Longer than a killed member takes to be marked failed (the autopilot scenario measures ~8 s).
WATCH_AFTER_LEAVE_SECONDS = 8.0
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
    others = [s for s in servers if s is not leader]

    # The leader leaves: it hands leadership over first, so the others need no election timeout.
    watcher_result = {}

    def watch_new_leader():
        watcher_result["seconds"] = cluster.wait_until(
            "a new leader after the leader's SIGINT",
            lambda: (lambda l: l if l and l != leader.rpc_address() else None)(cluster.agreed_leader(others)),
            20, interval=0.05)
    watcher = threading.Thread(target=watch_new_leader, daemon=True)
    watcher.start()
    leave(leader, others, WATCH_AFTER_LEAVE_SECONDS)
    watcher.join(timeout=20)
    assert "seconds" in watcher_result, "no new leader after the leader left"
    assert "leadership transfer to" in leader.log_text(), "the leaving leader did not transfer leadership"
    log(f"the leaving leader {leader.name} transferred leadership: both others named "
        f"{cluster.agreed_leader(others)} {watcher_result['seconds']:.2f}s after its SIGINT")
    log(f"raft configuration after {leader.name} left: {others[0].raft_servers()}")
    assert set(others[0].raft_servers() or {}) == {s.name for s in others}, "the leader that left is still a peer"
    assert others[0].put_kv("after-leader-left", "ok"), "write after the leader left"

    # Then a follower of the two.
    new_leader = cluster.agent_at(others, cluster.agreed_leader(others))
    follower = next(s for s in others if s is not new_leader)
    leave(follower, [new_leader], 2.0)
    elapsed = cluster.wait_until(f"{new_leader.name} to lead alone",
                                 lambda: new_leader.leader() == new_leader.rpc_address(), 20)
    assert new_leader.raft_servers() == {new_leader.name: True}, new_leader.raft_servers()
    assert new_leader.put_kv("after-follower-left", "ok"), f"write through {new_leader.name} alone"
    log(f"{new_leader.name} leads alone {elapsed:.2f}s after the follower left; write acknowledged")
    members = new_leader.members()
    assert members == {follower.name: STATUS_LEFT, leader.name: STATUS_LEFT, new_leader.name: STATUS_ALIVE}, members


if __name__ == "__main__":
    cluster.scenario(body)
