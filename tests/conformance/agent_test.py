"""python-consul 0.7.1's agent service and check calls against a muster dev agent started with
-enable-script-checks, checked against the shapes its documentation (consul/base.py) and
Consul's (http-api.md rows 16-22) promise: service register/deregister, services, checks,
check register (TTL, HTTP against a tiny http.server the test starts, script with args and the
legacy script through sh -c; an alias check by a raw PUT), ttl_pass/warn/fail, node and service
maintenance; what the agent registers reaches the catalog by anti-entropy."""

import http.server
import json
import threading
import time
import urllib.error
import urllib.request

import consul

import dev_agent

ADDRESS = "127.0.0.167"
AGENT_SERVICE_FIELDS = {"ID", "Service", "Tags", "Address", "Port", "Meta", "Weights", "EnableTagOverride"}
AGENT_CHECK_FIELDS = {"Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID", "ServiceName"}
# Slack for a loaded 2-core machine: a check run at 1 s intervals (staggered within the first)
# and one partial sync to the catalog.
SETTLE_SECONDS = 10.0


def eventually(what, predicate, timeout=SETTLE_SECONDS):
    """Polls `predicate` until it returns something true; fails naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


class Health(http.server.BaseHTTPRequestHandler):
    """Answers GET /health with 200 "ok" (or what the test sets)."""
    status = 200

    def do_GET(self):
        body = b"ok"
        self.send_response(Health.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class AgentTest(dev_agent.TestCase):
    def tearDown(self):
        for service_id in self.c.agent.services():
            self.c.agent.service.deregister(service_id)
        for check_id in self.c.agent.checks():
            self.c.agent.check.deregister(check_id)
        self.c.agent.maintenance(False)
        super().tearDown()

    def test_service_register_lists_and_deregisters(self):
        self.assertTrue(self.c.agent.service.register(
            "web", service_id="web1", address="10.0.0.5", port=8080, tags=["a", "b"], enable_tag_override=True))
        services = self.c.agent.services()
        self.assertIn("web1", services)
        web = services["web1"]
        self.assertTrue(AGENT_SERVICE_FIELDS <= set(web), f"fields of {web}")
        self.assertEqual(web["Service"], "web")
        self.assertEqual(web["Port"], 8080)
        self.assertEqual(web["Address"], "10.0.0.5")
        self.assertEqual(web["Tags"], ["a", "b"])
        self.assertTrue(web["EnableTagOverride"])
        self.assertEqual(web["Weights"], {"Passing": 1, "Warning": 1})
        # Anti-entropy puts it in the catalog.
        eventually("web in the catalog", lambda: self.c.catalog.service("web")[1])
        _, instances = self.c.catalog.service("web")
        self.assertEqual(instances[0]["ServiceID"], "web1")
        self.assertEqual(instances[0]["Node"], dev_agent.NODE_NAME)
        # python-consul deregisters with GET (W9); gone here and from the catalog.
        self.assertTrue(self.c.agent.service.deregister("web1"))
        self.assertNotIn("web1", self.c.agent.services())
        eventually("web gone from the catalog", lambda: not self.c.catalog.service("web")[1])
        # An unknown service's deregistration is a no-op, as Consul's.
        self.assertTrue(self.c.agent.service.deregister("never"))

    def test_ttl_check_pass_warn_fail(self):
        self.assertTrue(self.c.agent.service.register("api", service_id="api1", check=consul.Check.ttl("30s")))
        checks = self.c.agent.checks()
        self.assertIn("service:api1", checks)
        check = checks["service:api1"]
        self.assertTrue(AGENT_CHECK_FIELDS <= set(check), f"fields of {check}")
        self.assertEqual(check["Status"], "critical")  # Consul's default for a new check
        self.assertEqual(check["ServiceID"], "api1")
        self.assertEqual(check["ServiceName"], "api")
        self.assertEqual(check["Node"], dev_agent.NODE_NAME)
        self.assertTrue(self.c.agent.check.ttl_pass("service:api1", "all good"))
        check = self.c.agent.checks()["service:api1"]
        self.assertEqual((check["Status"], check["Output"]), ("passing", "all good"))
        self.assertTrue(self.c.agent.check.ttl_warn("service:api1"))
        self.assertEqual(self.c.agent.checks()["service:api1"]["Status"], "warning")
        self.assertTrue(self.c.agent.check.ttl_fail("service:api1", "down"))
        self.assertEqual(self.c.agent.checks()["service:api1"]["Status"], "critical")
        self.assertTrue(self.c.agent.check.ttl_pass("service:api1"))
        # The catalog follows: health.service with passing=True lists it.
        eventually("api passing in the catalog", lambda: self.c.health.service("api", passing=True)[1])

    def test_check_register_ttl_and_refusals(self):
        self.assertTrue(self.c.agent.check.register("mem", check=consul.Check.ttl("10s"), notes="memory"))
        checks = self.c.agent.checks()
        self.assertIn("mem", checks)  # the ID defaults to the name
        self.assertEqual(checks["mem"]["Notes"], "memory")
        self.assertEqual(checks["mem"]["ServiceID"], "")
        self.assertTrue(self.c.agent.check.deregister("mem"))
        self.assertNotIn("mem", self.c.agent.checks())
        # A check of a service this agent does not have; a check with nothing to run.
        with self.assertRaises(consul.ConsulException):
            self.c.agent.check.register("orphan", check=consul.Check.ttl("10s"), service_id="ghost")
        with self.assertRaises(consul.ConsulException):
            self.c.agent.check.register("nothing", check={"interval": "10s"})
        # A TTL update of a check that is not there.
        self.assertFalse(self.c.agent.check.ttl_pass("not-there"))

    def test_http_check_follows_a_test_server(self):
        server = http.server.ThreadingHTTPServer((ADDRESS, 0), Health)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://{ADDRESS}:{server.server_address[1]}/health"
        try:
            self.assertTrue(self.c.agent.service.register(
                "probe", service_id="probe1", check=consul.Check.http(url, "1s", timeout="1s")))
            check = eventually("the HTTP check passing",
                               lambda: self.c.agent.checks()["service:probe1"]["Status"] == "passing"
                               and self.c.agent.checks()["service:probe1"])
            self.assertEqual(check["Output"], f"HTTP GET {url}: 200 OK Output: ok")
            Health.status = 429
            eventually("the HTTP check warning on a 429",
                       lambda: self.c.agent.checks()["service:probe1"]["Status"] == "warning")
        finally:
            Health.status = 200
            server.shutdown()
            server.server_close()
        eventually("the HTTP check critical once the server is gone",
                   lambda: self.c.agent.checks()["service:probe1"]["Status"] == "critical")
        eventually("critical in the catalog too",
                   lambda: [c for c in self.c.health.node(dev_agent.NODE_NAME)[1]
                            if c["CheckID"] == "service:probe1" and c["Status"] == "critical"])

    def test_deregister_critical_service_after(self):
        # Nothing listens on port 9 of our address: the check is critical from its first run,
        # and the dev agent's reaper (every 3 s, no floor) removes the service 2 s after.
        url = f"http://{ADDRESS}:9/health"
        self.assertTrue(self.c.agent.service.register(
            "doomed", service_id="doomed1", check=consul.Check.http(url, "1s", timeout="1s", deregister="2s")))
        eventually("the critical service removed", lambda: "doomed1" not in self.c.agent.services())
        self.assertNotIn("service:doomed1", self.c.agent.checks())
        eventually("and from the catalog", lambda: not self.c.catalog.service("doomed")[1])

    def test_local_health_endpoints(self):
        # Not in python-consul 0.7.1: through urllib. 200 passing, 503 critical, 404 unknown.
        self.assertTrue(self.c.agent.service.register("hc", service_id="hc1", check=consul.Check.ttl("30s")))

        def get(path):
            try:
                with urllib.request.urlopen(f"http://{ADDRESS}:{dev_agent.HTTP_PORT}{path}", timeout=10) as r:
                    return r.status, json.loads(r.read() or b"null")
            except urllib.error.HTTPError as e:
                body = e.read()
                return e.code, json.loads(body) if body.startswith((b"{", b"[")) else body
        status, info = get("/v1/agent/health/service/id/hc1")
        self.assertEqual(status, 503)
        self.assertEqual(info["AggregatedStatus"], "critical")
        self.assertEqual(info["Service"]["ID"], "hc1")
        self.assertEqual([c["CheckID"] for c in info["Checks"]], ["service:hc1"])
        self.assertTrue(self.c.agent.check.ttl_pass("service:hc1"))
        status, infos = get("/v1/agent/health/service/name/hc")
        self.assertEqual(status, 200)
        self.assertEqual([i["AggregatedStatus"] for i in infos], ["passing"])
        self.assertEqual(get("/v1/agent/health/service/id/nope")[0], 404)
        status, service = get("/v1/agent/service/hc1")
        self.assertEqual((status, service["Service"]), (200, "hc"))

    def test_script_checks_args_and_legacy(self):
        self.assertTrue(self.c.agent.check.register("true-args", check={"args": ["/bin/true"], "interval": "1s"}))
        self.assertTrue(self.c.agent.check.register("false-args", check={"args": ["/bin/false"], "interval": "1s"}))
        self.assertTrue(self.c.agent.check.register("legacy", check=consul.Check.script("exit 1", "1s")))
        eventually("/bin/true passing", lambda: self.c.agent.checks()["true-args"]["Status"] == "passing")
        eventually("/bin/false (exit 1) warning", lambda: self.c.agent.checks()["false-args"]["Status"] == "warning")
        eventually("sh -c 'exit 1' warning", lambda: self.c.agent.checks()["legacy"]["Status"] == "warning")

    def test_node_maintenance(self):
        self.assertTrue(self.c.agent.maintenance(True, "upgrading"))
        check = self.c.agent.checks()["_node_maintenance"]
        self.assertEqual((check["Status"], check["Notes"]), ("critical", "upgrading"))
        self.assertTrue(self.c.agent.maintenance(False))
        self.assertNotIn("_node_maintenance", self.c.agent.checks())
        self.assertTrue(self.c.agent.maintenance(True))
        self.assertEqual(self.c.agent.checks()["_node_maintenance"]["Notes"],
                         "Maintenance mode is enabled for this node, but no reason was provided. "
                         "This is a default message.")
        eventually("_node_maintenance in the catalog",
                   lambda: [c for c in self.c.health.node(dev_agent.NODE_NAME)[1]
                            if c["CheckID"] == "_node_maintenance"])

    def test_service_maintenance(self):
        self.assertTrue(self.c.agent.service.register("db", service_id="db1"))
        self.assertTrue(self.c.agent.service.maintenance("db1", True, "backup"))
        check = self.c.agent.checks()["_service_maintenance:db1"]
        self.assertEqual((check["Status"], check["Notes"], check["ServiceID"]), ("critical", "backup", "db1"))
        self.assertTrue(self.c.agent.service.maintenance("db1", False))
        self.assertNotIn("_service_maintenance:db1", self.c.agent.checks())
        # An unknown service: Consul's 404, which python-consul's bool answers False for.
        self.assertFalse(self.c.agent.service.maintenance("ghost", True))

    def test_alias_check_follows_its_service(self):
        # Not in python-consul 0.7.1 (Check has no alias): a raw PUT with Consul's field names.
        self.assertTrue(self.c.agent.service.register("web", service_id="web1", check=consul.Check.ttl("30s")))
        body = json.dumps({"Name": "web-alias", "AliasService": "web1"}).encode()
        request = urllib.request.Request(f"http://{ADDRESS}:{dev_agent.HTTP_PORT}/v1/agent/check/register",
                                         data=body, method="PUT")
        with urllib.request.urlopen(request, timeout=10) as r:
            self.assertEqual(r.status, 200)

        def alias():
            check = self.c.agent.checks()["web-alias"]
            return check["Status"], check["Output"]
        # Consul names the aliased check by its Name (python-consul's default for a service's).
        failing = "Aliased check \"Service 'web' check\" failing: "
        self.assertEqual(alias(), ("critical", failing))
        self.assertTrue(self.c.agent.check.ttl_pass("service:web1"))
        self.assertEqual(alias(), ("passing", "All checks passing."))
        self.assertTrue(self.c.agent.check.ttl_warn("service:web1", "slow"))
        self.assertEqual(alias(), ("warning", failing + "slow"))
        eventually("the alias warning in the catalog",
                   lambda: [c for c in self.c.health.node(dev_agent.NODE_NAME)[1]
                            if c["CheckID"] == "web-alias" and c["Status"] == "warning"])
        self.assertTrue(self.c.agent.service.deregister("web1"))
        self.assertEqual(alias(), ("critical", "Service web1 could not be found on node "))


if __name__ == "__main__":
    dev_agent.run(ADDRESS, extra_args=["-enable-script-checks"])
