"""python-consul 0.7.1's health calls against a muster dev agent: health.service (with passing
and tag; rows of {"Node", "Service", "Checks"}, node checks included), health.checks,
health.node and health.state, on a catalog the test registers; a blocking health.service that
a check turning passing wakes. Shapes as consul/base.py documents them and Consul answers
(http-api.md rows 29-30); `[]` (the text) when nothing matches."""

import json
import threading
import time
import urllib.request

import consul

import dev_agent

ADDRESS = "127.0.0.166"
CHECK_FIELDS = {"Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID", "ServiceName", "ServiceTags"}
NODE_FIELDS = {"ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta", "CreateIndex", "ModifyIndex"}
SERVICE_FIELDS = {"ID", "Service", "Tags", "Address", "Port", "Meta", "Weights", "EnableTagOverride"}
BLOCK_WAIT = "10s"
CHANGE_AFTER_SECONDS = 0.5
LATE_SLACK_SECONDS = 1.0  # on a loaded machine; nothing may come early


def check(check_id, status, service_id=""):
    return {"CheckID": check_id, "Name": check_id, "Status": status, "ServiceID": service_id}


class HealthTest(dev_agent.TestCase):
    def setUp(self):
        super().setUp()
        # web-a: its node check and its service check pass. web-b: its node check passes, its
        # service check is critical. Both nodes are external (no serfHealth, never reaped).
        self.register("ext-a", "10.8.0.1", {"Service": "web", "ID": "web-a", "Tags": ["v1"], "Port": 80},
                      [check("node-ok", "passing"), check("service:web-a", "passing", "web-a")])
        self.register("ext-b", "10.8.0.2", {"Service": "web", "ID": "web-b", "Tags": ["v2"], "Port": 80},
                      [check("node-ok", "passing"), check("service:web-b", "critical", "web-b")])

    def register(self, node, address, service, checks):
        body = {"Node": node, "Address": address, "Service": service, "Checks": checks}
        self.assertIs(self.c.http.put(consul.base.CB.bool(), "/v1/catalog/register", data=json.dumps(body)), True)
        self.addCleanup(self.c.catalog.deregister, node)

    def test_health_service_rows_and_passing(self):
        index, rows = self.c.health.service("web")
        self.assertGreaterEqual(int(index), 1)
        self.assertEqual([(r["Node"]["Node"], r["Service"]["ID"]) for r in rows], [("ext-a", "web-a"), ("ext-b", "web-b")])
        row = rows[0]
        self.assertEqual(list(row), ["Node", "Service", "Checks"])
        self.assertTrue(NODE_FIELDS <= set(row["Node"]), row["Node"])
        self.assertTrue(SERVICE_FIELDS <= set(row["Service"]), row["Service"])
        self.assertEqual(row["Node"]["Address"], "10.8.0.1")
        self.assertEqual(row["Service"]["Tags"], ["v1"])
        # The node's checks, then the service's.
        self.assertEqual([c["CheckID"] for c in row["Checks"]], ["node-ok", "service:web-a"])
        for c in row["Checks"]:
            self.assertTrue(CHECK_FIELDS <= set(c), c)
        self.assertEqual(row["Checks"][1]["ServiceName"], "web")
        # passing: only instances whose every check passes.
        index, rows = self.c.health.service("web", passing=True)
        self.assertEqual([r["Service"]["ID"] for r in rows], ["web-a"])
        # tag, and both together.
        self.assertEqual([r["Service"]["ID"] for r in self.c.health.service("web", tag="v2")[1]], ["web-b"])
        self.assertEqual(self.c.health.service("web", tag="v2", passing=True)[1], [])
        # near: that node's instances first (registered nodes with no coordinate: the rest as they were).
        self.assertEqual([r["Node"]["Node"] for r in self.c.health.service("web", near="ext-b")[1]], ["ext-b", "ext-a"])

    def test_no_instances_is_the_text_empty_list(self):
        # python-consul's own test harness polls for this exact text (W7).
        url = f"http://{ADDRESS}:{dev_agent.HTTP_PORT}/v1/health/service/no-such-service"
        with urllib.request.urlopen(url, timeout=5) as response:
            self.assertEqual(response.read(), b"[]")
            self.assertGreaterEqual(int(response.headers["X-Consul-Index"]), 1)
        self.assertEqual(self.c.health.checks("no-such-service")[1], [])

    def test_health_checks_node_and_state(self):
        index, checks = self.c.health.checks("web")
        self.assertGreaterEqual(int(index), 1)
        self.assertEqual([(c["Node"], c["CheckID"]) for c in checks], [("ext-a", "service:web-a"), ("ext-b", "service:web-b")])
        self.assertEqual({c["ServiceName"] for c in checks}, {"web"})
        self.assertEqual([c["CheckID"] for c in self.c.health.node("ext-b")[1]], ["node-ok", "service:web-b"])
        critical = self.c.health.state("critical")[1]
        self.assertEqual([(c["Node"], c["CheckID"]) for c in critical], [("ext-b", "service:web-b")])
        passing = {(c["Node"], c["CheckID"]) for c in self.c.health.state("passing")[1]}
        self.assertEqual(passing, {(dev_agent.NODE_NAME, "serfHealth"), ("ext-a", "node-ok"),
                                   ("ext-a", "service:web-a"), ("ext-b", "node-ok")})
        self.assertEqual(len(self.c.health.state("any")[1]), 5)
        self.assertEqual(self.c.health.state("warning")[1], [])
        with self.assertRaises(consul.base.BadRequest):  # python-consul allows it; Consul does not
            self.c.health.state("unknown")

    def test_filter_on_health_service(self):
        rows = self.c.http.get(consul.base.CB.json(index=True), "/v1/health/service/web",
                               params=[("filter", "Checks.Status == critical")])[1]
        self.assertEqual([r["Service"]["ID"] for r in rows], ["web-b"])

    def test_a_blocking_health_service_wakes_when_a_check_passes(self):
        index, rows = self.c.health.service("web", passing=True)
        self.assertEqual([r["Service"]["ID"] for r in rows], ["web-a"])

        def pass_later():
            time.sleep(CHANGE_AFTER_SECONDS)
            other = dev_agent.client()
            try:
                other.catalog.register("ext-b", "10.8.0.2", check=check("service:web-b", "passing", "web-b"))
            finally:
                other.http.session.close()

        writer = threading.Thread(target=pass_later)
        writer.start()
        started = time.monotonic()
        new_index, rows = self.c.health.service("web", passing=True, index=index, wait=BLOCK_WAIT)
        elapsed = time.monotonic() - started
        writer.join()
        self.assertEqual([r["Service"]["ID"] for r in rows], ["web-a", "web-b"])
        self.assertGreater(int(new_index), int(index))
        self.assertGreaterEqual(elapsed, CHANGE_AFTER_SECONDS - 0.05)
        self.assertLess(elapsed, CHANGE_AFTER_SECONDS + LATE_SLACK_SECONDS)


if __name__ == "__main__":
    dev_agent.run(ADDRESS)
