"""Golden tests of the exact answers of the HTTP API (issue 12): for a fixed sequence of
requests against a dev agent, the status line, the headers clients read (Content-Type and the
X-Consul-* query headers, Allow) and the body byte for byte: field names and their order, null
against [] against {}, the order of lists. What changes from run to run (UUIDs, raft indexes,
the event index, which is a fold of an event's UUID) is replaced by a placeholder first; all else
must match tests/conformance/golden/<case>.txt exactly.

Rewrite after an intended change: GOLDEN_REWRITE=1 bazel test //tests/conformance:golden_test
--test_env=GOLDEN_REWRITE=1 --spawn_strategy=local (the files are written next to this one),
then read the diff."""

import json
import os
import re
import urllib.error
import urllib.request

import dev_agent

ADDRESS = "127.0.0.168"
GOLDEN_DIR = os.path.join(os.path.dirname(os.path.realpath(__file__)), "golden")
HEADERS_SHOWN = ("Content-Type", "X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact", "Allow")

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INDEX_FIELD = re.compile(r'"((?:Create|Modify)Index|Index|LastIndex|LastTerm)":\d+')


def normalize(text):
    text = UUID.sub("<uuid>", text)
    return INDEX_FIELD.sub(lambda m: f'"{m.group(1)}":<index>', text)


def request(method, path, body=None):
    url = f"http://{ADDRESS}:{dev_agent.HTTP_PORT}{path}"
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def render(method, path, status, headers, body):
    lines = [f"{method} {UUID.sub('<uuid>', path)}", f"status {status}"]
    for name in HEADERS_SHOWN:
        value = headers.get(name)
        if value is None:
            continue
        if name == "X-Consul-Index":
            value = "<index>"
        lines.append(f"{name}: {value}")
    lines.append("")
    lines.append(normalize(body.decode(errors="replace")))
    return "\n".join(lines) + "\n"


class GoldenTest(dev_agent.TestCase):
    def check(self, case, method, path, body=None):
        status, headers, raw = request(method, path, body)
        got = render(method, path, status, headers, raw)
        golden = os.path.join(GOLDEN_DIR, case + ".txt")
        if os.environ.get("GOLDEN_REWRITE"):
            os.makedirs(GOLDEN_DIR, exist_ok=True)
            with open(golden, "w") as f:
                f.write(got)
        with open(golden) as f:
            self.assertEqual(got, f.read(), f"{case}: {method} {path}")
        return raw

    def test_every_endpoint_in_order(self):
        check = self.check
        check("status_leader", "GET", "/v1/status/leader")
        check("status_peers", "GET", "/v1/status/peers")
        # KV.
        check("kv_put", "PUT", "/v1/kv/g/a?flags=5", "va")
        check("kv_put_b", "PUT", "/v1/kv/g/b/c", "vc")
        check("kv_get", "GET", "/v1/kv/g/a")
        check("kv_get_recurse", "GET", "/v1/kv/g/?recurse")
        check("kv_get_keys_separator", "GET", "/v1/kv/g/?keys&separator=/")
        check("kv_get_raw", "GET", "/v1/kv/g/a?raw")
        check("kv_get_missing", "GET", "/v1/kv/g/missing")
        check("kv_put_empty", "PUT", "/v1/kv/g/empty", "")
        check("kv_get_empty", "GET", "/v1/kv/g/empty")
        check("kv_put_cas_stale", "PUT", "/v1/kv/g/a?cas=1", "nope")
        check("kv_delete", "DELETE", "/v1/kv/g/empty")
        # Sessions and locks.
        session = json.loads(check("session_create", "PUT", "/v1/session/create",
                                   '{"Name":"golden","TTL":"30s","Behavior":"release"}'))["ID"]
        check("session_info", "GET", f"/v1/session/info/{session}")
        check("session_info_unknown", "GET", "/v1/session/info/00000000-0000-0000-0000-000000000000")
        check("session_node", "GET", f"/v1/session/node/{dev_agent.NODE_NAME}")
        check("kv_acquire", "PUT", f"/v1/kv/g/lock?acquire={session}", "held")
        check("kv_get_locked", "GET", "/v1/kv/g/lock")
        check("session_renew", "PUT", f"/v1/session/renew/{session}")
        check("kv_release", "PUT", f"/v1/kv/g/lock?release={session}", "free")
        check("session_destroy", "PUT", f"/v1/session/destroy/{session}")
        check("session_list", "GET", "/v1/session/list")
        # Catalog and health.
        check("catalog_datacenters", "GET", "/v1/catalog/datacenters")
        check("catalog_nodes", "GET", "/v1/catalog/nodes")
        check("catalog_register", "PUT", "/v1/catalog/register",
              json.dumps({"Node": "ext", "Address": "10.1.2.3", "NodeMeta": {"rack": "r1"},
                          "Service": {"ID": "web1", "Service": "web", "Tags": ["v1"], "Port": 80},
                          "Check": {"CheckID": "web-alive", "Name": "web alive", "Status": "passing",
                                    "ServiceID": "web1"}}))
        check("catalog_services", "GET", "/v1/catalog/services")
        check("catalog_service", "GET", "/v1/catalog/service/web")
        check("catalog_service_none", "GET", "/v1/catalog/service/nothing")
        check("catalog_node", "GET", "/v1/catalog/node/ext")
        check("catalog_node_unknown", "GET", "/v1/catalog/node/nobody")
        check("health_node", "GET", f"/v1/health/node/{dev_agent.NODE_NAME}")
        check("health_service_passing", "GET", "/v1/health/service/web?passing")
        check("health_checks", "GET", "/v1/health/checks/web")
        check("health_state_critical", "GET", "/v1/health/state/critical")
        check("catalog_deregister", "PUT", "/v1/catalog/deregister", '{"Node":"ext"}')
        # Operator.
        check("raft_configuration", "GET", "/v1/operator/raft/configuration")
        check("autopilot_configuration", "GET", "/v1/operator/autopilot/configuration")
        # Events and transactions.
        check("event_fire", "PUT", "/v1/event/fire/golden?node=conf", "payload")
        check("event_list", "GET", "/v1/event/list?name=golden")
        check("txn", "PUT", "/v1/txn", json.dumps([{"KV": {"Verb": "set", "Key": "g/t", "Value": "dA=="}},
                                                   {"KV": {"Verb": "get", "Key": "g/a"}}]))
        check("txn_rolled_back", "PUT", "/v1/txn", json.dumps([{"KV": {"Verb": "check-not-exists", "Key": "g/t"}}]))
        # Errors, as Consul gives them.
        check("error_conflicting_consistency", "GET", "/v1/kv/g/a?stale&consistent")
        check("error_method", "PUT", "/v1/status/leader")
        check("error_no_such_endpoint", "GET", "/v1/nope")
        check("error_other_datacenter", "GET", "/v1/kv/g/a?dc=elsewhere")
        check("error_bad_index", "GET", "/v1/kv/g/a?index=x")
        check("error_cas_and_acquire", "PUT", "/v1/kv/g/a?cas=1&acquire=x", "v")


if __name__ == "__main__":
    dev_agent.run(ADDRESS)
