"""An alias check of another node's service through python-consul (core/agent/remote_alias.h):
one server (s1, 127.0.7.1) and two clients (c1 127.0.7.2, c2 127.0.7.3). c2 has a service
`web` with a TTL check; c1 has a service `web-proxy` whose check aliases c2's `web` (Consul's
AliasNode and AliasService, given to `agent.service.register` as the check's dict, since
python-consul 0.7.1's Check has no alias) and a node check aliasing the node c2 itself
(`agent.check.register`, AliasNode only). c2's ttl_pass / ttl_warn / ttl_fail are followed by
c1's checks, in `agent.checks` and in the catalog (`health.service("web-proxy")`, `passing=True`,
`health.node("c1")`); c2's service deregistered, c1's alias is critical with Consul's output.
"""

import os
import sys
import tempfile
import time
import unittest

import consul

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402

SERVER_ADDRESSES = ["127.0.7.1"]
CLIENT_ADDRESSES = ["127.0.7.2", "127.0.7.3"]
# Slack for a loaded 2-core machine: c2's partial sync, the blocking read waking at c1's server,
# c1's partial sync (each well under a second on an idle one).
FOLLOW_SECONDS = 15.0
# Consul names a service's check "Service '<name>' check" (python-consul's Check.ttl sets none).
WEB_CHECK = "Service 'web' check"


def eventually(what, predicate, timeout=FOLLOW_SECONDS):
    """Polls `predicate` until it returns something true; fails naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (consul.ConsulException, OSError) as e:  # an agent between two answers
            last = e
        if last is True or (last and not isinstance(last, Exception)):
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


class RemoteAliasTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agents = []
        cls.tmpdir = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp(prefix="muster_remote_alias_")
        binary = os.path.abspath(sys.argv[1])
        try:
            cls.servers = cluster.start_servers(binary, os.path.join(cls.tmpdir, "cluster"), cls.agents,
                                                SERVER_ADDRESSES)
            cls.clients = cluster.start_clients(binary, os.path.join(cls.tmpdir, "cluster"), cls.agents,
                                                CLIENT_ADDRESSES, cls.servers)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for agent in cls.agents:
            agent.kill()

    def run(self, result=None):
        outcome = super().run(result)
        if result is not None and not result.wasSuccessful():
            for agent in self.agents:
                print(f"\n===== log of {agent.name} ({agent.address}), tail =====")
                print(agent.log_text()[-30_000:])
        return outcome

    def consul_of(self, agent):
        made = consul.Consul(host=agent.address, port=cluster.HTTP_PORT)
        self.addCleanup(made.http.session.close)
        return made

    def test_an_alias_on_one_client_follows_a_service_on_another_through_the_catalog(self):
        c1, c2 = (self.consul_of(a) for a in self.clients)
        self.assertTrue(c2.agent.service.register("web", service_id="web", check=consul.Check.ttl("10m")))
        self.assertTrue(c1.agent.service.register("web-proxy", service_id="web-proxy", port=8080,
                                                  check={"AliasNode": "c2", "AliasService": "web"}))
        self.assertTrue(c1.agent.check.register("c2 alive", check={"AliasNode": "c2"}, check_id="c2-node"))

        def agent_check(check_id):
            check = c1.agent.checks().get(check_id)
            return (check["Status"], check["Output"]) if check else None

        def catalog_status():
            _, rows = c1.health.node("c1")
            return {row["CheckID"]: row["Status"] for row in rows}.get("service:web-proxy")

        def passing_instances():
            _, rows = c1.health.service("web-proxy", passing=True)
            return [row["Node"]["Node"] for row in rows]

        # The node alias: c2's serfHealth (passing) is its only node check.
        eventually("c1's alias of the node c2 passing", lambda: agent_check("c2-node") == ("passing", "All checks passing."))
        alias_check = c1.agent.checks()["service:web-proxy"]
        self.assertEqual(alias_check["ServiceID"], "web-proxy")
        self.assertEqual(alias_check["ServiceName"], "web-proxy")
        # The TTL check starts critical, and so does the alias.
        failing = f"Aliased check \"{WEB_CHECK}\" failing: "
        eventually("the alias critical as c2's TTL check", lambda: agent_check("service:web-proxy") == ("critical", failing))
        steps = [
            (lambda: c2.agent.check.ttl_pass("service:web"), "passing", "All checks passing.", ["c1"]),
            (lambda: c2.agent.check.ttl_warn("service:web", "slow"), "warning", failing + "slow", []),
            (lambda: c2.agent.check.ttl_fail("service:web", "down"), "critical", failing + "down", []),
            (lambda: c2.agent.check.ttl_pass("service:web", "back"), "passing", "All checks passing.", ["c1"]),
        ]
        for act, status, output, passing in steps:
            started = time.monotonic()
            self.assertTrue(act())
            eventually(f"c1's alias {status} in its agent", lambda: agent_check("service:web-proxy") == (status, output))
            eventually(f"c1's alias {status} in the catalog", lambda: catalog_status() == status)
            # health.service ?passing: only instances whose every check passes (Consul's).
            eventually(f"web-proxy's passing instances {passing}", lambda: passing_instances() == passing)
            cluster.log(f"alias {status} in c1's agent and the catalog {time.monotonic() - started:.2f}s after c2's update")

        # c2's service deregistered: Consul's output, critical in the catalog; the node alias stays.
        self.assertTrue(c2.agent.service.deregister("web"))
        eventually("the alias critical, web not found on c2",
                   lambda: agent_check("service:web-proxy") == ("critical", "Service web could not be found on node c2"))
        eventually("the alias critical in the catalog", lambda: catalog_status() == "critical")
        self.assertEqual(agent_check("c2-node"), ("passing", "All checks passing."))


if __name__ == "__main__":
    cluster.assert_ports_free(SERVER_ADDRESSES + CLIENT_ADDRESSES)
    unittest.main(argv=[sys.argv[0]], verbosity=2)
