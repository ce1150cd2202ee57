#!/usr/bin/env python3
"""Parked blocking queries on one `muster agent -dev`: their memory, and how fast they all return.

Starts a dev agent on 127.0.0.215, writes the keys bench/park/k<i>, opens keep-alive
connections, reads each key once (its X-Consul-Index), then parks GET
/v1/kv/bench/park/k<i>?index=<that>&wait=5m on every one. Reports the agent's VmRSS before
the connections, with them idle, and with every query parked (bytes per connection and per
parked query). Then it writes one key (exactly one query should answer; the client parks it
again, as a watch loop does) and deletes the prefix recursively (one raft entry that touches
every key): every query must answer with an index above the one it parked on; it reports how
long the first, the median and the last took.

  bazel build -c opt //cmd:muster
  bench/blocking_bench.py --muster=bazel-out/k8-opt/bin/cmd/muster [--connections=4000]
      [--per-connection=1]
--per-connection=M pipelines M parked queries on each connection (io/http answers in order).
A benchmark, not a test: figures go to bench/http_api_bench_results.md.
"""

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.215"
PORT = 8500
PREFIX = "bench/park/"


def cpu_seconds(pid):
    """User plus system CPU time the process has used (/proc/<pid>/stat utime + stime)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Connection:
    """One keep-alive HTTP/1.1 connection; answers are read in request order."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls):
        reader, writer = await asyncio.open_connection(HOST, PORT)
        return cls(reader, writer)

    def send(self, method, path, body=b""):
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)

    async def answer(self):
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body

    async def request(self, method, path, body=b""):
        self.send(method, path, body)
        await self.writer.drain()
        return await self.answer()


class Watcher:
    """The parked queries of one connection, and the answers they got."""

    def __init__(self, connection, keys):
        self.connection = connection
        self.keys = keys
        self.index = {}
        self.pending = []  # keys in the order their queries were sent
        self.answers = []  # (key, monotonic time, status, new index, index it parked on)

    def park(self, key):
        self.pending.append(key)
        self.connection.send("GET", f"/v1/kv/{PREFIX}{key}?index={self.index[key]}&wait=5m")

    async def run(self, state):
        for key in self.keys:
            self.park(key)
        await self.connection.writer.drain()
        while self.pending:
            status, headers, _ = await self.connection.answer()
            key = self.pending.pop(0)
            new_index = int(headers.get("x-consul-index", "0"))
            self.answers.append((key, time.monotonic(), status, new_index, self.index[key]))
            self.index[key] = new_index
            if not state["final"]:
                self.park(key)  # a watch loop asks again
                await self.connection.writer.drain()


async def write_keys(count, connections=16):
    async def writer(keys):
        c = await Connection.open()
        for key in keys:
            status, _, body = await c.request("PUT", f"/v1/kv/{PREFIX}{key}", b"v")
            if status != 200 or body != b"true":
                raise RuntimeError(f"PUT {key}: {status} {body!r}")
        c.writer.close()

    keys = [f"k{i}" for i in range(count)]
    await asyncio.gather(*(writer(keys[i::connections]) for i in range(connections)))


