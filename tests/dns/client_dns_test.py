"""DNS on a client agent (issue 15): the client holds no catalog, so its `dns.query` reads are
forwarded to a server like any read (stale by default) and its answers are the server's; a
service registered on the client itself (anti-entropy syncs it) answers through the client's
own DNS. Loopback 127.0.4.5 (one server, -bootstrap-expect=1) and 127.0.4.6 (the client)."""

import json
import os
import subprocess
import sys

# tests/integration's cluster.py (beside this folder, in the tree and in Bazel's runfiles).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402
from cluster import log  # noqa: E402

SERVER = "127.0.4.5"
CLIENT = "127.0.4.6"


def dig_short(address, *args):
    cmd = ["dig", f"@{address}", "-p", "8600", "+tries=1", "+time=3", "+short"] + list(args)
    return sorted(subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.split())


def body(binary, tmpdir, agents):
    servers = cluster.start_servers(binary, tmpdir, agents, [SERVER])
    clients = cluster.start_clients(binary, tmpdir, agents, [CLIENT], join=servers)
    server, client = servers[0], clients[0]
    code, text, _ = server.http("PUT", "/v1/catalog/register", json.dumps(
        {"Node": "ext1", "Address": "10.9.0.1", "Service": {"Service": "db", "Port": 5432}}))
    assert code == 200, text
    cluster.wait_until("the client's DNS answering from the server",
                       lambda: dig_short(CLIENT, "db.service.consul") == ["10.9.0.1"], 15)
    assert dig_short(CLIENT, "db.service.consul", "SRV") == ["1", "1", "5432", "ext1.node.dc1.consul."]
    log("a client agent's DNS answers from the server's catalog")

    code, text, _ = client.http("PUT", "/v1/agent/service/register", json.dumps({"Name": "api", "Port": 9000}))
    assert code == 200, text
    cluster.wait_until("the client's own service in DNS", lambda: dig_short(CLIENT, "api.service.consul") == [CLIENT],
                       15)
    assert dig_short(SERVER, "api.service.consul") == [CLIENT]
    assert dig_short(CLIENT, f"{client.name}.node.consul") == [CLIENT]
    log("the client's own service answers through both agents' DNS")


if __name__ == "__main__":
    cluster.scenario(body)
