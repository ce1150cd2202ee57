"""python-consul 0.7.1's catalog calls against a muster dev agent, checked against the shapes
its documentation (consul/base.py) promises and Consul's (http-api.md rows 23-28): nodes, node,
services, service (with tag), register and deregister (True), health.node; node-meta and filter
through python-consul's own HTTP client (0.7.1 has no argument for them); indexes strings of an
integer >= 1, blocking on ?index like every read, one service's index moving only with it."""

import json
import threading
import time

import consul

import dev_agent

ADDRESS = "127.0.0.164"
NODE_FIELDS = {"ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta", "CreateIndex", "ModifyIndex"}
CHECK_FIELDS = {"Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID", "ServiceName"}
CATALOG_SERVICE_FIELDS = {"ID", "Node", "Address", "Datacenter", "TaggedAddresses", "NodeMeta", "ServiceID",
                          "ServiceName", "ServiceTags", "ServiceAddress", "ServicePort", "ServiceMeta",
                          "ServiceEnableTagOverride", "ServiceWeights", "CreateIndex", "ModifyIndex"}
AGENT_SERVICE_FIELDS = {"ID", "Service", "Tags", "Address", "Port", "Meta", "Weights", "EnableTagOverride"}
# How long a blocking read waits for a change that is made after CHANGE_AFTER_SECONDS.
BLOCK_WAIT = "10s"
CHANGE_AFTER_SECONDS = 0.5
# How long a blocking read with nothing to wake it must last, with Consul's wait/16 jitter.
QUIET_WAIT = "1s"
QUIET_WAIT_SECONDS = 1.0
LATE_SLACK_SECONDS = 1.0  # on a loaded machine; nothing may come early


