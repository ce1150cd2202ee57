"""The DNS interface with `dig` (Debian's dnsutils) against a real `muster agent -dev` (issue 15,
"What must be shown"): A and SRV for a service with two instances; a tag filter (and RFC 2782);
an instance whose TTL check is failed through the HTTP API disappears; node lookups; NXDOMAIN
with the SOA; 40 instances truncated over UDP (TC) and complete over TCP; a PTR lookup; a name
outside the domain forwarded to a recursor this test starts on loopback. Loopback 127.0.4.1
(the agent, Consul's default ports) and 127.0.4.2 (the recursor, UDP 5399)."""

import json
import os
import socket
import struct
import subprocess
import sys
import threading

# tests/integration's cluster.py (beside this folder, in the tree and in Bazel's runfiles).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster  # noqa: E402
from cluster import log  # noqa: E402

ADDRESS = "127.0.4.1"
RECURSOR = ("127.0.4.2", 5399)
RECURSOR_ANSWER = "192.0.2.55"
DNS_PORT = 8600
DIG_TIMEOUT_SECONDS = 10


def dig(*args):
    """dig's full output for one query to the agent (no retries, one try)."""
    cmd = ["dig", f"@{ADDRESS}", "-p", str(DNS_PORT), "+tries=1", "+time=3"] + list(args)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=DIG_TIMEOUT_SECONDS).stdout
    return out


def section(output, name):
    """The records of one section of dig's output, each as its whitespace-split fields."""
    records, inside = [], False
    for line in output.splitlines():
        if line.startswith(f";; {name} SECTION:"):
            inside = True
        elif inside and (not line.strip() or line.startswith(";;")):
            inside = False
        elif inside and not line.startswith(";"):
            records.append(line.split())
    return records


def status(output):
    return output.split("status: ", 1)[1].split(",", 1)[0] if "status: " in output else None


def flags(output):
    line = next(l for l in output.splitlines() if l.startswith(";; flags:"))
    return line.split("flags:", 1)[1].split(";", 1)[0].split()


def short(*args):
    return sorted(dig("+short", *args).split())


