"""Event handlers and watches on real agents (issue 13): 3 servers and 2 clients, every agent
started with `-event-handler=handler.sh` (Serf's flag), a script that appends what it got (its
SERF_* environment and its standard input) to a file of its own; the clients also have a `key`
watch in their config file (c1's with `args`, c2's with `handler`, both through the client's
forwarded blocking reads).
  - every agent's handler gets a member-join run, with SERF_SELF_ROLE "consul" on servers and
    "node" on clients;
  - a user event fired once (`muster event -name=deploy payload`) is handled exactly once by
    every agent, with SERF_USER_EVENT, SERF_USER_LTIME and the payload on standard input;
  - the key watch runs first with null (the key is missing), then once per change of the key
    with the Go client's KVPair on standard input and CONSUL_INDEX, and not for a write that
    leaves it as it was;
  - kill -9 of client c2: every other agent's handler receives member-failed with c2's line
    ("c2\\t127.0.2.5\\tnode\\t...role=node...") on standard input.
c1 also runs a failing handler (logged, exit 3) and a slow one (6 s: c1 keeps answering HTTP at
once, and the next event's run waits for it, once per agent). c1 also has a keyprefix watch with an http handler (PUTs to the test's HTTP server on
127.0.2.10:18500 with its header, Content-Type and X-Consul-Index) and an event watch (run for the
empty list, then once for the deploy event).
Loopback 127.0.2.1-5 (servers 1-3, clients 4-5) on Consul's default ports, 127.0.2.10."""

import base64
import http.server
import json
import os
import re
import subprocess
import threading
import time

import cluster
from cluster import log

SERVERS = ["127.0.2.1", "127.0.2.2", "127.0.2.3"]
CLIENTS = ["127.0.2.4", "127.0.2.5"]
SLOW_SECONDS = 6
# The test's own HTTP server, the target of c1's http watch handler.
HOOK_ADDRESS = "127.0.2.10"
HOOK_PORT = 18500

HANDLER = """#!/bin/sh
# One section per run: a header with the event and the agent's role, then standard input.
out="{dir}/events-$SERF_SELF_NAME.log"
{{
  echo "=== $SERF_EVENT role=$SERF_SELF_ROLE user=${{SERF_USER_EVENT:-}} ltime=${{SERF_USER_LTIME:-}}"
  cat
  echo "=== end"
}} >> "$out"
"""

WATCH = """#!/bin/sh
{{
  echo "=== index=$CONSUL_INDEX"
  cat
  echo "=== end"
}} >> "{dir}/watch-$1.log"
"""


