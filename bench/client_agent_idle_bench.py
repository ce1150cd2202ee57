"""An idle client agent's resident memory, mapping by mapping (issue 13: goal under 4 MB VmRSS).

  /usr/bin/python3 bench/client_agent_idle_bench.py bazel-out/k8-opt/bin/cmd/muster [seconds]

One `muster agent -server` (127.0.8.20) and one client (127.0.8.21, -retry-join to it); the
client gets one service with one check (a TTL check, passed once: a client's usual idle work is
a sync now and then, not probes), then sits idle for `seconds` (default 150: past the agent's
release of its startup pages at 30-31 s after its start (io/resident_pages.h) and two
anti-entropy full syncs, so what is resident is the idle working set). Then its VmRSS,
RssAnon, RssFile (/proc/PID/status) and, per mapped file (smaps), what is resident: the pages
read from the file (file-backed, shared with any other process mapping it) and the private
copies written at load (anonymous: relocations, .data, .bss), with the heap, stacks and other
anonymous mappings on their own lines. A second client (127.0.8.22) with one HTTP check
instead shows what the first HTTP probe adds (libcurl and its TLS libraries). Loopback
127.0.8.20-23 (this benchmark's range).
"""

import collections
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import cluster  # noqa: E402
from cluster import log  # noqa: E402
from client_agent_bench import Ok, Probed, own_copy  # noqa: E402  (the probed test server, shared)

SERVER_ADDRESS = "127.0.8.20"
CLIENT_ADDRESS = "127.0.8.21"
HTTP_CLIENT_ADDRESS = "127.0.8.22"
PROBED_ADDRESS = "127.0.8.23"
PROBED_PORT = 18081
# Mappings under this many kB are summed into one "other" line.
MAPPING_SHOWN_KB_MIN = 64


def status(pid):
    """VmRSS, RssAnon, RssFile (kB) and Threads of a process."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
                out[key] = int(value.split()[0])
    return out


def mappings(pid):
    """{name: [Rss kB, Anonymous kB]} by mapped file's base name ([heap], [stack], [anon], ...)."""
    sizes = collections.defaultdict(lambda: [0, 0])
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
            elif line.startswith("Rss:"):
                sizes[name][0] += int(line.split()[1])
            elif line.startswith("Anonymous:"):
                sizes[name][1] += int(line.split()[1])
    return sizes


def describe(label, pid):
    s = status(pid)
    log(f"{label}: VmRSS {s['VmRSS'] / 1024:.2f} MB (anon {s['RssAnon'] / 1024:.2f}, file "
        f"{s['RssFile'] / 1024:.2f}, shmem {s['RssShmem'] / 1024:.2f}), {s['Threads']} threads")
    rows = sorted(mappings(pid).items(), key=lambda item: -item[1][0])
    other = [0, 0]
    log(f"  {'mapping':32} {'rss kB':>8} {'file kB':>8} {'anon kB':>8}")
    for name, (rss, anon) in rows:
        if rss < MAPPING_SHOWN_KB_MIN:
            other[0] += rss
            other[1] += anon
            continue
        log(f"  {name[:32]:32} {rss:8} {rss - anon:8} {anon:8}")
    log(f"  {'(the rest)':32} {other[0]:8} {other[0] - other[1]:8} {other[1]:8}")
    return {"status": s, "mappings": {name: sizes for name, sizes in rows}}


def register(client, check):
    body = {"ID": "web", "Name": "web", "Port": 8080, "Checks": [check]}
    code, answer, _ = client.http("PUT", "/v1/agent/service/register", json.dumps(body))
    assert code == 200, f"register: {code} {answer!r}"


def body(binary, tmpdir, agents, seconds):
    probed = Probed((PROBED_ADDRESS, PROBED_PORT), Ok)
    threading.Thread(target=probed.serve_forever, daemon=True).start()
    try:
        servers = cluster.start_servers(own_copy(binary, tmpdir, "server"), tmpdir, agents, [SERVER_ADDRESS])
        (client,) = cluster.start_clients(own_copy(binary, tmpdir, "client"), tmpdir, agents, [CLIENT_ADDRESS],
                                          join=servers, extra_args=["-log-level=INFO"])
        (http_client,) = cluster.start_clients(own_copy(binary, tmpdir, "http-client"), tmpdir, agents,
                                               [HTTP_CLIENT_ADDRESS], join=servers, names=["c2"],
                                               extra_args=["-log-level=INFO"])
        register(client, {"CheckID": "web-ttl", "TTL": "10m"})
        code, answer, _ = client.http("PUT", "/v1/agent/check/pass/web-ttl")
        assert code == 200, f"pass: {code} {answer!r}"
        register(http_client, {"CheckID": "web-http", "HTTP": f"http://{PROBED_ADDRESS}:{PROBED_PORT}/",
                               "Interval": "10s", "Timeout": "2s"})

        def in_catalog():
            nodes = servers[0].get_json("/v1/health/service/web") or []
            return sorted(n["Node"]["Node"] for n in nodes
                          if all(c["Status"] == "passing" for c in n["Checks"])) == ["c1", "c2"]
        cluster.wait_until("both clients' service passing in the catalog", in_catalog, 30, 0.5)
        time.sleep(seconds)
        assert client.running() and http_client.running(), "a client died while idle"
        results = {
            "client_ttl": describe("muster client (one service, one TTL check, idle)", client.process.pid),
            "client_http": describe("muster client (one service, one HTTP check every 10 s)", http_client.process.pid),
            "server": describe("muster server (one, with the two clients)", servers[0].process.pid),
        }
    finally:
        probed.shutdown()
        probed.server_close()
    print("RESULTS " + json.dumps(results), flush=True)


if __name__ == "__main__":
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 150.0
    sys.argv = sys.argv[:2]
    cluster.scenario(lambda binary, tmpdir, agents: body(binary, tmpdir, agents, seconds))
