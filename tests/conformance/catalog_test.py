"""python-consul 0.7.1's catalog.nodes and health.node against a muster dev agent, checked
against the shapes its documentation (consul/base.py) promises: (index, [nodes]) and (index,
[checks]), the index a string of an integer >= 1, blocking on ?index like every read."""

import time

import dev_agent

ADDRESS = "127.0.0.164"
NODE_FIELDS = {"ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta", "CreateIndex", "ModifyIndex"}
CHECK_FIELDS = {"Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID", "ServiceName"}
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

if __name__ == "__main__":
    dev_agent.run(ADDRESS)