def sections(path):
    """[(header, [lines])] of a handler's log, oldest first."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        text = f.read()
    for m in re.finditer(r"^=== (.*)\n((?:(?!=== ).*\n)*?)=== end\n", text, re.M):
        out.append((m.group(1), m.group(2).splitlines()))
    return out


class HookServer:
    """Records every request of an http watch handler: (method, headers, body)."""

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self):
                length = int(self.headers.get("Content-Length", "0"))
                outer.requests.append((self.command, dict(self.headers), self.rfile.read(length).decode()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer((HOOK_ADDRESS, HOOK_PORT), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def body(binary, tmpdir, agents):
    handler = os.path.join(tmpdir, "handler.sh")
    with open(handler, "w") as f:
        f.write(HANDLER.format(dir=tmpdir))
    watch = os.path.join(tmpdir, "watch.sh")
    with open(watch, "w") as f:
        f.write(WATCH.format(dir=tmpdir))
    os.chmod(handler, 0o755)
    os.chmod(watch, 0o755)
    hook = HookServer()
    configs = {}
    for name, entry in (("c1", {"args": ["/bin/sh", watch, "c1"]}), ("c2", {"handler": f"/bin/sh {watch} c2"})):
        path = os.path.join(tmpdir, f"{name}-watch.json")
        watches = [dict({"type": "key", "key": "cfg/x"}, **entry)]
        if name == "c1":  # an HTTP handler for the prefix, and an event watch
            watches.append({"type": "keyprefix", "prefix": "cfg/", "handler_type": "http",
                            "http_handler_config": {"path": f"http://{HOOK_ADDRESS}:{HOOK_PORT}/hook",
                                                    "method": "PUT", "header": {"X-Test": ["yes"]},
                                                    "timeout": "5s"}})
            watches.append({"type": "event", "name": "deploy", "args": ["/bin/sh", watch, "c1-events"]})
        with open(path, "w") as f:
            json.dump({"watches": watches}, f)
        configs[name] = [f"-config-file={path}"]
    # c1 also runs a slow and a failing handler (its queue: one at a time, in order).
    configs["c1"] += [f"-event-handler=user:slow=sleep {SLOW_SECONDS}", "-event-handler=user:fail=echo broken; exit 3"]

    event_flag = [f"-event-handler={handler}"]
    servers = cluster.start_servers(binary, tmpdir, agents, SERVERS, extra_args=event_flag)
    clients = cluster.start_clients(binary, tmpdir, agents, CLIENTS, servers, extra_args=event_flag,
                                    extra_args_by_name=configs)
    everyone = servers + clients
    logs = {a.name: os.path.join(tmpdir, f"events-{a.name}.log") for a in everyone}

    # Member joins reach every handler; the role is the agent's own tag.
    def joins_seen():
        return all(any(h.startswith("member-join") for h, _ in sections(logs[a.name])) for a in everyone)
    cluster.wait_until("a member-join run on every agent", joins_seen, 30)
    for a in everyone:
        header = next(h for h, _ in sections(logs[a.name]) if h.startswith("member-join"))
        assert f"role={'consul' if a.server else 'node'}" in header, (a.name, header)
    log("every agent's handler ran for member-join, with its role")

    # The key watch: null first (the key is missing), then each change once.
    watch_logs = {c.name: os.path.join(tmpdir, f"watch-{c.name}.log") for c in clients}
    cluster.wait_until("the watches' first run (null)", lambda: all(sections(p) for p in watch_logs.values()), 40)
    for name, path in watch_logs.items():
        first = sections(path)[0]
        assert first[1] == ["null"], (name, first)
    assert servers[0].put_kv("cfg/x", "v1")
    assert servers[1].put_kv("other", "noise")  # another key: the watched one's index does not move

    def values(path):
        out = []
        for header, lines in sections(path)[1:]:
            pair = json.loads(lines[0])
            assert pair["Key"] == "cfg/x", pair
            assert int(header.split("=")[1]) == pair["ModifyIndex"], (header, pair)
            out.append(base64.b64decode(pair["Value"]).decode())
        return out
    cluster.wait_until("v1 handed to both watches", lambda: all(values(p) == ["v1"] for p in watch_logs.values()), 20)
    assert servers[2].put_kv("cfg/x", "v1")  # the same value: a new index, an equal result?
    assert servers[0].put_kv("cfg/x", "v2")
    cluster.wait_until("v2 handed to both watches", lambda: all(values(p)[-1:] == ["v2"] for p in watch_logs.values()), 20)
    for name, path in watch_logs.items():
        got = values(path)
        # The rewrite of v1 moved ModifyIndex, so it is a change Consul's plan hands over too;
        # nothing is handed twice and the order is the writes'.
        assert got in (["v1", "v2"], ["v1", "v1", "v2"]), (name, got)
    log("key watches on both clients ran for null, v1 and v2:", {n: values(p) for n, p in watch_logs.items()})

    # c1's keyprefix watch through its http handler: PUT, the headers, the Go KVPairs as the body.
    def hook_values():
        out = []
        for method, headers, text in hook.requests:
            assert method == "PUT" and headers.get("X-Test") == "yes", (method, headers)
            assert headers.get("Content-Type") == "application/json" and headers.get("X-Consul-Index"), headers
            pairs = json.loads(text)
            out.append({p["Key"]: base64.b64decode(p["Value"]).decode() for p in pairs or []})
        return out
    cluster.wait_until("the http handler handed cfg/x = v2", lambda: hook_values()[-1:] == [{"cfg/x": "v2"}], 20)
    log("http watch handler got", len(hook.requests), "PUTs:", hook_values())

    # A user event fired once is handled once per agent.
    env = dict(os.environ, MUSTER_HTTP_ADDR=f"{CLIENTS[0]}:{cluster.HTTP_PORT}")
    fired = subprocess.run([binary, "event", "-name=deploy", "release-42"], env=env, capture_output=True,
                           text=True, timeout=30)
    log("muster event:", fired.returncode, fired.stdout.strip(), fired.stderr.strip())
    assert fired.returncode == 0, fired

    def deploys(a):
        return [(h, lines) for h, lines in sections(logs[a.name]) if h.startswith("user ") and "user=deploy" in h]
    cluster.wait_until("the deploy event handled on every agent", lambda: all(deploys(a) for a in everyone), 20)
    # Long enough for a duplicate to arrive by gossip if one were going to (several rounds).
    time.sleep(3)
    ltimes = set()
    for a in everyone:
        runs = deploys(a)
        assert len(runs) == 1, (a.name, runs)
        header, lines = runs[0]
        assert lines == ["release-42"], (a.name, lines)
        ltimes.add(re.search(r"ltime=(\d+)", header).group(1))
    assert len(ltimes) == 1, ltimes  # one event, one Lamport time everywhere
    log("the deploy event was handled exactly once on each of", len(everyone), "agents, ltime", ltimes)
    # c1's event watch: the empty list first, then the one new event, once.
    events_log = os.path.join(tmpdir, "watch-c1-events.log")
    cluster.wait_until("the event watch's second run", lambda: len(sections(events_log)) >= 2, 20)
    runs = sections(events_log)
    lists = [json.loads(lines[0]) for _, lines in runs]
    assert lists[0] == [], lists
    assert [[e["Name"] for e in l] for l in lists[1:]] == [["deploy"]], lists
    assert base64.b64decode(lists[1][0]["Payload"]).decode() == "release-42", lists
    log("the event watch ran for [] and then the deploy event once")

    # kill -9 of c2: every other agent hears member-failed with c2's line.
    victim = clients[1]
    victim.kill()
    log("killed", victim.name, "with SIGKILL")
    prefix = f"{victim.name}\t{victim.address}\tnode\t"

    def failed_seen(a):
        for header, lines in sections(logs[a.name]):
            if header.startswith("member-failed"):
                for line in lines:
                    if line.startswith(prefix) and "role=node" in line.split("\t")[3].split(","):
                        return True
        return False
    others = [a for a in everyone if a is not victim]
    took = cluster.wait_until(f"member-failed for {victim.name} on every other agent",
                              lambda: all(failed_seen(a) for a in others), 60)
    log(f"member-failed with {victim.name}'s line reached all {len(others)} other handlers in {took:.1f}s")

    # A failing and a slow handler on c1 neither block the agent nor lose later runs: while the
    # slow one runs, c1 answers HTTP at once; the next event's run waits for it, in order.
    c1 = clients[0]
    for name in ("fail", "slow", "after"):
        fired = subprocess.run([binary, "event", f"-name={name}"], env=env, capture_output=True, text=True, timeout=30)
        assert fired.returncode == 0, fired
    fired_at = time.monotonic()
    cluster.wait_until("c1 logging the failing handler", lambda: "handler exited 3: broken" in c1.log_text(), 10)
    slowest = 0.0
    while time.monotonic() - fired_at < SLOW_SECONDS - 2:
        started = time.monotonic()
        status, _, _ = c1.http("GET", "/v1/agent/self")
        assert status == 200, status
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.1)
    assert slowest < 1.0, slowest

    def after_runs(a):
        return [h for h, _ in sections(logs[a.name]) if "user=after" in h]
    cluster.wait_until("the next event handled on every live agent", lambda: all(after_runs(a) for a in others), 20)
    c1_after = time.monotonic() - fired_at
    assert c1_after >= SLOW_SECONDS - 0.5, c1_after  # behind the slow run on c1's queue
    for a in others:
        assert len(after_runs(a)) == 1, (a.name, after_runs(a))
    log(f"c1 answered HTTP within {slowest * 1000:.0f} ms while its slow handler ran; the next event "
        f"ran after it ({c1_after:.1f}s after firing), once on each of {len(others)} agents")


if __name__ == "__main__":
    cluster.scenario(body)
