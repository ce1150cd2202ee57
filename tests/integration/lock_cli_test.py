"""`muster lock` and `muster watch` against a real `muster agent -dev` (issue 12, the CLI): a
lock's child sees the lock held (`muster kv get -detailed PREFIX/.lock` shows a Session and
Consul's lock flags) while it runs; a second `muster lock` on the prefix waits until the first
child has exited, then runs; both clean the key up after. A lock whose session is destroyed
under it terminates its child (SIGTERM) and exits 0. A semaphore (-n=2) never runs three
children at once. A key watch with a handler hands it every change (null first, as the key is
missing) as JSON on stdin. Loopback 127.0.0.175 only (Consul's default ports there)."""

import base64
import json
import os
import signal
import subprocess
import time

import cluster
from cluster import log

ADDRESS = "127.0.0.175"
CLI_TIMEOUT_SECONDS = 30


def start_dev_agent(binary, tmpdir, agents):
    agent = cluster.Agent(binary, "dev", ADDRESS, tmpdir)
    agent.args = [binary, "agent", "-dev", "-node=dev", "-bind=" + ADDRESS, "-client=" + ADDRESS, "-log-level=DEBUG"]
    cluster.assert_ports_free([ADDRESS])
    agents.append(agent)
    agent.start()
    cluster.wait_until("the dev agent to lead", lambda: agent.leader() == agent.rpc_address(), 20, 0.05)
    return agent


class Cli:
    """`muster` commands against the agent, each in its own process group (stopped at the end)."""

    def __init__(self, binary, tmpdir):
        self.binary = binary
        self.tmpdir = tmpdir
        self.env = dict(os.environ, MUSTER_HTTP_ADDR=f"{ADDRESS}:{cluster.HTTP_PORT}")
        self.started = []

    def start(self, *args):
        out = open(os.path.join(self.tmpdir, f"cli-{len(self.started)}.out"), "w+")
        process = subprocess.Popen([self.binary] + list(args), stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)
        log(f"$ muster {' '.join(args)} (pid {process.pid})")
        self.started.append((process, out))
        return process

    def output(self, process):
        out = next(o for p, o in self.started if p is process)
        out.flush()
        out.seek(0)
        return out.read()

    def log_outputs(self):
        for process, out in self.started:
            log(f"output of pid {process.pid} (exit {process.poll()}):")
            for line in self.output(process).splitlines():
                log(f"    {line}")

    def finish(self, process, timeout=CLI_TIMEOUT_SECONDS):
        code = process.wait(timeout=timeout)
        text = self.output(process)
        log(f"pid {process.pid} exited {code}:")
        for line in text.splitlines():
            log(f"    {line}")
        return code, text

    def stop_all(self):
        for process, out in self.started:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
            out.close()


def path(tmpdir, name):
    return os.path.join(tmpdir, name)


def read(file_path):
    with open(file_path) as f:
        return f.read()


def lock_excludes(agent, cli, tmpdir):
    detail, a_end, b_start = path(tmpdir, "a_detail"), path(tmpdir, "a_end"), path(tmpdir, "b_start")
    first = cli.start("lock", "-verbose", "cli/lock",
                      f"{cli.binary} kv get -detailed cli/lock/.lock > {detail}; sleep 2; date +%s.%N > {a_end}")
    cluster.wait_until("the first child to read the lock",
                       lambda: (os.path.exists(detail) and read(detail)) or first.poll() is not None, 10, 0.05)
    assert first.poll() is None, f"the first lock exited {first.returncode}: {cli.output(first)}"
    second = cli.start("lock", "cli/lock", f"date +%s.%N > {b_start}")
    time.sleep(0.5)
    assert second.poll() is None and not os.path.exists(b_start), "the second lock did not wait"
    code, out = cli.finish(first)
    assert code == 0 and "Cleanup" in out, (code, out)
    code, out = cli.finish(second)
    assert code == 0, (code, out)
    rows = dict(line.split(None, 1) for line in read(detail).splitlines() if len(line.split(None, 1)) == 2)
    assert rows.get("Flags") == "3304740253564472344", rows
    assert rows.get("Session", "-") != "-", f"no Session on the lock while its child ran: {rows}"
    assert float(read(b_start)) >= float(read(a_end)), (read(a_end), read(b_start))
    status, body, _ = agent.http("GET", "/v1/kv/cli/lock?recurse")
    assert status == 404, f"the lock's key was not cleaned up: {status} {body[:300]!r}"
    log(f"the second lock ran its child {float(read(b_start)) - float(read(a_end)):.3f}s after the first's ended")


def lost_lock_terminates_child(agent, cli, tmpdir):
    term = path(tmpdir, "lost_term")
    holder = cli.start("lock", "-verbose", "cli/lost", f"trap 'echo term > {term}; exit 0' TERM; "
                                                       "while :; do sleep 0.1; done")

    def session():
        entries = agent.get_json("/v1/kv/cli/lost/.lock")
        return entries[0].get("Session") if entries else None
    cluster.wait_until("the lock to be held", session, 10, 0.05)
    status, _, _ = agent.http("PUT", f"/v1/session/destroy/{session()}")
    assert status == 200
    code, out = cli.finish(holder, timeout=15)
    assert code == 0, (code, out)
    assert "Lock lost, killing child" in out and "Child terminated" in out, out
    assert read(term).strip() == "term", "the child did not get SIGTERM"


def semaphore_limits_holders(agent, cli, tmpdir):
    events = path(tmpdir, "sem_events")
    holders = [cli.start("lock", "-n=2", "cli/sem", f"echo start >> {events}; sleep 1.5; echo end >> {events}")
               for _ in range(3)]
    for holder in holders:
        code, out = cli.finish(holder)
        assert code == 0, (code, out)
    running, most = 0, 0
    for event in read(events).split():
        running += 1 if event == "start" else -1
        most = max(most, running)
    assert most == 2, f"{most} children ran at once under -n=2: {read(events).split()}"
    status, _, _ = agent.http("GET", "/v1/kv/cli/sem?recurse")
    assert status == 404, f"the semaphore's keys were not cleaned up: {status}"


def watch_hands_changes_to_handler(agent, cli, tmpdir):
    changes = path(tmpdir, "watch_changes")
    watcher = cli.start("watch", "-type=key", "-key=cli/w", f"cat >> {changes}")

    def lines():
        return read(changes).splitlines() if os.path.exists(changes) else []
    cluster.wait_until("the first (missing key) result", lambda: len(lines()) == 1, 10, 0.05)
    for value, count in (("v1", 2), ("v2", 3)):
        assert agent.put_kv("cli/w", value)
        cluster.wait_until(f"the watch to hand over {value}", lambda: len(lines()) == count, 10, 0.05)
    got = [json.loads(line) for line in lines()]
    assert got[0] is None, got
    assert [base64.b64decode(g["Value"]).decode() for g in got[1:]] == ["v1", "v2"], got
    assert watcher.poll() is None, "the watch ended"
    os.killpg(watcher.pid, signal.SIGTERM)
    watcher.wait(timeout=10)


def body(binary, tmpdir, agents):
    agent = start_dev_agent(binary, tmpdir, agents)
    cli = Cli(binary, tmpdir)
    try:
        lock_excludes(agent, cli, tmpdir)
        lost_lock_terminates_child(agent, cli, tmpdir)
        semaphore_limits_holders(agent, cli, tmpdir)
        watch_hands_changes_to_handler(agent, cli, tmpdir)
    except BaseException:
        cli.log_outputs()
        raise
    finally:
        cli.stop_all()


if __name__ == "__main__":
    cluster.scenario(body)
