"""The CLI against a real cluster: `muster operator raft list-peers` shows every server's node
name, node ID (its raft ID) and address, one leader and all voters; `muster members` shows the
three alive servers; `muster kv put` through one server is read by `muster kv get` through
another; `muster operator raft remove-peer -id` takes a crashed follower out of the raft
configuration; `muster leave` makes the agent leave and exit 0, and members shows it left."""

import subprocess

import cluster
from cluster import log

ADDRESSES = ["127.0.0.132", "127.0.0.133", "127.0.0.134"]
CLI_TIMEOUT_SECONDS = 20


def cli(binary, agent, command, *args):
    """(exit code, stdout, stderr) of `muster <command> -http-addr=<agent's> <args>`; the
    address goes right after the command's words, as Go's flag parsing wants flags first."""
    argv = [binary] + command.split() + [f"-http-addr={agent.address}:{cluster.HTTP_PORT}"] + list(args)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS)
    log(f"$ muster {' '.join(argv[1:])} -> exit {done.returncode}")
    for line in (done.stdout + done.stderr).splitlines():
        log(f"    {line}")
    return done.returncode, done.stdout, done.stderr


def body(binary, tmpdir, agents):
    servers = cluster.start_servers(binary, tmpdir, agents, ADDRESSES)
    leader_address = cluster.agreed_leader(servers)
    config = servers[0].get_json("/v1/operator/raft/configuration")

    code, out, _ = cli(binary, servers[1], "operator raft list-peers")
    assert code == 0, f"list-peers exit {code}"
    lines = out.splitlines()
    assert lines[0].split() == ["Node", "ID", "Address", "State", "Voter", "RaftProtocol"], lines[0]
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert set(rows) == {"s1", "s2", "s3"}, f"list-peers rows: {rows}"
    for server in config["Servers"]:
        row = rows[server["Node"]]
        assert row[1] == server["ID"], f"{server['Node']}: ID {row[1]} in list-peers, {server['ID']} in the API"
        assert row[2] == server["Address"], f"{server['Node']}: address {row[2]}"
        assert row[3] == ("leader" if server["Address"] == leader_address else "follower"), row
        assert row[4] == "true", row
    log(f"list-peers names every server with its node ID; leader {leader_address}")

    code, out, _ = cli(binary, servers[2], "members")
    assert code == 0, f"members exit {code}"
    member_rows = {l.split()[0]: l.split() for l in out.splitlines()[1:]}
    assert set(member_rows) == {"s1", "s2", "s3"}, member_rows
    for server in servers:
        row = member_rows[server.name]
        assert row[1] == f"{server.address}:{cluster.LAN_PORT}" and row[2] == "alive" and row[3] == "server", row

    code, out, _ = cli(binary, servers[0], "kv put", "cli/key", "from the CLI")
    assert code == 0 and "Success! Data written to: cli/key" in out, (code, out)
    cluster.wait_until("s3 to hold the key", lambda: servers[2].stale_kv("cli/") == {"cli/key": "from the CLI"}, 10)
    code, out, _ = cli(binary, servers[2], "kv get", "cli/key")
    assert code == 0 and out == "from the CLI\n", (code, out)
    code, out, err = cli(binary, servers[2], "kv get", "cli/missing")
    assert code == 1 and "No key exists at: cli/missing" in out + err, (code, out, err)

    # remove-peer of a crashed follower, before gossip and autopilot get to it.
    followers = [s for s in servers if s.rpc_address() != leader_address]
    crashed, follower = followers
    crashed.kill()
    crashed_id = next(s["ID"] for s in config["Servers"] if s["Node"] == crashed.name)
    code, out, _ = cli(binary, follower, "operator raft remove-peer", f"-id={crashed_id}")
    assert code == 0 and f'Removed peer with id "{crashed_id}"' in out, (code, out)
    code, out, _ = cli(binary, follower, "operator raft list-peers")
    assert code == 0 and crashed.name not in {l.split()[0] for l in out.splitlines()[1:]}, out
    leader = cluster.agent_at(servers, leader_address)
    assert set(leader.raft_servers() or {}) == {s.name for s in servers if s is not crashed}, leader.raft_servers()

    code, out, _ = cli(binary, follower, "leave")
    assert code == 0 and "Graceful leave complete" in out, (code, out)
    exit_code = follower.process.wait(timeout=cluster.EXIT_TIMEOUT_SECONDS)
    follower.process = None
    assert exit_code == 0, f"{follower.name} exited {exit_code} after `muster leave`"
    other = leader
    cluster.wait_until(f"members to show {follower.name} left",
                       lambda: (other.members() or {}).get(follower.name) == 3, 10)
    code, out, _ = cli(binary, other, "members")
    assert code == 0 and any(l.split()[:3] == [follower.name, f"{follower.address}:{cluster.LAN_PORT}", "left"]
                             for l in out.splitlines()), out


if __name__ == "__main__":
    cluster.scenario(body)
