"""Scenario 7: garbage and unknown protocol versions sent to a server's RPC port (8300, TCP)
and LAN gossip port (8301, UDP and TCP) are dropped, logged, and change nothing. Sent to the
servers of a 3-server cluster (the silent ones and the flood to a follower): well-framed
messages (io/frame.h) whose payload is garbage; envelopes (proto/envelope.proto, encoded here
by hand) of protocol version 9, of an unknown kind, of a kind on the wrong port, and of a known
kind with a garbage body; bytes that break the framing itself (random bytes, a 4 GiB length, a
sender longer than its frame); and a seeded flood of envelopes of every kind with random
bodies. Each must bring a log line naming the drop and the sender (the agent and the host each
log drops at most once a second, so sends to one throttle are that far apart); bytes that hold
nothing whole (an empty datagram, half a frame) owe no line. Afterwards the leader, the term,
the members, the raft configuration and the kv contents are what they were, and the cluster
still takes writes."""

import random
import socket
import struct
import time

import cluster
from cluster import log

ADDRESSES = ["127.0.0.126", "127.0.0.127", "127.0.0.128"]
SEED = 7
# A sender address no agent listens on: what the frames claim to come from.
FAKE_FROM = "127.0.0.129:8300"
# The agent logs dropped messages at most once a second.
DROP_LOG_INTERVAL_SECONDS = 1.0
DROP_LINE_SECONDS_MAX = 2.5
SEND_ATTEMPTS_MAX = 3
FLOOD_MESSAGES = 300

KIND_RAFT, KIND_GOSSIP, KIND_RPC = 1, 2, 3


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def envelope(version, kind, body):
    """proto Envelope: 1 protocol_version (varint), 2 kind (varint), 3 body (bytes)."""
    return (b"\x08" + varint(version) + b"\x10" + varint(kind) + b"\x1a" + varint(len(body)) + body)


def datagram(payload, sender=FAKE_FROM):
    """io/frame.h datagram: [u16 from_len][from][payload], big-endian."""
    return struct.pack(">H", len(sender)) + sender.encode() + payload


def stream_frame(payload, sender=FAKE_FROM):
    """io/frame.h stream frame: [u32 body_len][u16 from_len][from][payload]."""
    body = struct.pack(">H", len(sender)) + sender.encode() + payload
    return struct.pack(">I", len(body)) + body


def send_tcp(address, port, data):
    """Sends `data` on a new connection; returns our end's "ip:port", as the agent names it."""
    with socket.create_connection((address, port), timeout=5) as s:
        local = "%s:%d" % s.getsockname()
        s.sendall(data)
        # Give the agent time to read before the close.
        time.sleep(0.2)
    return local


def send_udp(address, port, data):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((address, port))  # so the kernel picks our source address, which we name
        s.send(data)
        return "%s:%d" % s.getsockname()


def state_of(servers):
    leader = cluster.agreed_leader(servers)
    leading = cluster.agent_at(servers, leader)
    # Autopilot's first look comes a moment after the election.
    cluster.wait_until("autopilot health", lambda: leading.get_json("/v1/operator/autopilot/health"), 10)
    health = leading.get_json("/v1/operator/autopilot/health")
    return {
        "leader": leader,
        "terms": sorted({s["LastTerm"] for s in health["Servers"]}),
        "members": [s.members() for s in servers],
        "raft": [s.raft_servers() for s in servers],
        "kv": [s.stale_kv("") for s in servers],
    }