class Recursor:
    """A tiny UDP DNS responder: every A question gets RECURSOR_ANSWER (stdlib only). Built by
    hand here because it is the test's stand-in for an upstream server, not muster's code."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(RECURSOR)
        self.sock.settimeout(0.2)
        self.asked = []
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            qid, _, qd, _, _, _ = struct.unpack("!HHHHHH", data[:12])
            end = 12
            labels = []
            while data[end] != 0:
                labels.append(data[end + 1:end + 1 + data[end]].decode())
                end += 1 + data[end]
            question = data[12:end + 5]
            self.asked.append(".".join(labels))
            answer = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question
            answer += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(RECURSOR_ANSWER)
            self.sock.sendto(answer, peer)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def register(agent, node, address, service=None, port=0, tags=(), service_address=""):
    body = {"Node": node, "Address": address}
    if service:
        body["Service"] = {"Service": service, "ID": f"{service}-{node}", "Port": port, "Tags": list(tags),
                           "Address": service_address}
    code, text, _ = agent.http("PUT", "/v1/catalog/register", json.dumps(body))
    assert code == 200, f"register {node}: {code} {text!r}"


def body(binary, tmpdir, agents):
    cluster.assert_ports_free([ADDRESS])
    recursor = Recursor()
    try:
        agent = cluster.Agent(binary, "dev", ADDRESS, tmpdir)
        agent.args = [binary, "agent", "-dev", "-node=dev", "-bind=" + ADDRESS, "-client=" + ADDRESS,
                      f"-recursor={RECURSOR[0]}:{RECURSOR[1]}", "-log-level=DEBUG"]
        agents.append(agent)
        agent.start()
        cluster.wait_until("the dev agent to lead", lambda: agent.leader() == agent.rpc_address(), 20, 0.05)
        scenarios(agent, recursor)
    finally:
        recursor.close()


def scenarios(agent, recursor):
    register(agent, "n1", "10.0.0.1", "web", 8080, ["v1"])
    register(agent, "n2", "10.0.0.2", "web", 8081, ["v2"])

    # A and SRV for a service with two instances.
    assert short("web.service.consul") == ["10.0.0.1", "10.0.0.2"], dig("web.service.consul")
    out = dig("web.service.dc1.consul", "SRV")
    srv = sorted((r[4], r[5], r[6], r[7]) for r in section(out, "ANSWER"))
    assert srv == [("1", "1", "8080", "n1.node.dc1.consul."), ("1", "1", "8081", "n2.node.dc1.consul.")], out
    glue = sorted((r[0], r[4]) for r in section(out, "ADDITIONAL") if r[3] == "A")
    assert glue == [("n1.node.dc1.consul.", "10.0.0.1"), ("n2.node.dc1.consul.", "10.0.0.2")], out
    assert "aa" in flags(out), out
    log("A and SRV: two instances, SRV targets glued in additional")

    # Tags, and the RFC 2782 form; names in any case.
    assert short("v1.web.service.consul") == ["10.0.0.1"]
    assert short("V2.WEB.Service.Consul") == ["10.0.0.2"]
    assert short("_web._v2.service.consul", "SRV") == ["1", "1", "8081", "n2.node.dc1.consul."]
    assert len(section(dig("_web._tcp.service.consul", "SRV"), "ANSWER")) == 2
    log("tag filters: v1.web, _web._v2, _web._tcp")

    # An instance whose TTL check fails through the HTTP API disappears (the agent's own
    # service, synced to the catalog by anti-entropy).
    code, text, _ = agent.http("PUT", "/v1/agent/service/register", json.dumps(
        {"Name": "web", "ID": "web-local", "Port": 9090, "Check": {"TTL": "60s"}}))
    assert code == 200, text
    code, text, _ = agent.http("PUT", "/v1/agent/check/pass/service:web-local")
    assert code == 200, text
    cluster.wait_until("the local instance answering", lambda: ADDRESS in short("web.service.consul"), 10)
    code, text, _ = agent.http("PUT", "/v1/agent/check/fail/service:web-local")
    assert code == 200, text
    cluster.wait_until("the failed instance gone", lambda: short("web.service.consul") == ["10.0.0.1", "10.0.0.2"],
                       10)
    log("a failed TTL check takes its instance out of the answers")

    # Nodes.
    assert short("n1.node.consul") == ["10.0.0.1"]
    assert short("dev.node.dc1.consul") == [ADDRESS]
    log("node lookups")

    # NXDOMAIN with the SOA in authority.
    for name in ("nope.service.consul", "nope.node.consul", "web.service.dc9.consul"):
        out = dig(name)
        assert status(out) == "NXDOMAIN", out
        soa = section(out, "AUTHORITY")
        assert len(soa) == 1 and soa[0][3] == "SOA" and soa[0][4] == "ns.consul." and soa[0][5] == "hostmaster.consul.", out
    log("NXDOMAIN with SOA")

    # 40 instances: cut over UDP with TC (512 bytes without EDNS0, and within EDNS0's 1232),
    # complete over TCP.
    for i in range(40):
        register(agent, f"big{i}", f"10.1.0.{i + 1}", "big", 7000 + i)
    out = dig("+noedns", "+ignore", "big.service.consul")
    assert "tc" in flags(out) and 0 < len(section(out, "ANSWER")) < 40, out
    out = dig("+bufsize=1232", "+ignore", "big.service.consul", "SRV")
    assert "tc" in flags(out) and 0 < len(section(out, "ANSWER")) < 40, out
    out = dig("+tcp", "big.service.consul", "SRV")
    assert "tc" not in flags(out), out
    assert len(section(out, "ANSWER")) == 40, out
    assert sorted(r[4] for r in section(out, "ADDITIONAL") if r[3] == "A") == sorted(f"10.1.0.{i + 1}" for i in range(40))
    out = dig("+tcp", "big.service.consul")
    assert len(section(out, "ANSWER")) == 40, out
    out = dig("big.service.consul")  # dig's retry over TCP on TC
    assert len(section(out, "ANSWER")) == 40, out
    log("40 instances: TC over UDP, all 40 over TCP")

    # PTR.
    assert dig("+short", "-x", "10.0.0.2").split() == ["n2.node.dc1.consul."]
    log("PTR")

    # Outside the domain: forwarded to the recursor this test started.
    out = dig("www.example.com")
    assert status(out) == "NOERROR" and [r[4] for r in section(out, "ANSWER")] == [RECURSOR_ANSWER], out
    assert "www.example.com" in recursor.asked, recursor.asked
    assert dig("+short", "+tcp", "other.example.org").split() == [RECURSOR_ANSWER]
    log(f"forwarded to the recursor: {recursor.asked}")

    # Still alive and answering after all of it.
    assert short("web.service.consul") == ["10.0.0.1", "10.0.0.2"]


if __name__ == "__main__":
    cluster.scenario(body)
