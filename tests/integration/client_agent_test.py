"""Client agents (issue 13) with real processes: 3 servers and 2 clients on loopback.

- c1 registers a service with an HTTP check against a small HTTP server this test runs; the
  catalog shows it passing, and once the HTTP server stops, critical within interval + timeout
  + one sync (measured and asserted).
- c1 killed with SIGKILL and restarted with the same flags still has its service and check (its
  agent endpoints and the catalog), without being asked to register them again, and the check
  runs again (passing once the HTTP server is back).
- c2 reads a service (with a TCP check) and a node check from its -config-dir; both reach the
  catalog.
- c2 registers a service whose TTL check has deregister_critical_service_after; the reaper
  removes it locally and from the catalog within deadline + reap interval + one sync. The
  clients run with Consul's check_reap_interval=1s and check_deregister_interval_min=0s (its dev
  values are 3 s and 0): with the defaults (30 s, 1 min) the same removal takes 60 to 90 s.
"""

import http.server
import json
import os
import signal
import threading
import time

import cluster
from cluster import log

SERVER_ADDRESSES = ["127.0.3.1", "127.0.3.2", "127.0.3.3"]
CLIENT_ADDRESSES = ["127.0.3.4", "127.0.3.5"]
# The test's own HTTP server, probed by c1's check and c2's TCP check.
PROBED_ADDRESS = "127.0.3.10"
PROBED_PORT = 18080

CHECK_INTERVAL_SECONDS = 1.0
CHECK_TIMEOUT_SECONDS = 1.0
# One partial sync: a status change sent to a server, forwarded to the leader and committed
# (a few ms on loopback), and our polling's own granularity.
SYNC_SECONDS_MAX = 1.0
POLL_SECONDS = 0.05
DEREGISTER_AFTER_SECONDS = 2.0
REAP_INTERVAL_SECONDS = 1.0


class ProbedServer:
    """A loopback HTTP server answering 200 to every GET, startable and stoppable; while
    `hanging` is set it takes requests and never answers them."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            while self.server.owner.hanging.is_set():
                time.sleep(0.05)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # the agent gave up on a hanging request and closed it: expected

    def __init__(self):
        self.httpd = None
        self.thread = None
        self.hanging = threading.Event()

    def start(self):
        self.httpd = self.Server((PROBED_ADDRESS, PROBED_PORT), self.Handler)
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        log(f"probed HTTP server up on {PROBED_ADDRESS}:{PROBED_PORT}")

    def stop(self):
        self.hanging.clear()
        if self.httpd is None:
            return
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
        self.httpd = None
        log("probed HTTP server stopped")


def health(agent, service):
    """{(node, service ID): aggregated status} of /v1/health/service/<service> as `agent`
    answers (critical if any check of the instance is critical, then warning, else passing);
    None if not answered."""
    rows = agent.get_json(f"/v1/health/service/{service}")
    if rows is None:
        return None
    out = {}
    for row in rows:
        statuses = {c["Status"] for c in row["Checks"]}
        status = next((s for s in ("critical", "warning") if s in statuses), "passing")
        out[(row["Node"]["Node"], row["Service"]["ID"])] = status
    return out


def catalog_service(agent, service_id, service):
    """The catalog's row of one instance (/v1/catalog/service), None if absent."""
    rows = agent.get_json(f"/v1/catalog/service/{service}") or []
    return next((r for r in rows if r["ServiceID"] == service_id), None)


def check_status(agent, node, check_id):
    """The catalog's Status of one check of `node`, None if absent."""
    checks = agent.get_json(f"/v1/health/node/{node}") or []
    return next((c["Status"] for c in checks if c["CheckID"] == check_id), None)


def register(agent, body):
    status, answer, _ = agent.http("PUT", "/v1/agent/service/register", json.dumps(body))
    assert status == 200, f"register on {agent.name}: {status} {answer!r}"


