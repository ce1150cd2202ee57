"""Real muster agents on loopback for the integration tests: start, stop by PID, ask over HTTP.

Each agent runs `muster agent -server` (or, with server=False, a client agent: no -server, joined
to the servers through -retry-join) on its own loopback address (127.0.0.x) with Consul's
default ports there (RPC 8300, LAN 8301, WAN 8302, HTTP 8500 through -client), in its own
process group, with its data dir and log file under the test's TEST_TMPDIR. `scenario()` runs a
test body, stops every agent it started (also on failure) and prints every agent's log when the
body fails, so a failing Bazel test shows what the agents said.
"""

import base64
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HTTP_PORT = 8500
RPC_PORT = 8300
LAN_PORT = 8301
WAN_PORT = 8302
# Consul's defaults, under the names of `muster agent`'s port flags (-server-port, ...).
# DNS (issue 15) listens on -client too: agents sharing an address need their own DNS port.
DEFAULT_PORTS = {"server": RPC_PORT, "serf-lan": LAN_PORT, "serf-wan": WAN_PORT, "http": HTTP_PORT, "dns": 8600}
# One HTTP request may take this long (a forwarded write waits for its commit; the agent's
# own forward timeout is 7 s).
HTTP_TIMEOUT_SECONDS = 10.0
# How long a SIGINT'ed agent may take to leave and exit (the runner gives up at 15 s).
EXIT_TIMEOUT_SECONDS = 20.0
# Log bytes printed per agent on failure (the tail, where the failure usually is).
LOG_PRINT_BYTES_MAX = 200_000


# prctl(PR_SET_PDEATHSIG, SIGKILL) in each agent before it runs: an agent dies with the test
# even when the test itself is killed (a Bazel timeout) before its cleanup runs. libc is loaded
# here, not in the child, so the child runs no Python code that could wait on a lock.
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def log(*parts):
    """One line of the test's own narration, flushed so it interleaves with failures."""
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


class Agent:
    """One `muster agent` process, restartable with the same flags and data dir."""

    def __init__(self, binary, name, address, tmpdir, extra_args=(), ports=None, log_level="DEBUG",
                 server=True):
        self.binary = binary
        self.server = server
        self.name = name
        self.address = address
        # Non-default ports (several agents on one address, as on [::1]) become port flags.
        self.ports = dict(DEFAULT_PORTS, **(ports or {}))
        port_flags = [f"-{flag}-port={port}" for flag, port in self.ports.items() if port != DEFAULT_PORTS[flag]]
        self.data_dir = os.path.join(tmpdir, name, "data")
        self.log_path = os.path.join(tmpdir, name, "agent.log")
        os.makedirs(self.data_dir, exist_ok=True)
        self.args = [binary, "agent"] + (["-server"] if server else []) + [
            "-node=" + name,
            "-data-dir=" + self.data_dir,
            "-bind=" + address,
            "-client=" + address,
        ] + ([f"-log-level={log_level}"] if log_level else []) + port_flags + list(extra_args)
        self.process = None
        self.starts = 0

    def start(self):
        assert self.process is None, f"{self.name} is already running"
        self.starts += 1
        with open(self.log_path, "ab") as out:
            out.write(f"\n===== start {self.starts}: {' '.join(self.args)}\n".encode())
            out.flush()
            # Its own session: the process group is killed as a whole at the end.
            self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_die_with_parent)
        log(f"started {self.name} on {self.address} (pid {self.process.pid})")
        return self

    def running(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        """SIGKILL, as a crash: nothing is flushed or said to the others."""
        if self.process is None:
            return
        pid = self.process.pid
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        log(f"killed {self.name} (pid {pid}) with SIGKILL")
        self.process = None

    def signal_and_wait(self, signum, timeout=EXIT_TIMEOUT_SECONDS):
        """Sends `signum` to the agent alone and returns its exit code once it has ended."""
        assert self.process is not None, f"{self.name} is not running"
        pid = self.process.pid
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout}s of signal {signum}")
        log(f"{self.name} (pid {pid}) exited with {code} after signal {signum}")
        self.process = None
        return code

    def http(self, method, path, body=None, timeout=HTTP_TIMEOUT_SECONDS):
        """(status, body bytes, headers) of one request to this agent's HTTP API; an agent
        that does not answer gives status 0 and the error as the body."""
        url = f"http://{join_host_port(self.address, self.ports['http'])}{path}"
        data = body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)
        except (OSError, urllib.error.URLError) as e:
            return 0, str(e).encode(), {}

    def get_json(self, path):
        status, body, _ = self.http("GET", path)
        if status != 200:
            return None
        return json.loads(body)

    def leader(self):
        """The leader's RPC address this agent knows ("" for none), None if it does not answer."""
        return self.get_json("/v1/status/leader")

    def put_kv(self, key, value):
        """True when the agent acknowledged the write (200 and "true")."""
        status, body, _ = self.http("PUT", "/v1/kv/" + urllib.parse.quote(key), value)
        return status == 200 and body.strip() == b"true"

    def stale_kv(self, prefix):
        """{key: value} under `prefix` as this agent's own state has it (?stale), None if it
        does not answer."""
        status, body, _ = self.http("GET", "/v1/kv/" + urllib.parse.quote(prefix) + "?recurse&stale")
        if status == 404:
            return {}
        if status != 200:
            return None
        return {e["Key"]: base64.b64decode(e["Value"] or "").decode() for e in json.loads(body)}

    def raft_servers(self, stale=False):
        """{node name: voter} from /v1/operator/raft/configuration (the leader's view, or with
        `stale` this server's own), None if not answered."""
        config = self.get_json("/v1/operator/raft/configuration" + ("?stale" if stale else ""))
        if config is None:
            return None
        return {s["Node"]: s["Voter"] for s in config["Servers"]}

    def members(self):
        """{name: Status} from /v1/agent/members (1 alive, 3 left, 4 failed)."""
        members = self.get_json("/v1/agent/members")
        if members is None:
            return None
        return {m["Name"]: m["Status"] for m in members}

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def rpc_address(self):
        return join_host_port(self.address, self.ports["server"])

    def lan_address(self):
        return join_host_port(self.address, self.ports["serf-lan"])


