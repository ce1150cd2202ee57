"""Catalog operations in transactions (Consul's PUT /v1/txn Node, Service and Check ops, api-docs
txn) through raw HTTP, as python-consul 0.7.1 has no txn API: a node, its service and a check
registered in one transaction and seen by python-consul's catalog and health reads; cas by
ModifyIndex (0: only if absent); a failing op rolling back catalog and KV writes together
(409 with Errors); read-only gets of each kind; and bad catalog ops refused with a 400."""

import base64
import json
import urllib.error
import urllib.request

import dev_agent

ADDRESS = "127.0.0.176"


def put(path, body):
    request = urllib.request.Request(f"http://{ADDRESS}:{dev_agent.HTTP_PORT}{path}", data=body, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def txn(ops):
    status, body = put("/v1/txn", json.dumps(ops).encode())
    return status, json.loads(body) if body.startswith(b"{") else body


def b64(text):
    return base64.b64encode(text.encode()).decode()


NODE = {"Node": "txn-node", "Address": "10.1.2.3", "Meta": {"rack": "r1"}, "TaggedAddresses": {"lan": "10.1.2.3"}}
SERVICE = {"ID": "txn-web-1", "Service": "txn-web", "Tags": ["v1"], "Port": 8080, "Meta": {"team": "t"},
           "Weights": {"Passing": 3, "Warning": 1},
           "TaggedAddresses": {"lan": {"Address": "10.1.2.3", "Port": 8080}}}
CHECK = {"Node": "txn-node", "CheckID": "txn-web-alive", "Name": "alive", "Status": "passing",
         "ServiceID": "txn-web-1"}


class TxnCatalogTest(dev_agent.TestCase):
    def register(self, node="txn-node"):
        status, answer = txn([{"Node": {"Verb": "set", "Node": dict(NODE, Node=node)}},
                              {"Service": {"Verb": "set", "Node": node, "Service": SERVICE}},
                              {"Check": {"Verb": "set", "Check": dict(CHECK, Node=node)}}])
        self.assertEqual(status, 200, answer)
        return answer

    def test_set_registers_what_the_catalog_then_shows(self):
        answer = self.register("txn-fresh")  # a node no other test wrote: every object is new
        self.assertIsNone(answer["Errors"])
        self.assertEqual([list(r) for r in answer["Results"]], [["Node"], ["Service"], ["Check"]])
        node, service, check = (r[k] for r, k in zip(answer["Results"], ["Node", "Service", "Check"]))
        self.assertEqual(node["Address"], "10.1.2.3")
        self.assertEqual(node["Meta"], {"rack": "r1"})
        self.assertEqual(service["Service"], "txn-web")
        self.assertEqual(service["Port"], 8080)
        self.assertEqual(service["Weights"], {"Passing": 3, "Warning": 1})
        # Consul writes a service address in lowercase (W5).
        self.assertEqual(service["TaggedAddresses"], {"lan": {"address": "10.1.2.3", "port": 8080}})
        self.assertEqual(node["TaggedAddresses"], {"lan": "10.1.2.3"})
        self.assertEqual(check["ServiceName"], "txn-web")
        self.assertEqual(check["Status"], "passing")
        # One transaction, one index.
        self.assertEqual(node["ModifyIndex"], service["ModifyIndex"])
        self.assertEqual(service["ModifyIndex"], check["ModifyIndex"])
        _, nodes = self.c.health.service("txn-web", passing=True)
        self.assertIn(("txn-fresh", "txn-web-1"), [(n["Node"]["Node"], n["Service"]["ID"]) for n in nodes])
        _, catalog = self.c.catalog.node("txn-fresh")
        self.assertEqual(list(catalog["Services"]), ["txn-web-1"])
        # In this datacenter, as a node registered through /v1/catalog/register.
        self.assertEqual(node["Datacenter"], "dc1")
        self.assertEqual(catalog["Node"]["Datacenter"], "dc1")

    def test_cas_compares_modify_index(self):
        answer = self.register()
        index = answer["Results"][1]["Service"]["ModifyIndex"]
        stale = dict(SERVICE, Port=9090, ModifyIndex=index + 1000)
        status, failed = txn([{"Service": {"Verb": "cas", "Node": "txn-node", "Service": stale}}])
        self.assertEqual(status, 409, failed)
        self.assertIsNone(failed["Results"])
        self.assertEqual(failed["Errors"], [{"OpIndex": 0, "What":
                                             'failed to set service "txn-web-1" on node "txn-node", index is stale'}])
        status, created = txn([{"Node": {"Verb": "cas", "Node": dict(NODE, ModifyIndex=0)}}])
        self.assertEqual(status, 409, created)  # 0: only while absent
        fresh = dict(SERVICE, Port=9090, ModifyIndex=index)
        status, ok = txn([{"Service": {"Verb": "cas", "Node": "txn-node", "Service": fresh}}])
        self.assertEqual(status, 200, ok)
        self.assertEqual(ok["Results"][0]["Service"]["Port"], 9090)
        new_index = ok["Results"][0]["Service"]["ModifyIndex"]
        self.assertGreater(new_index, index)
        status, _ = txn([{"Service": {"Verb": "delete-cas", "Node": "txn-node",
                                      "Service": {"ID": "txn-web-1", "ModifyIndex": new_index}}}])
        self.assertEqual(status, 200)
        _, nodes = self.c.catalog.service("txn-web")
        self.assertNotIn("txn-node", [n["Node"] for n in nodes])

    def test_a_failing_op_rolls_back_catalog_and_kv_writes(self):
        self.register()
        status, answer = txn([{"Node": {"Verb": "delete", "Node": {"Node": "txn-node"}}},
                              {"KV": {"Verb": "set", "Key": "txn-catalog/k", "Value": b64("v")}},
                              {"Node": {"Verb": "set", "Node": {"Node": "txn-other", "Address": "10.9.9.9"}}},
                              {"Check": {"Verb": "get", "Check": {"Node": "txn-node", "CheckID": "nope"}}}])
        self.assertEqual(status, 409, answer)
        self.assertEqual(answer["Errors"], [{"OpIndex": 3, "What": 'check "nope" on node "txn-node" doesn\'t exist'}])
        _, nodes = self.c.catalog.nodes()
        names = [n["Node"] for n in nodes]
        self.assertIn("txn-node", names)
        self.assertNotIn("txn-other", names)
        self.assertIsNone(self.c.kv.get("txn-catalog/k")[1])
        _, checks = self.c.health.node("txn-node")
        self.assertIn("txn-web-alive", [c["CheckID"] for c in checks])

    def test_read_only_gets_of_each_kind(self):
        self.register()
        status, answer = txn([{"Node": {"Verb": "get", "Node": {"Node": "txn-node"}}},
                              {"Service": {"Verb": "get", "Node": "txn-node", "Service": {"ID": "txn-web-1"}}},
                              {"Check": {"Verb": "get", "Check": {"Node": "txn-node", "CheckID": "txn-web-alive"}}}])
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["Results"][0]["Node"]["Node"], "txn-node")
        self.assertEqual(answer["Results"][1]["Service"]["Tags"], ["v1"])
        self.assertEqual(answer["Results"][2]["Check"]["Name"], "alive")
        status, missing = txn([{"Node": {"Verb": "get", "Node": {"Node": "txn-nobody"}}}])
        self.assertEqual(status, 409, missing)
        self.assertEqual(missing["Errors"][0]["What"], 'node "txn-nobody" doesn\'t exist')

    def test_bad_catalog_ops_are_refused(self):
        for bad in ([{"Node": {"Verb": "lock", "Node": NODE}}],
                    [{"Service": {"Verb": "set", "Service": SERVICE}}],
                    [{"Check": {"Verb": "set", "Check": dict(CHECK, Status="sideways")}}],
                    [{"Service": {"Verb": "set", "Node": "txn-node", "Service": dict(SERVICE, Port="80")}}],
                    [{"KV": {"Verb": "get", "Key": "k"}, "Node": {"Verb": "get", "Node": NODE}}],
                    [{"Node": {"Verb": "set", "Node": dict(NODE, Meta={"deep": {"deeper": {"deepest": []}}})}}]):
            status, body = txn(bad)
            self.assertEqual(status, 400, (bad, body))
        status, answer = txn([{"Service": {"Verb": "set", "Node": "txn-ghost", "Service": SERVICE}}])
        self.assertEqual(status, 409, answer)
        self.assertEqual(answer["Errors"][0]["What"], "Missing node registration")


if __name__ == "__main__":
    dev_agent.run(ADDRESS)
