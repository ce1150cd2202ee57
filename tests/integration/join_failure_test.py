"""A server that cannot join gives up and exits 1, naming why: -join with no seed answering
("failed to join: Error joining address(es) ...: no seed answered", after its 10 s wait), and
-retry-join past -retry-max ("max join retry exhausted, exiting"). The seed is a loopback
address nothing listens on."""

import subprocess
import time

import cluster
from cluster import Agent, log

ADDRESS = "127.0.0.130"
NOBODY = "127.0.0.131"  # no agent ever listens here
EXIT_SECONDS_MAX = 30


def run_until_exit(agent):
    started = time.monotonic()
    agent.start()
    try:
        code = agent.process.wait(timeout=EXIT_SECONDS_MAX)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{agent.name} still running {EXIT_SECONDS_MAX}s after a join that cannot succeed")
    agent.process = None
    return code, time.monotonic() - started


def body(binary, tmpdir, agents):
    cluster.assert_ports_free([ADDRESS])
    joiner = Agent(binary, "join-once", ADDRESS, tmpdir, ["-join=" + NOBODY])
    retrier = Agent(binary, "join-retry", ADDRESS, tmpdir,
                    ["-retry-join=" + NOBODY, "-retry-interval=1s", "-retry-max=2"])
    agents.extend([joiner, retrier])

    code, seconds = run_until_exit(joiner)
    assert code == 1, f"-join with no seed: exit {code}"
    line = f"failed to join: Error joining address(es) {NOBODY}:{cluster.LAN_PORT}: no seed answered"
    assert line in joiner.log_text(), f"-join: no line {line!r}"
    log(f"-join={NOBODY}: exit 1 after {seconds:.2f}s, logged {line!r}")

    code, seconds = run_until_exit(retrier)
    assert code == 1, f"-retry-join past -retry-max: exit {code}"
    text = retrier.log_text()
    assert text.count("Join cluster failed, will retry") >= 1, "no retry line"
    assert "max join retry exhausted, exiting" in text, "no line saying the retries are exhausted"
    log(f"-retry-join={NOBODY} -retry-max=2: exit 1 after {seconds:.2f}s, "
        f"{text.count('Join cluster failed, will retry')} retry lines, then 'max join retry exhausted, exiting'")


if __name__ == "__main__":
    cluster.scenario(body)
