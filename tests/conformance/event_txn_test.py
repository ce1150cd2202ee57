"""User events through python-consul 0.7.1 (event.fire -> {"ID", ...}, event.list -> (index,
events) with Payload decoded, a blocking list woken by the next event, the index being Consul's
fold of the newest event's ID), transactions through raw HTTP (python-consul 0.7.1 has no txn
API; Consul's PUT /v1/txn shapes: 200 with Results, 409 with Errors), and force-leave / reload
through the agent endpoints python-consul calls (force_leave with GET, W9)."""

import base64
import json
import threading
import time
import urllib.error
import urllib.request

import dev_agent

ADDRESS = "127.0.0.165"


def consul_event_index(event_id):
    """What clients compute from an event ID to compare with X-Consul-Index (Consul's
    idToIndex): the first three groups' hex XOR the last two's."""
    groups = event_id.split("-")
    return int("".join(groups[0:3]), 16) ^ int("".join(groups[3:5]), 16)


def put(path, body):
    request = urllib.request.Request(f"http://{ADDRESS}:{dev_agent.HTTP_PORT}{path}", data=body, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def b64(text):
    return base64.b64encode(text.encode()).decode()


class EventTest(dev_agent.TestCase):
    def test_fire_and_list(self):
        fired = self.c.event.fire("deploy", "v1.2.3")
        self.assertEqual(set(fired), {"ID", "Name", "Payload", "NodeFilter", "ServiceFilter", "TagFilter",
                                      "Version", "LTime"})
        self.assertEqual(fired["Name"], "deploy")
        self.assertEqual(fired["Version"], 1)
        index, events = self.c.event.list(name="deploy")
        self.assertTrue(any(e["ID"] == fired["ID"] for e in events), events)
        mine = [e for e in events if e["ID"] == fired["ID"]][0]
        self.assertEqual(mine["Payload"], b"v1.2.3")  # python-consul decodes it
        self.assertEqual(int(index), consul_event_index(events[-1]["ID"]))
        # Another name lists none of these.
        _, others = self.c.event.list(name="no-such-event")
        self.assertEqual(others, [])

    def test_blocking_list_wakes_on_the_next_event(self):
        self.c.event.fire("wake", "first")
        index, _ = self.c.event.list(name="wake")
        result = {}

        def block():
            result["answer"] = dev_agent.client().event.list(name="wake", index=index, wait="20s")

        waiter = threading.Thread(target=block)
        started = time.monotonic()
        waiter.start()
        time.sleep(0.5)
        self.assertTrue(waiter.is_alive(), "a blocking list answered before any new event")
        second = self.c.event.fire("wake", "second")
        waiter.join(10)
        self.assertFalse(waiter.is_alive())
        self.assertLess(time.monotonic() - started, 10)
        new_index, events = result["answer"]
        self.assertNotEqual(new_index, index)
        self.assertEqual(events[-1]["ID"], second["ID"])

    def test_filtered_events_are_kept_only_where_they_match(self):
        self.c.event.fire("elsewhere", "x", node="^not-this-node$")
        _, events = self.c.event.list(name="elsewhere")
        self.assertEqual(events, [])
        self.c.event.fire("here", "x", node=dev_agent.NODE_NAME)
        _, events = self.c.event.list(name="here")
        self.assertEqual(len(events), 1)

    def test_service_and_tag_filters_match_this_agents_services(self):
        self.c.agent.service.register("web", service_id="web-1", tags=["v1", "canary"])
        self.addCleanup(self.c.agent.service.deregister, "web-1")
        self.c.event.fire("for-web", "x", service="^web$", tag="canary")
        self.c.event.fire("for-db", "x", service="^db$")
        self.c.event.fire("for-web-v2", "x", service="web", tag="^v2$")
        self.assertEqual(len(self.c.event.list(name="for-web")[1]), 1)
        self.assertEqual(self.c.event.list(name="for-db")[1], [])
        self.assertEqual(self.c.event.list(name="for-web-v2")[1], [])
        # A tag filter without a service filter is refused, as Consul's.
        with self.assertRaises(dev_agent.consul.ConsulException):
            self.c.event.fire("tag-only", "x", tag="v1")

    def test_reserved_name_and_bad_filter_are_refused(self):
        with self.assertRaises(dev_agent.consul.ConsulException):
            self.c.event.fire("_internal", "x")
        with self.assertRaises(dev_agent.consul.ConsulException):
            self.c.event.fire("bad", "x", node="(")


class TxnTest(dev_agent.TestCase):
    def test_all_or_none(self):
        ops = [{"KV": {"Verb": "set", "Key": "txn/a", "Value": b64("1")}},
               {"KV": {"Verb": "set", "Key": "txn/b", "Value": b64("2"), "Flags": 9}}]
        status, body = put("/v1/txn", json.dumps(ops).encode())
        self.assertEqual(status, 200, body)
        answer = json.loads(body)
        self.assertIsNone(answer["Errors"])
        self.assertEqual([r["KV"]["Key"] for r in answer["Results"]], ["txn/a", "txn/b"])
        _, entry = self.c.kv.get("txn/b")
        self.assertEqual((entry["Value"], entry["Flags"]), (b"2", 9))
        # A failing check rolls the whole transaction back: 409 with Consul's errors.
        ops = [{"KV": {"Verb": "set", "Key": "txn/c", "Value": b64("3")}},
               {"KV": {"Verb": "check-index", "Key": "txn/a", "Index": 1}}]
        status, body = put("/v1/txn", json.dumps(ops).encode())
        self.assertEqual(status, 409, body)
        answer = json.loads(body)
        self.assertIsNone(answer["Results"])
        self.assertEqual(answer["Errors"][0]["OpIndex"], 1)
        self.assertEqual(self.c.kv.get("txn/c")[1], None)

    def test_read_only_and_bad_bodies(self):
        self.c.kv.put("txn/r", "read")
        status, body = put("/v1/txn", json.dumps([{"KV": {"Verb": "get", "Key": "txn/r"}}]).encode())
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["Results"][0]["KV"]["Value"], b64("read"))
        for bad in (b"not json", b"{}", b'[{"KV":{"Verb":"teleport","Key":"k"}}]'):
            status, _ = put("/v1/txn", bad)
            self.assertEqual(status, 400, bad)
        many = [{"KV": {"Verb": "get", "Key": "k"}}] * 65
        status, _ = put("/v1/txn", json.dumps(many).encode())
        self.assertEqual(status, 413)


class AgentTest(dev_agent.TestCase):
    def test_force_leave_of_an_unknown_node_and_reload(self):
        self.assertIs(self.c.agent.force_leave("nobody-here"), True)
        status, _ = put("/v1/agent/reload", b"")
        self.assertEqual(status, 200)
        self.assertEqual(self.c.status.leader(), dev_agent.rpc_address())


if __name__ == "__main__":
    dev_agent.run(ADDRESS)