def join_host_port(host, port):
    """host:port, with an IPv6 host in brackets (as Go's net.JoinHostPort and the agent)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def start_servers(binary, tmpdir, agents, addresses, extra_args=(), ports=None):
    """Starts one server per address (names s1, s2, ...) with -bootstrap-expect set to their
    number and -retry-join to all the others every second, so each can be restarted with the
    same flags whichever others are up; returns them once they all name one leader. `ports`:
    one dict per server of the ports that differ from Consul's (see DEFAULT_PORTS)."""
    ports = ports or [None] * len(addresses)
    assert_ports_free(addresses, ports)
    servers = [Agent(binary, f"s{i + 1}", address, tmpdir, ports=p) for i, (address, p) in
               enumerate(zip(addresses, ports))]
    for server in servers:
        joins = [f"-retry-join={other.lan_address()}" for other in servers if other is not server]
        server.args += [f"-bootstrap-expect={len(addresses)}", "-retry-interval=1s"] + joins + list(extra_args)
    agents.extend(servers)
    started = time.monotonic()
    for server in servers:
        server.start()
    wait_until("one leader named by every server", lambda: agreed_leader(servers), 30)
    log(f"{len(servers)} servers agree on leader {agreed_leader(servers)} "
        f"{time.monotonic() - started:.2f}s after the first started")
    return servers


