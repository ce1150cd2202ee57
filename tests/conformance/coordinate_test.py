"""Network coordinates through python-consul: `coordinate.datacenters()` and
`coordinate.nodes()` (with a blocking `index=`) against a dev agent on 127.0.5.1, PUT
/v1/coordinate/update and GET /v1/coordinate/node/:node over raw HTTP; then a cluster of three
servers on 127.0.5.2-4 (tests/integration/cluster.py), where every server's own coordinate,
measured from gossip's probes, reaches the table within Consul's sync interval (15-30 s) plus
the leader's 5 s batch, and `near=_agent` answers a permutation of the nodes with the asking
agent first and the rest in the order of the distances the coordinates give (Serf's DistanceTo,
computed here). On loopback the round-trip times are all alike, so the order itself is not
forced; it is checked against the coordinates the agents report.
"""

import json
import math
import os
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import consul

import dev_agent

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402

ADDRESS = "127.0.5.1"
CLUSTER_ADDRESSES = ["127.0.5.2", "127.0.5.3", "127.0.5.4"]
# Consul's sync interval: 15 s plus a stagger of up to as much; the leader batches every 5 s.
COORDINATE_TIMEOUT_SECONDS = 60


def coord(x):
    return {"Vec": [x, 0, 0, 0, 0, 0, 0, 0], "Error": 0.25, "Adjustment": 0.0, "Height": 1e-05}


def http(method, path, body=None, address=ADDRESS):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://{address}:8500{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def distance(a, b):
    """Serf's DistanceTo, in seconds: Euclidean on Vec plus both heights, plus both adjustments
    unless that would make it zero or negative."""
    raw = math.sqrt(sum((x - y) ** 2 for x, y in zip(a["Vec"], b["Vec"]))) + a["Height"] + b["Height"]
    adjusted = raw + a["Adjustment"] + b["Adjustment"]
    return adjusted if adjusted > 0 else raw


class DevAgentCoordinateTest(dev_agent.TestCase):
    def test_agent_self_names_its_lan_coordinate(self):
        c = self.c.agent.self()["Coord"]
        self.assertEqual(set(c), {"Vec", "Error", "Adjustment", "Height"})
        self.assertEqual(len(c["Vec"]), 8)
        self.assertLessEqual(c["Error"], 1.5)

    def test_datacenters_lists_ours(self):
        dcs = self.c.coordinate.datacenters()
        self.assertIsInstance(dcs, list)
        self.assertEqual([d["Datacenter"] for d in dcs], ["dc1"])
        self.assertEqual(dcs[0]["AreaID"], "WAN")
        for entry in dcs[0]["Coordinates"]:  # the dev server's WAN coordinate, once it has one
            self.assertEqual(set(entry), {"Node", "Coord"})
            self.assertEqual(len(entry["Coord"]["Vec"]), 8)

    def test_an_update_is_batched_into_the_table_and_wakes_a_blocking_read(self):
        index, before = self.c.coordinate.nodes()
        self.assertIsInstance(before, list)
        self.assertGreater(int(index), 0)
        woke = {}

        def blocking():
            woke["answer"] = self.client().coordinate.nodes(index=index, wait="20s")
            woke["at"] = time.monotonic()
        thread = threading.Thread(target=blocking)
        thread.start()
        time.sleep(0.5)
        self.assertNotIn("answer", woke, "the blocking read returned before anything changed")
        sent = time.monotonic()
        status, body = http("PUT", "/v1/coordinate/update", {"Node": dev_agent.NODE_NAME, "Coord": coord(0.002)})
        self.assertEqual(status, 200, body)
        thread.join(25)
        self.assertIn("answer", woke)
        new_index, rows = woke["answer"]
        self.assertGreater(int(new_index), int(index))
        self.assertLess(woke["at"] - sent, 7, "the leader batches every 5 s")
        mine = [r for r in rows if r["Node"] == dev_agent.NODE_NAME]
        self.assertEqual(len(mine), 1)
        self.assertEqual(set(mine[0]), {"Node", "Segment", "Coord"})
        self.assertEqual(mine[0]["Segment"], "")
        self.assertEqual(set(mine[0]["Coord"]), {"Vec", "Error", "Adjustment", "Height"})
        # /v1/coordinate/node/:node (python-consul 0.7.1 has no call for it).
        status, body = http("GET", f"/v1/coordinate/node/{dev_agent.NODE_NAME}")
        self.assertEqual(status, 200)
        self.assertEqual([r["Node"] for r in json.loads(body)], [dev_agent.NODE_NAME])
        status, body = http("GET", "/v1/coordinate/node/nobody")
        self.assertEqual(status, 404)

    def test_bad_updates_are_refused(self):
        for body in ({"Node": dev_agent.NODE_NAME, "Coord": {"Vec": [0.1, 0.2]}},
                     {"Node": dev_agent.NODE_NAME, "Coord": dict(coord(0.1), Height=-1)},
                     {"Node": dev_agent.NODE_NAME, "Coord": dict(coord(0.1), Vec=[1e300] * 8)},
                     {"Coord": coord(0.1)}):
            status, answer = http("PUT", "/v1/coordinate/update", body)
            self.assertEqual(status, 400, (body, answer))
        status, _ = http("PUT", "/v1/coordinate/update", None)
        self.assertEqual(status, 400)
        status, _ = http("GET", "/v1/coordinate/update")
        self.assertEqual(status, 405)