async def bench(args, agent):
    total = args.connections * args.per_connection
    await write_keys(total)
    control = await Connection.open()  # before the watchers, which may fill the connection bound
    rss_before = vm_rss_bytes(agent.pid)

    # Connections, each reading its keys once: idle keep-alive connections (io/http closes an
    # idle one after 30 s, so this phase must be quick).
    watchers = []
    refused = 0
    t = time.monotonic()
    for start in range(0, args.connections, 500):
        async def open_one(i):
            nonlocal refused
            keys = [f"k{j}" for j in range(i * args.per_connection, (i + 1) * args.per_connection)]
            try:
                c = await Connection.open()
                w = Watcher(c, keys)
                for key in keys:
                    status, headers, _ = await c.request("GET", f"/v1/kv/{PREFIX}{key}")
                    if status != 200:
                        raise RuntimeError(f"GET {key}: {status}")
                    w.index[key] = int(headers["x-consul-index"])
                watchers.append(w)
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                refused += 1
        await asyncio.gather(*(open_one(i) for i in range(start, min(start + 500, args.connections))))
    open_s = time.monotonic() - t
    await asyncio.sleep(0.5)
    rss_idle = vm_rss_bytes(agent.pid)

    state = {"final": False}
    tasks = [asyncio.ensure_future(w.run(state)) for w in watchers]
    await asyncio.sleep(args.settle)
    answered_early = sum(len(w.answers) for w in watchers)
    rss_parked = vm_rss_bytes(agent.pid)
    parked = sum(len(w.keys) for w in watchers)

    # One key changes: one query answers (and is parked again), the others stay parked.
    t_probe = time.monotonic()
    await control.request("PUT", f"/v1/kv/{PREFIX}k0", b"changed")
    await asyncio.sleep(1.0)
    probe_answers = [a for w in watchers for a in w.answers]
    probe_latency_ms = [(a[1] - t_probe) * 1e3 for a in probe_answers]

    # Every key changes in one write.
    state["final"] = True
    cpu_before = cpu_seconds(agent.pid)
    t_change = time.monotonic()
    status, _, body = await control.request("DELETE", f"/v1/kv/{PREFIX}?recurse")
    if status != 200:
        raise RuntimeError(f"DELETE recurse: {status} {body!r}")
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    except asyncio.TimeoutError:
        pass
    agent_cpu_ms = (cpu_seconds(agent.pid) - cpu_before) * 1e3
    latest = {}
    for w in watchers:
        for a in w.answers:
            latest[a[0]] = a
    returned = [a for a in latest.values() if a[1] >= t_change]
    advanced = [a for a in returned if a[3] > a[4]]
    times_ms = sorted((a[1] - t_change) * 1e3 for a in returned)

    print(f"agent: muster agent -dev on {HOST}, {args.connections} connections x {args.per_connection} "
          f"queries = {total} parked queries asked")
    print(f"connections refused (closed by the agent): {refused}; opened in {open_s:.1f} s")
    print(f"queries parked: {parked}; answered before any change: {answered_early}")
    print(f"VmRSS: before {rss_before / 2**20:.1f} MiB, idle connections {rss_idle / 2**20:.1f} MiB, "
          f"parked {rss_parked / 2**20:.1f} MiB")
    if watchers:
        print(f"bytes per idle connection: {(rss_idle - rss_before) / len(watchers):.0f}; per parked query: "
              f"{(rss_parked - rss_idle) / parked:.0f}; connection and query together: "
              f"{(rss_parked - rss_before) / parked:.0f}")
    print(f"one key written: {len(probe_answers)} queries answered within 1 s "
          f"({', '.join(f'{ms:.1f} ms' for ms in probe_latency_ms)})")
    print(f"prefix deleted: {len(returned)} of {parked} returned, {len(advanced)} with a higher index")
    if times_ms:
        print(f"  first {times_ms[0]:.1f} ms, median {statistics.median(times_ms):.1f} ms, "
              f"last {times_ms[-1]:.1f} ms after the DELETE was sent; the agent used {agent_cpu_ms:.0f} ms of CPU "
              f"meanwhile (the rest is this one-threaded client reading the answers)")
    ok = refused == 0 and answered_early == 0 and len(probe_answers) == 1 and len(advanced) == parked
    print("result:", "all parked queries returned with a new index" if ok else "FAILED (see above)")
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--muster", default="bazel-out/k8-opt/bin/cmd/muster")
    parser.add_argument("--connections", type=int, default=4000)
    parser.add_argument("--per-connection", type=int, default=1)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to let every query park")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.connections + 1000
    if hard < need:
        sys.exit(f"blocking_bench: the open-file limit is {hard}; {need} needed (raise ulimit -n)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the agent
    root = tempfile.mkdtemp(prefix="muster-blocking-bench-")
    muster = os.path.join(root, "muster")
    shutil.copy(args.muster, muster)
    log = open(os.path.join(root, "agent.log"), "w")
    agent = subprocess.Popen([muster, "agent", "-dev", "-node=bench-park", f"-bind={HOST}", f"-client={HOST}",
                              "-log-level=warn"], stdout=log, stderr=log)
    try:
        return asyncio.run(run_when_up(args, agent))
    finally:
        agent.kill()
        agent.wait()
        if os.environ.get("KEEP"):
            print("kept", root)
        else:
            shutil.rmtree(root, ignore_errors=True)


async def run_when_up(args, agent):
    for _ in range(300):
        try:
            c = await Connection.open()
            status, _, body = await c.request("GET", "/v1/status/leader")
            c.writer.close()
            if status == 200 and len(body) > 2:
                break
        except (OSError, asyncio.IncompleteReadError):
            pass
        await asyncio.sleep(0.1)
    else:
        print("blocking_bench: the agent did not come up", file=sys.stderr)
        return 2
    return await bench(args, agent)


if __name__ == "__main__":
    sys.exit(main())
