"""Client agent benchmarks (issue 13): an idle client's memory, and a client with 1,000
services and 3,000 checks (CPU per second and memory), beside Debian's `serf` agent.

  /usr/bin/python3 bench/client_agent_bench.py bazel-out/k8-fastbuild/bin/cmd/muster [seconds]

Idle: one server (127.0.8.10) and one client (127.0.8.11) joined to it; after SETTLE_SECONDS
the client's VmRSS, RssAnon, RssFile, Pss and threads (/proc/PID/status, smaps_rollup) and its
largest mappings by Rss (smaps). Serf: `serf agent` on 127.0.8.12, a second joined to it on
127.0.8.13, the second measured the same way (skipped, and said so, when serf is not installed).
Loaded: the same client gets 1,000 services, each with a TTL check (10 min), a TCP check and an
HTTP check (interval 10 s, timeout 2 s) against this script's own HTTP server on 127.0.8.14;
once every check has run, its CPU over `seconds` (default 60) from /proc/PID/stat (utime +
stime) and its memory again. Loopback addresses 127.0.8.10-14 (bench/client_agent_idle_bench.py
takes 127.0.8.20-23). An idle client's memory mapping by mapping: that script.
"""

import collections
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import cluster  # noqa: E402
from cluster import log  # noqa: E402

SERVER_ADDRESS = "127.0.8.10"
CLIENT_ADDRESS = "127.0.8.11"
SERF_ADDRESSES = ["127.0.8.12", "127.0.8.13"]
PROBED_ADDRESS = "127.0.8.14"
PROBED_PORT = 18081
# Past the agent's release of its startup pages, 30-31 s after its start (io/resident_pages.h);
# serf is measured after as long.
SETTLE_SECONDS = 60
SERVICES = 1000
CHECK_INTERVAL = "10s"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def memory(pid):
    """VmRSS, RssAnon, RssFile, Threads (kB / count) and Pss (kB) of a process."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "Threads"):
                out[key] = int(value.split()[0])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1])
    return out


def top_mappings(pid, count=8):
    """[(Rss kB, name)] of the largest mappings, by file (anonymous ones as [anon], [heap], ...)."""
    rss = collections.Counter()
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
            elif line.startswith("Rss:"):
                rss[name] += int(line.split()[1])
    return [(kb, n) for n, kb in rss.most_common(count)]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def describe(label, pid):
    m = memory(pid)
    log(f"{label}: VmRSS {m['VmRSS'] / 1024:.1f} MB (anon {m['RssAnon'] / 1024:.1f}, file "
        f"{m['RssFile'] / 1024:.1f}), Pss {m['Pss'] / 1024:.1f} MB, {m['Threads']} threads")
    log(f"{label}: largest mappings: " + ", ".join(f"{n} {kb / 1024:.1f}" for kb, n in top_mappings(pid)))
    return m


class Probed(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def measure_serf(tmpdir):
    serf = shutil.which("serf")
    if serf is None:
        log("serf: not installed (apt-get install -y serf), not measured")
        return None
    procs = []
    try:
        for i, address in enumerate(SERF_ADDRESSES):
            args = [serf, "agent", f"-node=serf{i + 1}", f"-bind={address}:7946", f"-rpc-addr={address}:7373"]
            if i > 0:
                args.append(f"-join={SERF_ADDRESSES[0]}:7946")
            out = open(os.path.join(tmpdir, f"serf{i + 1}.log"), "wb")
            procs.append(subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
            time.sleep(1)
        time.sleep(SETTLE_SECONDS)
        members = subprocess.run([serf, "members", f"-rpc-addr={SERF_ADDRESSES[1]}:7373"], capture_output=True,
                                 text=True, timeout=10).stdout
        assert members.count("alive") == 2, f"serf agents did not join: {members}"
        return describe("serf agent (joined one other, idle)", procs[1].pid)
    finally:
        for p in procs:
            p.kill()
            p.wait()


def register_all(client):
    started = time.monotonic()
    for i in range(SERVICES):
        body = {"ID": f"svc-{i}", "Name": f"svc-{i % 50}", "Port": 20000 + i, "Checks": [
            {"CheckID": f"ttl-{i}", "TTL": "10m"},
            {"CheckID": f"tcp-{i}", "TCP": f"{PROBED_ADDRESS}:{PROBED_PORT}", "Interval": CHECK_INTERVAL, "Timeout": "2s"},
            {"CheckID": f"http-{i}", "HTTP": f"http://{PROBED_ADDRESS}:{PROBED_PORT}/{i}", "Interval": CHECK_INTERVAL,
             "Timeout": "2s"},
        ]}
        status, answer, _ = client.http("PUT", "/v1/agent/service/register", json.dumps(body))
        assert status == 200, f"register svc-{i}: {status} {answer!r}"
    log(f"{SERVICES} services and {3 * SERVICES} checks registered in {time.monotonic() - started:.1f}s")


def own_copy(binary, tmpdir, name):
    """A copy of the binary for one agent alone, as on a host that runs one agent: the page
    cache of a binary that other processes map holds large folios, which a fault maps whole
    (io/resident_pages.h), so agents sharing one file would each show the others' code."""
    path = os.path.join(tmpdir, f"muster-{name}")
    shutil.copyfile(binary, path)
    os.chmod(path, 0o755)
    return path