class CatalogTest(dev_agent.TestCase):
    def test_catalog_nodes_lists_the_agent(self):
        index, nodes = self.c.catalog.nodes()
        self.assertGreaterEqual(int(index), 1)
        self.assertEqual([n["Node"] for n in nodes], [dev_agent.NODE_NAME])
        node = nodes[0]
        self.assertTrue(NODE_FIELDS <= set(node), f"fields of {node}")
        self.assertEqual(node["Address"], ADDRESS)
        self.assertEqual(node["Datacenter"], "dc1")
        self.assertEqual(node["ID"], self.c.agent.self()["Config"]["NodeID"])
        self.assertEqual(node["TaggedAddresses"]["lan"], ADDRESS)
        for consistency in ("consistent", "stale"):
            self.assertEqual([n["Node"] for n in self.c.catalog.nodes(consistency=consistency)[1]],
                             [dev_agent.NODE_NAME], consistency)

    def test_the_server_is_the_consul_service(self):
        # python-consul's own tests expect {'consul': []} from a fresh server's catalog.
        _, services = self.c.catalog.services()
        self.assertEqual(services.get("consul"), [])
        _, instances = self.c.catalog.service("consul")
        self.assertEqual([(i["Node"], i["ServiceID"], i["ServicePort"]) for i in instances],
                         [(dev_agent.NODE_NAME, "consul", dev_agent.RPC_PORT)])
        # The agent's own anti-entropy leaves it there: it is not one of the agent's services.
        self.assertNotIn("consul", self.c.agent.services())

    def test_health_node_is_serf_health_passing(self):
        index, checks = self.c.health.node(dev_agent.NODE_NAME)
        self.assertGreaterEqual(int(index), 1)
        self.assertEqual([c["CheckID"] for c in checks], ["serfHealth"])
        check = checks[0]
        self.assertTrue(CHECK_FIELDS <= set(check), f"fields of {check}")
        self.assertEqual(check["Node"], dev_agent.NODE_NAME)
        self.assertEqual(check["Status"], "passing")
        self.assertEqual(check["ServiceID"], "")
        # An unknown node has no checks: an empty list, not None.
        index, checks = self.c.health.node("no-such-node")
        self.assertEqual(checks, [])
        self.assertGreaterEqual(int(index), 1)

    def test_a_blocking_catalog_read_waits_when_nothing_changes(self):
        # The leader's own catalog upkeep may change the nodes meanwhile; a read that returns
        # early must then show a later index, and one of a few reads must wait its wait out.
        for _ in range(3):
            index, _ = self.c.catalog.nodes()
            started = time.monotonic()
            new_index, nodes = self.c.catalog.nodes(index=index, wait=QUIET_WAIT)
            elapsed = time.monotonic() - started
            self.assertEqual([n["Node"] for n in nodes], [dev_agent.NODE_NAME])
            self.assertLess(elapsed, QUIET_WAIT_SECONDS * (1 + 1 / 16) + LATE_SLACK_SECONDS)
            if elapsed >= QUIET_WAIT_SECONDS - 0.05:
                self.assertEqual(new_index, index)
                return
            self.assertGreater(int(new_index), int(index), f"returned after {elapsed:.2f}s with no change")
        self.fail("every blocking read returned early")

    def register(self, node, address="10.9.0.1", **kwargs):
        """catalog.register, the node deregistered again when the test ends."""
        self.assertIs(self.c.catalog.register(node, address, **kwargs), True)
        self.addCleanup(self.c.catalog.deregister, node)

    def put_registration(self, body):
        """A registration python-consul 0.7.1 cannot spell (NodeMeta), sent through its client."""
        self.assertIs(self.c.http.put(consul.base.CB.bool(), "/v1/catalog/register", data=json.dumps(body)), True)
        self.addCleanup(self.c.catalog.deregister, body["Node"])

    def get(self, path, params):
        """A read with parameters python-consul 0.7.1 has no argument for (node-meta, filter)."""
        return self.c.http.get(consul.base.CB.json(index=True), path, params=params)

    def test_catalog_register_and_read_the_service_back(self):
        service = {"Service": "web", "ID": "web-1", "Tags": ["v1", "primary"], "Port": 8080}
        check = {"CheckID": "service:web-1", "Name": "web alive", "Status": "passing", "ServiceID": "web-1"}
        self.register("ext-1", service=service, check=check)
        index, rows = self.c.catalog.service("web")
        self.assertGreaterEqual(int(index), 1)
        self.assertEqual(len(rows), 1, rows)
        row = rows[0]
        self.assertTrue(CATALOG_SERVICE_FIELDS <= set(row), f"fields of {row}")
        self.assertEqual((row["Node"], row["Address"], row["Datacenter"]), ("ext-1", "10.9.0.1", "dc1"))
        self.assertEqual((row["ServiceID"], row["ServiceName"], row["ServicePort"]), ("web-1", "web", 8080))
        self.assertEqual(row["ServiceTags"], ["v1", "primary"])
        self.assertEqual(row["ServiceWeights"], {"Passing": 1, "Warning": 1})
        # ?tag: an instance carrying it; none otherwise, as [] (not None).
        self.assertEqual([r["ServiceID"] for r in self.c.catalog.service("web", tag="primary")[1]], ["web-1"])
        self.assertEqual(self.c.catalog.service("web", tag="v9")[1], [])
        index, rows = self.c.catalog.service("no-such-service")
        self.assertEqual(rows, [])
        self.assertGreaterEqual(int(index), 1)
        for consistency in ("consistent", "stale"):
            self.assertEqual(len(self.c.catalog.service("web", consistency=consistency)[1]), 1, consistency)
        # The node's own view: {"Node", "Services": {"<id>": ...}}.
        index, node = self.c.catalog.node("ext-1")
        self.assertEqual(node["Node"]["Address"], "10.9.0.1")
        self.assertEqual(list(node["Services"]), ["web-1"])
        self.assertTrue(AGENT_SERVICE_FIELDS <= set(node["Services"]["web-1"]), node)
        # Every node in lexical order, and the services with the union of their tags.
        self.assertEqual([n["Node"] for n in self.c.catalog.nodes()[1]], [dev_agent.NODE_NAME, "ext-1"])
        self.assertEqual(self.c.catalog.services()[1]["web"], ["primary", "v1"])
        # The check is in the catalog too.
        self.assertEqual([c["CheckID"] for c in self.c.health.node("ext-1")[1]], ["service:web-1"])

    def test_catalog_deregister_a_check_a_service_and_the_node(self):
        service = {"Service": "api", "ID": "api-1", "Port": 9000}
        check = {"CheckID": "api-check", "Name": "api", "Status": "passing", "ServiceID": "api-1"}
        self.register("ext-2", address="10.9.0.2", service=service, check=check)
        self.assertIs(self.c.catalog.deregister("ext-2", check_id="api-check"), True)
        self.assertEqual(self.c.health.node("ext-2")[1], [])
        self.assertEqual(len(self.c.catalog.service("api")[1]), 1)
        self.assertIs(self.c.catalog.deregister("ext-2", service_id="api-1"), True)
        self.assertEqual(self.c.catalog.service("api")[1], [])
        self.assertEqual(self.c.catalog.node("ext-2")[1]["Services"], {})
        self.assertIs(self.c.catalog.deregister("ext-2"), True)
        self.assertIsNone(self.c.catalog.node("ext-2")[1])
        # Deregistering what is not there is no error.
        self.assertIs(self.c.catalog.deregister("ext-2", service_id="api-1"), True)

    def test_register_into_another_datacenter_is_refused(self):
        with self.assertRaises(consul.ConsulException) as caught:
            self.c.catalog.register("ext-dc2", "10.9.0.9", dc="dc2")
        self.assertIn("No path to datacenter", str(caught.exception))
        with self.assertRaises(consul.base.BadRequest):  # no address for a new node
            self.c.http.put(consul.base.CB.bool(), "/v1/catalog/register", data=json.dumps({"Node": "ext-none"}))
        self.assertIsNone(self.c.catalog.node("ext-none")[1])

    def test_node_meta_on_nodes_services_and_service(self):
        self.put_registration({"Node": "ext-3", "Address": "10.9.0.3", "NodeMeta": {"rack": "r1"},
                               "Service": {"Service": "cache", "Tags": ["blue"], "Port": 6379}})
        self.put_registration({"Node": "ext-4", "Address": "10.9.0.4", "NodeMeta": {"rack": "r2"},
                               "Service": {"Service": "cache", "Tags": ["green"], "Port": 6379}})
        index, nodes = self.get("/v1/catalog/nodes", [("node-meta", "rack:r1")])
        self.assertEqual([n["Node"] for n in nodes], ["ext-3"])
        self.assertEqual(nodes[0]["Meta"], {"rack": "r1"})
        self.assertEqual(self.get("/v1/catalog/services", [("node-meta", "rack:r2")])[1], {"cache": ["green"]})
        rows = self.get("/v1/catalog/service/cache", [("node-meta", "rack:r1")])[1]
        self.assertEqual([(r["Node"], r["NodeMeta"]) for r in rows], [("ext-3", {"rack": "r1"})])
        # Every pair must match.
        self.assertEqual(self.get("/v1/catalog/nodes", [("node-meta", "rack:r1"), ("node-meta", "rack:r2")])[1], [])

    def test_filter_and_near_on_a_service(self):
        self.put_registration({"Node": "ext-5", "Address": "10.9.0.5",
                               "Service": {"Service": "queue", "Port": 5672, "Meta": {"version": "1.2"}}})
        self.put_registration({"Node": "ext-6", "Address": "10.9.0.6",
                               "Service": {"Service": "queue", "Port": 5673, "Meta": {"version": "2.0"}}})
        rows = self.get("/v1/catalog/service/queue", [("filter", 'ServiceMeta.version == "2.0"')])[1]
        self.assertEqual([r["Node"] for r in rows], ["ext-6"])
        rows = self.get("/v1/catalog/service/queue", [("filter", "ServicePort == 5672 or Node == ext-6")])[1]
        self.assertEqual([r["Node"] for r in rows], ["ext-5", "ext-6"])
        self.assertEqual([r["Node"] for r in self.c.catalog.service("queue", near="ext-6")[1]], ["ext-6", "ext-5"])
        with self.assertRaises(consul.base.BadRequest) as caught:
            self.get("/v1/catalog/service/queue", [("filter", "NoSuchField == 1")])
        self.assertIn('Selector "NoSuchField" is not valid', str(caught.exception))

    def test_a_blocking_catalog_service_wakes_on_a_register_and_not_on_others(self):
        self.register("ext-7", address="10.9.0.7", service={"Service": "blocky", "Port": 1})
        index, rows = self.c.catalog.service("blocky")
        self.assertEqual([r["Node"] for r in rows], ["ext-7"])

        def register_later(node, service):
            time.sleep(CHANGE_AFTER_SECONDS)
            other = dev_agent.client()
            try:
                other.catalog.register(node, "10.9.0.8", service={"Service": service, "Port": 2})
            finally:
                other.http.session.close()

        # Another service's register moves neither blocky's index (Consul's per-service index)
        # nor wakes its readers: the read waits its wait out.
        self.addCleanup(self.c.catalog.deregister, "ext-8")
        writer = threading.Thread(target=register_later, args=("ext-8", "unrelated"))
        writer.start()
        started = time.monotonic()
        quiet_index, rows = self.c.catalog.service("blocky", index=index, wait=QUIET_WAIT)
        elapsed = time.monotonic() - started
        writer.join()
        self.assertEqual([r["Node"] for r in rows], ["ext-7"])
        self.assertEqual(quiet_index, index)
        self.assertGreaterEqual(elapsed, QUIET_WAIT_SECONDS - 0.05)
        self.assertLess(elapsed, QUIET_WAIT_SECONDS * (1 + 1 / 16) + LATE_SLACK_SECONDS)
        # A blocky instance's register wakes it, and not before.
        self.addCleanup(self.c.catalog.deregister, "ext-9")
        writer = threading.Thread(target=register_later, args=("ext-9", "blocky"))
        writer.start()
        started = time.monotonic()
        new_index, rows = self.c.catalog.service("blocky", index=index, wait=BLOCK_WAIT)
        elapsed = time.monotonic() - started
        writer.join()
        self.assertEqual([r["Node"] for r in rows], ["ext-7", "ext-9"])
        self.assertGreater(int(new_index), int(index))
        self.assertGreaterEqual(elapsed, CHANGE_AFTER_SECONDS - 0.05)
        self.assertLess(elapsed, CHANGE_AFTER_SECONDS + LATE_SLACK_SECONDS)

if __name__ == "__main__":
    dev_agent.run(ADDRESS)
