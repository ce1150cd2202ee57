"""IPv6: three servers on [::1] (-bind=::1 -client=::1, each on its own ports, since loopback
has one IPv6 address) bootstrap with -bootstrap-expect=3 and -retry-join=[::1]:PORT, name one
leader in brackets ("[::1]:29300"), show "::1" members, forward a write from a follower, and
elect a new leader after the leader's SIGKILL."""

import time

import cluster
from cluster import log

ADDRESS = "::1"
# Server i: RPC 29300+10i, LAN +1, WAN +2, HTTP 29500+10i (no other test uses 29300-29529).
PORTS = [{"server": 29300 + 10 * i, "serf-lan": 29301 + 10 * i, "serf-wan": 29302 + 10 * i,
          "http": 29500 + 10 * i, "dns": 29600 + 10 * i} for i in range(3)]
NEW_LEADER_SECONDS_MAX = 5.0


def body(binary, tmpdir, agents):
    servers = cluster.start_servers(binary, tmpdir, agents, [ADDRESS] * 3, ports=PORTS)
    leader_address = cluster.agreed_leader(servers)
    assert leader_address.startswith("[::1]:"), f"leader {leader_address!r}"
    peers = servers[0].get_json("/v1/status/peers")
    assert sorted(peers) == sorted(s.rpc_address() for s in servers), f"peers {peers}"
    members = servers[1].get_json("/v1/agent/members")
    assert sorted((m["Name"], m["Addr"], m["Port"], m["Status"]) for m in members) == \
        sorted((s.name, ADDRESS, s.ports["serf-lan"], 1) for s in servers), f"members {members}"

    leader = cluster.agent_at(servers, leader_address)
    follower = next(s for s in servers if s is not leader)
    assert follower.put_kv("v6/key", "over IPv6"), f"write through {follower.name}"
    cluster.wait_until("every server to hold the write",
                       lambda: all(s.stale_kv("v6/") == {"v6/key": "over IPv6"} for s in servers), 10)
    log(f"leader {leader_address}; a write through {follower.name} read back on all three")

    survivors = [s for s in servers if s is not leader]
    leader.kill()

    def new_leader():
        agreed = cluster.agreed_leader(survivors)
        return agreed if agreed and agreed != leader_address else None
    elapsed = cluster.wait_until("a new leader over IPv6", new_leader, 30, interval=0.05)
    log(f"new leader {new_leader()} {elapsed:.2f}s after the leader's SIGKILL")
    assert elapsed <= NEW_LEADER_SECONDS_MAX, f"new leader after {elapsed:.2f}s"
    assert survivors[0].put_kv("v6/after", "ok"), "write after the kill"


if __name__ == "__main__":
    cluster.scenario(body)