def body(binary, tmpdir, agents, seconds):
    results = {}
    results["serf"] = measure_serf(tmpdir)
    # Each agent from its own copy of the binary, as on hosts that run one agent each.
    servers = cluster.start_servers(own_copy(binary, tmpdir, "server"), tmpdir, agents, [SERVER_ADDRESS])
    (client,) = cluster.start_clients(own_copy(binary, tmpdir, "client"), tmpdir, agents, [CLIENT_ADDRESS], join=servers,
                                      extra_args=["-log-level=INFO"])
    time.sleep(SETTLE_SECONDS)
    results["idle"] = describe("muster client (joined one server, idle)", client.process.pid)
    results["idle_server"] = describe("muster server (one, with one client)", servers[0].process.pid)

    probed = Probed((PROBED_ADDRESS, PROBED_PORT), Ok)
    threading.Thread(target=probed.serve_forever, daemon=True).start()
    try:
        register_all(client)
        # Every interval check has run once (they are staggered over the interval) and the
        # catalog has them all passing but the TTL ones.
        def settled():
            checks = client.get_json("/v1/agent/checks") or {}
            passing = sum(1 for c in checks.values() if c["Status"] == "passing")
            return len(checks) == 3 * SERVICES and passing == 2 * SERVICES
        took = cluster.wait_until("every TCP and HTTP check passing", settled, 60, 1.0)
        log(f"all {2 * SERVICES} TCP and HTTP checks passing {took:.1f}s after the registrations")
        pid = client.process.pid
        cpu0, server_cpu0, t0 = cpu_seconds(pid), cpu_seconds(servers[0].process.pid), time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        client_cpu = (cpu_seconds(pid) - cpu0) / elapsed
        server_cpu = (cpu_seconds(servers[0].process.pid) - server_cpu0) / elapsed
        log(f"loaded client: {client_cpu * 1000:.1f} ms CPU per second over {elapsed:.0f}s "
            f"({2 * SERVICES / 10:.0f} probes/s); the server {server_cpu * 1000:.1f} ms/s")
        results["loaded"] = describe("muster client (1,000 services, 3,000 checks)", pid)
        results["loaded_cpu_ms_per_s"] = client_cpu * 1000
        results["loaded_server_cpu_ms_per_s"] = server_cpu * 1000
        assert client.running(), "the client died under load"
    finally:
        probed.shutdown()
        probed.server_close()
    print("RESULTS " + json.dumps(results), flush=True)


if __name__ == "__main__":
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    sys.argv = sys.argv[:2]
    cluster.scenario(lambda binary, tmpdir, agents: body(binary, tmpdir, agents, seconds))