def body(binary, tmpdir, agents):
    rng = random.Random(SEED)
    servers = cluster.start_servers(binary, tmpdir, agents, ADDRESSES)
    leader = cluster.agent_at(servers, cluster.agreed_leader(servers))
    target = next(s for s in servers if s is not leader)
    for i in range(10):
        assert servers[i % 3].put_kv(f"before/{i}", f"value {i}"), "write before the garbage"
    cluster.wait_until("every server to hold the ten keys",
                       lambda: all(len(s.stale_kv("before/") or {}) == 10 for s in servers), 10)
    before = state_of(servers)
    log(f"target {target.name} ({target.address}); leader {before['leader']}, terms {before['terms']}")

    garbage = bytes(rng.getrandbits(8) for _ in range(512))
    not_a_proto = b"\xff\xff\xff\xff\x07garbage"  # wire type 7 does not exist: no parser accepts it
    # (what, how it is sent, port, bytes, the words the drop line must hold)
    framed = [
        ("RPC/TCP envelope of protocol version 9", send_tcp, cluster.RPC_PORT,
         stream_frame(envelope(9, KIND_RAFT, b"hello from the future")), "protocol version 9 is newer than ours"),
        ("RPC/TCP framed garbage", send_tcp, cluster.RPC_PORT, stream_frame(not_a_proto), "not an envelope"),
        ("RPC/TCP envelope of unknown kind 12", send_tcp, cluster.RPC_PORT,
         stream_frame(envelope(1, 12, b"x")), "unknown message kind 12"),
        ("RPC/TCP gossip envelope on the RPC port", send_tcp, cluster.RPC_PORT,
         stream_frame(envelope(1, KIND_GOSSIP, b"x")), "does not belong here"),
        ("RPC/TCP raft envelope with a garbage body", send_tcp, cluster.RPC_PORT,
         stream_frame(envelope(1, KIND_RAFT, not_a_proto)), "dropping message from " + FAKE_FROM),
        ("RPC/TCP rpc envelope with a garbage body", send_tcp, cluster.RPC_PORT,
         stream_frame(envelope(1, KIND_RPC, not_a_proto)), "malformed RPC message"),
        ("LAN/UDP envelope of protocol version 9", send_udp, cluster.LAN_PORT,
         datagram(envelope(9, KIND_GOSSIP, b"hello from the future")), "protocol version 9 is newer than ours"),
        ("LAN/UDP framed garbage", send_udp, cluster.LAN_PORT, datagram(not_a_proto), "not an envelope"),
        ("LAN/UDP framed random bytes", send_udp, cluster.LAN_PORT, datagram(garbage[:300]),
         "dropping message from " + FAKE_FROM),
        ("LAN/UDP raft envelope on the LAN port", send_udp, cluster.LAN_PORT,
         datagram(envelope(1, KIND_RAFT, b"x")), "does not belong here"),
        ("LAN/UDP gossip envelope with a garbage body", send_udp, cluster.LAN_PORT,
         datagram(envelope(1, KIND_GOSSIP, not_a_proto)), "unparsable packet from " + FAKE_FROM),
        ("LAN/TCP envelope of protocol version 9", send_tcp, cluster.LAN_PORT,
         stream_frame(envelope(9, KIND_GOSSIP, b"hello from the future")), "protocol version 9 is newer than ours"),
        ("LAN/TCP framed garbage", send_tcp, cluster.LAN_PORT, stream_frame(not_a_proto), "not an envelope"),
    ]
    bad_datagram = "dropping a malformed datagram on the lan endpoint from "
    bad_stream = "dropping a stream frame that is malformed or too large (connection closed) on the {} endpoint from "
    # Below our framing: the host drops these and names the sender's socket (added to `words`).
    unframed = [
        ("LAN/UDP random bytes claiming a 65535-byte sender", send_udp, cluster.LAN_PORT,
         b"\xff\xff" + garbage[:200], bad_datagram),
        ("LAN/UDP one byte", send_udp, cluster.LAN_PORT, b"\x01", bad_datagram),
        ("RPC/TCP a 4 GiB length", send_tcp, cluster.RPC_PORT, b"\xff\xff\xff\xff" + garbage[:64],
         bad_stream.format("rpc")),
        ("RPC/TCP a frame whose sender is longer than the frame", send_tcp, cluster.RPC_PORT,
         struct.pack(">IH", 256, 0xFFFF) + garbage[:254], bad_stream.format("rpc")),
        ("LAN/TCP a frame of length 1", send_tcp, cluster.LAN_PORT, struct.pack(">I", 1) + b"\x00",
         bad_stream.format("lan")),
        ("LAN/TCP random bytes claiming a 4 GiB frame", send_tcp, cluster.LAN_PORT,
         b"\xff\xff\xff\xff" + garbage, bad_stream.format("lan")),
    ]
    # Nothing to read or nothing whole: no line is owed, and nothing may change.
    silent = [
        ("LAN/UDP empty datagram", send_udp, cluster.LAN_PORT, b""),
        ("RPC/TCP half a frame, then the close", send_tcp, cluster.RPC_PORT,
         stream_frame(envelope(1, KIND_RAFT, garbage))[:100]),
        ("LAN/TCP seeded random bytes", send_tcp, cluster.LAN_PORT, garbage[8:]),
    ]

    last_send = {}  # (agent, throttle) -> when we last sent it something owed a line

    def expect_drop_line(agent, throttle, what, send, port, data, words):
        log_before = len(agent.log_text())
        found = None
        # A drop line is owed at most once a second per throttle (the agent's, the host's): wait
        # that long since the last send to this one; and since it runs on the agent's clock,
        # under load two sends a second apart may land within one, so resend when none came.
        for attempt in range(1, SEND_ATTEMPTS_MAX + 1):
            since = time.monotonic() - last_send.get((agent.name, throttle), 0.0)
            time.sleep(max(0.0, DROP_LOG_INTERVAL_SECONDS + 0.1 - since))
            sender = send(agent.address, port, data)
            last_send[(agent.name, throttle)] = time.monotonic()
            wanted = words + sender if words.endswith(" from ") else words
            deadline = time.monotonic() + DROP_LINE_SECONDS_MAX
            while found is None and time.monotonic() < deadline:
                added = agent.log_text()[log_before:]
                found = next((l for l in added.splitlines() if wanted in l and "dropping" in l), None)
                time.sleep(0.05)
            if found is not None:
                break
        assert found is not None, f"no drop line with {wanted!r} after {what} to {agent.name} ({attempt} sends)"
        log(f"{what} to {agent.name}: logged (send {attempt}): {found.split(']', 1)[-1].strip()}")

    # Spread over the three servers (the leader too) and interleaved between the agent's and the
    # host's throttles, so few sends wait on one.
    agent_cases = [("agent", c) for c in framed]
    host_cases = [("host", c) for c in unframed]
    cases = []
    while agent_cases or host_cases:
        cases += agent_cases[:1] + host_cases[:1]
        agent_cases, host_cases = agent_cases[1:], host_cases[1:]
    for i, (throttle, (what, send, port, data, words)) in enumerate(cases):
        expect_drop_line(servers[i % len(servers)], throttle, what, send, port, data, words)
    for what, send, port, data in silent:
        log_before = len(target.log_text())
        send(target.address, port, data)
        time.sleep(0.3)
        added = [l for l in target.log_text()[log_before:].splitlines() if "WARN" in l or "ERROR" in l]
        log(f"{what}: sent {len(data)} bytes; warnings logged: {added or 'none'}")
        assert target.leader() == before["leader"], f"{target.name} stopped answering or lost its leader"

    # A seeded flood of envelopes of every kind with random bodies, on their own ports (some
    # bodies parse as messages of the kind: they must still change nothing), as fast as we
    # can send them. The agent's own drop lines stay throttled to about one a second.
    flood_log_start = len(target.log_text())
    flood_started = time.monotonic()
    with socket.create_connection((target.address, cluster.RPC_PORT), timeout=5) as rpc:
        for _ in range(FLOOD_MESSAGES):
            kind = rng.choice([KIND_RAFT, KIND_GOSSIP, KIND_RPC])
            body_bytes = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300)))
            if kind == KIND_GOSSIP:
                send_udp(target.address, cluster.LAN_PORT, datagram(envelope(1, kind, body_bytes)))
            else:
                rpc.sendall(stream_frame(envelope(1, kind, body_bytes)))
        time.sleep(0.5)
    flood_seconds = time.monotonic() - flood_started
    flood_lines = target.log_text()[flood_log_start:].splitlines()
    agent_drops = [l for l in flood_lines if "agent: dropping message" in l]
    gossip_drops = [l for l in flood_lines if "memberlist: dropping" in l]
    log(f"flood of {FLOOD_MESSAGES} random envelopes in {flood_seconds:.2f}s: {len(agent_drops)} agent drop lines, "
        f"{len(gossip_drops)} memberlist drop lines")
    assert len(agent_drops) <= flood_seconds / DROP_LOG_INTERVAL_SECONDS + 2, \
        f"{len(agent_drops)} agent drop lines in {flood_seconds:.2f}s: not throttled"
    assert target.running() and target.leader() == before["leader"], "the flood stopped the agent or its leader"

    # Nothing changed, and everything still works.
    time.sleep(1.0)
    after = state_of(servers)
    for key in before:
        assert after[key] == before[key], f"{key} changed: {before[key]} -> {after[key]}"
    assert target.running(), f"{target.name} is no longer running"
    assert "panic" not in target.log_text().lower() and "check failed" not in target.log_text().lower()
    assert target.put_kv("after/garbage", "still serving"), f"write through {target.name} after the garbage"
    assert leader.stale_kv("after/") == {"after/garbage": "still serving"}
    assert FAKE_FROM.split(":")[0] not in str(after["members"]), "the fake sender became a member"
    hostile = len(framed) + len(unframed) + len(silent) + FLOOD_MESSAGES
    log(f"after {hostile} hostile messages: leader, terms {after['terms']}, members, raft configuration and kv "
        f"unchanged; {target.name} still takes writes")


if __name__ == "__main__":
    cluster.scenario(body)
