"""Method enforcement (W9) on an agent started with -strict-http-methods: python-consul 0.7.1's
GET on agent/join, force-leave and check pass is refused with Consul's 405 and Allow header,
the PUT is taken; reads are unchanged. (A default agent takes those GETs: status_test's join.)"""

import urllib.error
import urllib.request

import dev_agent

ADDRESS = "127.0.0.169"


def call(method, path):
    request = urllib.request.Request(f"http://{ADDRESS}:{dev_agent.HTTP_PORT}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class StrictMethodsTest(dev_agent.TestCase):
    def test_legacy_gets_are_refused_and_puts_taken(self):
        for path in (f"/v1/agent/join/{ADDRESS}", "/v1/agent/force-leave/nobody"):
            status, headers, body = call("GET", path)
            self.assertEqual(status, 405, path)
            self.assertEqual(headers["Allow"], "OPTIONS,PUT")
            self.assertEqual(body, b"method GET not allowed")
            status, _, _ = call("PUT", path)
            self.assertEqual(status, 200, path)
        # python-consul's own join is a GET: refused here, as by Consul >= 1.0 (its bool
        # callback reads the 405 as False).
        self.assertIs(self.c.agent.join(ADDRESS), False)
        self.assertEqual(self.c.status.leader(), dev_agent.rpc_address())


if __name__ == "__main__":
    dev_agent.run(ADDRESS, extra_args=("-strict-http-methods",))
