"""One `muster agent -dev` for a python-consul conformance test: started on the test's own
loopback address, stopped by PID when the tests end, its log printed when one fails.

Each test file calls `run(address)` from its `__main__`: argv[1] is the muster binary (Bazel's
$(rootpath //cmd:muster)). The agent listens on Consul's default ports on `address` (HTTP
8500, RPC 8300, LAN 8301, WAN 8302), so every test file owns one address (see BUILD.bazel).
The tests are `dev_agent.TestCase`s: unittest cases with `self.c`, a python-consul client.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import unittest
import urllib.request

import consul

HTTP_PORT = 8500
RPC_PORT = 8300
LAN_PORT = 8301
WAN_PORT = 8302
# The dev agent elects itself at once; this is slack for a loaded 2-core machine.
LEADER_TIMEOUT_SECONDS = 20.0
# Log bytes printed on failure (the tail, where the failure usually is).
LOG_PRINT_BYTES_MAX = 100_000
# The node name the agent runs under, so the tests can name it.
NODE_NAME = "conformance"

# Set by run(): the address the agent listens on.
ADDRESS = None

# The agent dies with the test even when the test is killed (a Bazel timeout) before its
# cleanup runs: prctl(PR_SET_PDEATHSIG, SIGKILL) in the child, with libc loaded here.
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def client(**kwargs):
    """A python-consul client of the test's agent (its std, requests-based, client)."""
    return consul.Consul(host=ADDRESS, port=HTTP_PORT, **kwargs)


class TestCase(unittest.TestCase):
    """A test with `self.c`, a client of the agent; every client it makes is closed after it."""

    def client(self, **kwargs):
        made = client(**kwargs)
        self.addCleanup(made.http.session.close)
        return made

    def setUp(self):
        self.c = self.client()


def rpc_address():
    return f"{ADDRESS}:{RPC_PORT}"


def _leader():
    """The leader the agent names, "" when none, None when it does not answer yet."""
    try:
        with urllib.request.urlopen(f"http://{ADDRESS}:{HTTP_PORT}/v1/status/leader", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


def assert_ports_free(address):
    """Fails naming the port when one of ours is taken (an agent left over from another run,
    or another test on our address): else the tests would quietly talk to that agent."""
    for port, kind in ((RPC_PORT, socket.SOCK_STREAM), (LAN_PORT, socket.SOCK_STREAM),
                       (LAN_PORT, socket.SOCK_DGRAM), (WAN_PORT, socket.SOCK_DGRAM), (HTTP_PORT, socket.SOCK_STREAM)):
        with socket.socket(socket.AF_INET, kind) as s:
            if kind == socket.SOCK_STREAM:
                # As libuv binds: a connection of an earlier run in TIME_WAIT is no owner.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((address, port))
            except OSError as e:
                raise AssertionError(f"{address}:{port} is taken before the test starts: {e}")


def run(address, extra_args=()):
    """Starts the agent on `address` (with `extra_args` after the usual flags), runs the calling
    module's unittest cases against it, stops it, and exits 0 when every test passed (1 with the
    agent's log otherwise)."""
    global ADDRESS
    ADDRESS = address
    binary = os.path.abspath(sys.argv[1])
    tmpdir = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp(prefix="muster_conformance_")
    log_path = os.path.join(tmpdir, f"agent-{address}.log")
    # python-consul reads these over its arguments; the tests name their agent themselves.
    for name in ("CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_SSL", "CONSUL_HTTP_SSL_VERIFY"):
        os.environ.pop(name, None)
    args = [binary, "agent", "-dev", "-node=" + NODE_NAME, "-bind=" + address, "-client=" + address,
            "-log-level=DEBUG"] + list(extra_args)
    assert_ports_free(address)
    started = time.monotonic()
    with open(log_path, "ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, preexec_fn=_die_with_parent)
    log(f"started {' '.join(args[1:])} (pid {process.pid})")
    passed = False

    def terminated(signum, frame):
        raise KeyboardInterrupt(f"test terminated by signal {signum}")
    signal.signal(signal.SIGTERM, terminated)
    try:
        while _leader() != rpc_address():
            if process.poll() is not None:
                raise AssertionError(f"the agent exited with {process.returncode} before electing itself")
            if time.monotonic() - started > LEADER_TIMEOUT_SECONDS:
                raise AssertionError(f"no leader after {LEADER_TIMEOUT_SECONDS}s")
            time.sleep(0.05)
        # Ours, not another agent that took the address after the check above.
        assert process.poll() is None, f"the agent exited with {process.returncode}"
        probe = client()
        assert probe.agent.self()["Config"]["NodeName"] == NODE_NAME, "another agent answers"
        probe.http.session.close()
        log(f"the agent leads after {time.monotonic() - started:.2f}s")
        program = unittest.main(module="__main__", argv=[sys.argv[0], "-v"], exit=False)
        passed = program.result.wasSuccessful() and program.result.testsRun > 0
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    if not passed:
        with open(log_path, "rb") as f:
            text = f.read().decode(errors="replace")
        print(f"\n===== agent log, last {LOG_PRINT_BYTES_MAX} bytes =====")
        print(text[-LOG_PRINT_BYTES_MAX:])
        print(f"FAIL after {time.monotonic() - started:.1f}s", flush=True)
        sys.exit(1)
    print(f"PASS in {time.monotonic() - started:.1f}s", flush=True)