def start_clients(binary, tmpdir, agents, addresses, join, names=None, extra_args=(), ports=None,
                  settle_timeout=30, extra_args_by_name=None):
    """Starts one client agent per address (names c1, c2, ... unless `names`), each with
    -retry-join to every agent of `join` (Agents or "host:port" LAN addresses) every second, so
    each can be restarted with the same flags; returns them once every client lists every
    joined agent and itself as alive. `ports`: as in start_servers; `extra_args_by_name`: flags
    for one client only ({name: [flags]}), after `extra_args`."""
    ports = ports or [None] * len(addresses)
    names = names or [f"c{i + 1}" for i in range(len(addresses))]
    assert len(names) == len(addresses), "one name per address"
    assert_ports_free(addresses, ports)
    join_addresses = [j.lan_address() if isinstance(j, Agent) else j for j in join]
    clients = []
    for name, address, p in zip(names, addresses, ports):
        client = Agent(binary, name, address, tmpdir, ports=p, server=False)
        client.args += ["-retry-interval=1s"] + [f"-retry-join={a}" for a in join_addresses] + list(extra_args)
        client.args += list((extra_args_by_name or {}).get(name, ()))
        clients.append(client)
    agents.extend(clients)
    started = time.monotonic()
    for client in clients:
        client.start()
    expected = {j.name for j in join if isinstance(j, Agent)}

    def joined():
        for client in clients:
            members = client.members()
            if not members or any(members.get(n) != 1 for n in expected | {client.name}):
                return False
        return True
    wait_until("every client listing itself and the agents it joined as alive", joined, settle_timeout)
    log(f"{len(clients)} clients joined {len(join_addresses)} agents "
        f"{time.monotonic() - started:.2f}s after the first started")
    return clients


def wait_until(what, predicate, timeout, interval=0.1):
    """Seconds until predicate() is truthy; fails naming `what` after `timeout` seconds."""
    start = time.monotonic()
    while True:
        value = predicate()
        if value:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def agreed_leader(agents):
    """The leader's RPC address if every one of `agents` names the same one, else None."""
    leaders = {a.leader() for a in agents}
    if len(leaders) != 1:
        return None
    leader = leaders.pop()
    return leader or None


def leaders_by_term(agents):
    """{term: [names of the agents that logged entering the Leader state in it]}, over every
    start in their logs; raft's promise is one name per term."""
    terms = {}
    for agent in agents:
        for term in re.findall(r"entering Leader state: term=(\d+)", agent.log_text()):
            terms.setdefault(int(term), []).append(agent.name)
    return terms


def agent_at(agents, rpc_address):
    return next(a for a in agents if a.rpc_address() == rpc_address)


def assert_ports_free(addresses, ports=None):
    """Fails naming the port when one of ours is taken (an agent left over from another run,
    or another test that took our addresses), before a confusing cluster forms."""
    for address, differing in zip(addresses, ports or [None] * len(addresses)):
        p = dict(DEFAULT_PORTS, **(differing or {}))
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        for port, kind in ((p["server"], socket.SOCK_STREAM), (p["serf-lan"], socket.SOCK_STREAM),
                           (p["serf-lan"], socket.SOCK_DGRAM), (p["serf-wan"], socket.SOCK_DGRAM),
                           (p["http"], socket.SOCK_STREAM)):
            with socket.socket(family, kind) as s:
                if kind == socket.SOCK_STREAM:
                    # As libuv binds: a connection of an earlier run in TIME_WAIT is no owner.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((address, port))
                except OSError as e:
                    raise AssertionError(f"{address}:{port} is taken before the test starts: {e}")


def scenario(body):
    """Runs body(binary, tmpdir, agents) from the command line (argv[1]: the muster binary);
    body appends every Agent it makes to `agents`. Exits 0 on success, 1 (with every agent's
    log) on failure; every agent is killed either way."""
    binary = os.path.abspath(sys.argv[1])
    # Outside Bazel, a fresh folder per run: an old run's raft state would make another cluster.
    tmpdir = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp(prefix="muster_integration_")
    agents = []
    failed = False
    started = time.monotonic()

    def terminated(signum, frame):
        raise KeyboardInterrupt(f"test terminated by signal {signum}")
    signal.signal(signal.SIGTERM, terminated)
    try:
        body(binary, tmpdir, agents)
    except BaseException:
        failed = True
        traceback.print_exc()
    finally:
        for agent in agents:
            agent.kill()
    if failed:
        for agent in agents:
            text = agent.log_text()
            print(f"\n===== log of {agent.name} ({agent.address}), last {LOG_PRINT_BYTES_MAX} bytes =====")
            print(text[-LOG_PRINT_BYTES_MAX:])
        print(f"FAIL after {time.monotonic() - started:.1f}s", flush=True)
        sys.exit(1)
    print(f"PASS in {time.monotonic() - started:.1f}s", flush=True)