def write_config_dir(tmpdir):
    """c2's -config-dir: a service with a TCP check and a node check, in Consul's snake_case."""
    config_dir = os.path.join(tmpdir, "c2-config")
    os.makedirs(config_dir, exist_ok=True)
    with open(os.path.join(config_dir, "10-services.json"), "w") as f:
        json.dump({"services": [{
            "id": "configured-1", "name": "configured", "port": PROBED_PORT, "tags": ["from-file"],
            "check": {"id": "configured-tcp", "name": "tcp to the probed server",
                      "tcp": f"{PROBED_ADDRESS}:{PROBED_PORT}", "interval": "1s", "timeout": "1s"},
        }]}, f)
    with open(os.path.join(config_dir, "20-checks.json"), "w") as f:
        json.dump({"checks": [{"id": "configured-node-ttl", "name": "node ttl from a file", "ttl": "30s"}]}, f)
    with open(os.path.join(config_dir, "30-reaper.json"), "w") as f:
        json.dump({"check_reap_interval": f"{REAP_INTERVAL_SECONDS:g}s", "check_deregister_interval_min": "0s"}, f)
    return config_dir


def body(binary, tmpdir, agents):
    probed = ProbedServer()
    probed.start()
    try:
        run(binary, tmpdir, agents, probed)
    finally:
        probed.stop()