class ClusterCoordinateTest(dev_agent.TestCase):
    """Three servers: real coordinates from gossip, and near=_agent on each."""

    @classmethod
    def setUpClass(cls):
        cls.agents = []
        cls.tmpdir = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp(prefix="muster_coordinates_")
        try:
            cls.servers = cluster.start_servers(os.path.abspath(sys.argv[1]), os.path.join(cls.tmpdir, "cluster"),
                                                cls.agents, CLUSTER_ADDRESSES)
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

    def wait_for_coordinates(self, c, names):
        deadline = time.monotonic() + COORDINATE_TIMEOUT_SECONDS
        while True:
            _, rows = c.coordinate.nodes()
            have = {r["Node"]: r["Coord"] for r in rows}
            if set(names) <= set(have):
                return have
            self.assertLess(time.monotonic(), deadline, f"coordinates of {sorted(set(names) - set(have))} missing")
            time.sleep(0.5)

    def test_every_server_has_a_coordinate_and_near_agent_orders_by_distance(self):
        names = [s.name for s in self.servers]
        started = time.monotonic()
        clients = {s.name: consul.Consul(host=s.address, port=8500) for s in self.servers}
        for c in clients.values():
            self.addCleanup(c.http.session.close)
        coords = self.wait_for_coordinates(clients[names[0]], names)
        dev_agent.log(f"coordinates of {names} in the table after {time.monotonic() - started:.1f}s")
        for name, c in coords.items():
            self.assertEqual(len(c["Vec"]), 8)
            self.assertTrue(all(math.isfinite(x) for x in c["Vec"] + [c["Error"], c["Adjustment"], c["Height"]]))
            # Fed by measured RTTs: a node that never measured one sends Error 1.5 (the maximum).
            self.assertLess(c["Error"], 1.5, (name, c))
            self.assertGreaterEqual(c["Height"], 10e-6)
        for name, c in clients.items():
            # Every server answers the same table (stale too), once the batches are in.
            self.wait_for_coordinates(c, names)
            _, nodes = c.catalog.nodes(near="_agent")
            order = [n["Node"] for n in nodes]
            self.assertEqual(sorted(order), sorted(names))
            self.assertEqual(order[0], name, f"near=_agent from {name}: {order}")
            _, table = c.coordinate.nodes(consistency="consistent")
            now = {r["Node"]: r["Coord"] for r in table}
            _, nodes = c.catalog.nodes(near="_agent", consistency="consistent")
            order = [n["Node"] for n in nodes]
            _, table_after = c.coordinate.nodes(consistency="consistent")
            if {r["Node"]: r["Coord"] for r in table_after} != now:
                continue  # a batch landed between the two reads: nothing to compare against
            rest = [distance(now[name], now[n]) for n in order[1:]]
            self.assertEqual(rest, sorted(rest), f"near=_agent from {name}: {order} at distances {rest}")
            dev_agent.log(f"near=_agent from {name}: {order}, distances (us) {[round(d * 1e6, 1) for d in rest]}")
            # health.state takes near too: every server's serfHealth, the asking one's first.
            _, checks = c.health.state("any", near="_agent")
            check_nodes = [ch["Node"] for ch in checks if ch["CheckID"] == "serfHealth"]
            self.assertEqual(sorted(check_nodes), sorted(names))
            self.assertEqual(check_nodes[0], name, f"health.state near=_agent from {name}: {check_nodes}")


if __name__ == "__main__":
    cluster.assert_ports_free(CLUSTER_ADDRESSES)
    dev_agent.run(ADDRESS)