def run(binary, tmpdir, agents, probed):
    servers = cluster.start_servers(binary, tmpdir, agents, SERVER_ADDRESSES)
    config_dir = write_config_dir(tmpdir)
    c1, c2 = cluster.start_clients(binary, tmpdir, agents, CLIENT_ADDRESSES, join=servers,
                                   extra_args_by_name={"c2": ["-config-dir=" + config_dir]})
    s1 = servers[0]

    # 1. An HTTP check on a client: passing in the catalog, then critical once its target stops.
    register(c1, {"ID": "web-1", "Name": "web", "Port": PROBED_PORT, "Check": {
        "CheckID": "web-http", "Name": "web over http", "HTTP": f"http://{PROBED_ADDRESS}:{PROBED_PORT}/health",
        "Interval": f"{CHECK_INTERVAL_SECONDS:g}s", "Timeout": f"{CHECK_TIMEOUT_SECONDS:g}s"}})
    passing = cluster.wait_until("web-1 passing in the catalog",
                                 lambda: health(s1, "web") == {("c1", "web-1"): "passing"}, 10, POLL_SECONDS)
    log(f"web-1 passing in the catalog {passing:.2f}s after its registration")
    bound = CHECK_INTERVAL_SECONDS + CHECK_TIMEOUT_SECONDS + SYNC_SECONDS_MAX
    # A target that takes the request and never answers: critical once a run times out.
    probed.hanging.set()
    critical = cluster.wait_until("web-1 critical in the catalog while its target hangs",
                                  lambda: health(s1, "web") == {("c1", "web-1"): "critical"}, 20, POLL_SECONDS)
    log(f"web-1 critical in the catalog {critical:.2f}s after its target stopped answering (bound {bound:g}s)")
    assert critical <= bound + POLL_SECONDS * 2, f"critical after {critical:.2f}s, bound {bound}s"
    probed.hanging.clear()
    cluster.wait_until("web-1 passing again", lambda: health(s1, "web") == {("c1", "web-1"): "passing"}, 10,
                       POLL_SECONDS)
    # A target that is gone: connections refused.
    probed.stop()
    critical = cluster.wait_until("web-1 critical in the catalog",
                                  lambda: health(s1, "web") == {("c1", "web-1"): "critical"}, 20, POLL_SECONDS)
    log(f"web-1 critical in the catalog {critical:.2f}s after the probed server stopped (bound {bound:g}s)")
    assert critical <= bound + POLL_SECONDS * 2, f"critical after {critical:.2f}s, bound {bound}s"

    # 2. Services and checks from c2's config dir reach the catalog (the TCP check critical:
    # the probed server is down now).
    local = c2.get_json("/v1/agent/services") or {}
    assert "configured-1" in local and local["configured-1"]["Tags"] == ["from-file"], f"c2's services: {local}"
    local_checks = c2.get_json("/v1/agent/checks") or {}
    assert {"configured-tcp", "configured-node-ttl"} <= set(local_checks), f"c2's checks: {sorted(local_checks)}"
    cluster.wait_until("c2's configured service and checks in the catalog",
                       lambda: health(s1, "configured") == {("c2", "configured-1"): "critical"}
                       and check_status(s1, "c2", "configured-node-ttl") == "critical", 10, POLL_SECONDS)
    status, answer, _ = c2.http("PUT", "/v1/agent/check/pass/configured-node-ttl?note=alive")
    assert status == 200, f"TTL pass on c2: {status} {answer!r}"
    cluster.wait_until("c2's configured TTL check passing in the catalog",
                       lambda: check_status(s1, "c2", "configured-node-ttl") == "passing", 5, POLL_SECONDS)
    log("c2's service and checks from its config dir are in the catalog; its TTL check passed through c2")

    # 3. kill -9 c1 and restart it: its service and check are still there, and run.
    created = catalog_service(s1, "web-1", "web")["CreateIndex"]
    c1.kill()
    c1.start()
    restarted = time.monotonic()
    cluster.wait_until("c1 answering again", lambda: c1.get_json("/v1/agent/self") is not None, 10, POLL_SECONDS)
    services = c1.get_json("/v1/agent/services") or {}
    checks = c1.get_json("/v1/agent/checks") or {}
    assert set(services) == {"web-1"}, f"c1's services after kill -9: {services}"
    assert set(checks) == {"web-http"} and checks["web-http"]["ServiceID"] == "web-1", f"c1's checks: {checks}"
    assert health(s1, "web") == {("c1", "web-1"): "critical"}, f"catalog after the restart: {health(s1, 'web')}"
    probed.start()
    back = cluster.wait_until("web-1 passing again after c1's restart",
                              lambda: health(s1, "web") == {("c1", "web-1"): "passing"}
                              and (c1.get_json("/v1/agent/checks") or {}).get("web-http", {}).get("Status") == "passing",
                              10, POLL_SECONDS)
    log(f"c1 restarted after SIGKILL with web-1 and web-http kept; passing {back:.2f}s after the probed server came back")
    # Past the restarted agent's first full sync (1 s after its start): the catalog entry is
    # the one registered before the crash, never removed and registered again.
    time.sleep(max(0.0, restarted + 2.0 - time.monotonic()))
    row = catalog_service(s1, "web-1", "web")
    assert row is not None and row["CreateIndex"] == created, f"web-1 after the restart: {row} (created at {created})"
    assert check_status(s1, "c1", "web-http") == "passing"
    cluster.wait_until("c2's TCP check passing again",
                       lambda: health(s1, "configured") == {("c2", "configured-1"): "passing"}, 10, POLL_SECONDS)

    # 4. deregister_critical_service_after: removed locally and from the catalog.
    register(c2, {"ID": "doomed-1", "Name": "doomed", "Check": {
        "CheckID": "doomed-ttl", "TTL": "30s", "DeregisterCriticalServiceAfter": f"{DEREGISTER_AFTER_SECONDS:g}s"}})
    registered = time.monotonic()
    # A TTL check starts critical: the deadline counts from the registration.
    cluster.wait_until("doomed-1 in the catalog", lambda: ("c2", "doomed-1") in (health(s1, "doomed") or {}), 5,
                       POLL_SECONDS)
    gone = cluster.wait_until("doomed-1 removed from the catalog", lambda: health(s1, "doomed") == {}, 20, POLL_SECONDS)
    removed_after = time.monotonic() - registered
    bound = DEREGISTER_AFTER_SECONDS + REAP_INTERVAL_SECONDS + SYNC_SECONDS_MAX
    log(f"doomed-1 removed from the catalog {removed_after:.2f}s after its registration (bound {bound:g}s)")
    assert DEREGISTER_AFTER_SECONDS <= removed_after <= bound + POLL_SECONDS * 2, f"removed after {removed_after:.2f}s"
    assert "doomed-1" not in (c2.get_json("/v1/agent/services") or {"doomed-1": 0})
    assert "doomed-ttl" not in (c2.get_json("/v1/agent/checks") or {"doomed-ttl": 0})
    assert check_status(s1, "c2", "doomed-ttl") is None
    # The configured service is untouched by the reaper (it has no deregister-after).
    assert "configured-1" in (c2.get_json("/v1/agent/services") or {})


if __name__ == "__main__":
    cluster.scenario(body)
