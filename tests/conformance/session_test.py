"""python-consul 0.7.1's session calls against a muster dev agent, each checked against the
shapes its documentation (consul/base.py) promises: create -> the ID string, info -> (index,
session or None), list -> (index, [sessions]), renew -> the session (NotFound when unknown),
destroy -> True; what a session's behavior and lock delay do to the locks it holds when it
ends, and blocking reads of sessions."""

import json
import re
import threading
import time

import dev_agent

ADDRESS = "127.0.0.161"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SESSION_FIELDS = {"ID", "Name", "Node", "LockDelay", "Behavior", "TTL", "CreateIndex", "ModifyIndex"}
SECOND_NS = 1_000_000_000
LOCK_DELAY_SECONDS = 1  # python-consul sends whole seconds ("1s")
BLOCKING_DESTROY_DELAY_SECONDS = 1.0
# How late an answer may come on a loaded machine; nothing may come early.
LATE_SLACK_SECONDS = 1.0


class SessionTest(dev_agent.TestCase):
    def assert_session_shape(self, session):
        self.assertTrue(SESSION_FIELDS <= set(session), f"fields of {session}")
        self.assertRegex(session["ID"], UUID)
        self.assertEqual(session["Node"], dev_agent.NODE_NAME)
        self.assertIsInstance(session["LockDelay"], int)
        self.assertGreaterEqual(session["CreateIndex"], 1)

    def test_create_with_defaults_then_info(self):
        session_id = self.c.session.create()
        self.assertRegex(session_id, UUID)
        index, session = self.c.session.info(session_id)
        self.assertGreaterEqual(int(index), 1)
        self.assert_session_shape(session)
        self.assertEqual(session["ID"], session_id)
        self.assertEqual(session["Name"], "")
        self.assertEqual(session["Behavior"], "release")
        self.assertEqual(session["TTL"], "")
        self.assertEqual(session["LockDelay"], 15 * SECOND_NS, "Consul's default lock delay, in ns")
        self.assertIs(self.c.session.destroy(session_id), True)

    def test_create_with_name_ttl_delete_behavior_and_lock_delay(self):
        # python-consul sends {"name", "behavior", "ttl": "10s", "lockdelay": "0s"} in lower case.
        session_id = self.c.session.create(name="worker", behavior="delete", ttl=10, lock_delay=0)
        _, session = self.c.session.info(session_id)
        self.assert_session_shape(session)
        self.assertEqual(session["Name"], "worker")
        self.assertEqual(session["Behavior"], "delete")
        self.assertEqual(session["TTL"], "10s")
        self.assertEqual(session["LockDelay"], 0)
        self.assertIs(self.c.session.destroy(session_id), True)

    def test_checks(self):
        # Consul >= 1.7 answers NodeChecks (python-consul's docstring shows 0.x's "Checks").
        session_id = self.c.session.create(checks=["serfHealth"])
        self.assertEqual(self.c.session.info(session_id)[1]["NodeChecks"], ["serfHealth"])
        self.assertIs(self.c.session.destroy(session_id), True)
        # No checks at all: a session only its TTL or a destroy ends.
        session_id = self.c.session.create(checks=[], ttl=60)
        self.assertIn(self.c.session.info(session_id)[1]["NodeChecks"], ([], None))
        self.assertIs(self.c.session.destroy(session_id), True)
        with self.assertRaises(dev_agent.consul.ConsulException):
            self.c.session.create(checks=["no-such-check"])

    def test_renew(self):
        session_id = self.c.session.create(ttl=30)
        renewed = self.c.session.renew(session_id)
        self.assertIsInstance(renewed, dict, "renew returns the session itself (one=True)")
        self.assert_session_shape(renewed)
        self.assertEqual(renewed["ID"], session_id)
        self.assertEqual(renewed["TTL"], "30s")
        self.assertIs(self.c.session.destroy(session_id), True)
        with self.assertRaises(dev_agent.consul.NotFound):
            self.c.session.renew(session_id)

    def test_list_and_destroy(self):
        first = self.c.session.create(name="list-1")
        second = self.c.session.create(name="list-2", ttl=60)
        index, sessions = self.c.session.list()
        self.assertGreaterEqual(int(index), 1)
        by_id = {s["ID"]: s for s in sessions}
        self.assertTrue({first, second} <= set(by_id), f"list has {sorted(by_id)}")
        self.assertEqual(by_id[first]["Name"], "list-1")
        # Consul echoes the TTL as sent ("60s"); muster writes it in Go's form (see README.md).
        self.assertIn(by_id[second]["TTL"], ("60s", "1m0s"))
        for session in sessions:
            self.assert_session_shape(session)
        self.assertIs(self.c.session.destroy(first), True)
        _, sessions = self.c.session.list()
        self.assertNotIn(first, {s["ID"] for s in sessions})
        self.assertIn(second, {s["ID"] for s in sessions})
        # A destroyed (or never created) session's info is (index, None); destroy is idempotent.
        index, session = self.c.session.info(first)
        self.assertIsNone(session)
        self.assertGreaterEqual(int(index), 1)
        self.assertIs(self.c.session.destroy(first), True)
        self.assertIs(self.c.session.destroy(second), True)

    def test_consistency_modes_and_a_blocking_list(self):
        session_id = self.c.session.create(name="modes")
        for consistency in ("default", "consistent", "stale"):
            _, session = self.c.session.info(session_id, consistency=consistency)
            self.assertEqual(session["ID"], session_id, consistency)
        index, _ = self.c.session.list()
        # A destroy wakes a list blocked on the index it read.
        self.assertIs(self.c.session.destroy(session_id), True)
        new_index, sessions = self.c.session.list(index=index, wait="5s")
        self.assertGreater(int(new_index), int(index))
        self.assertNotIn(session_id, {s["ID"] for s in sessions})

    def test_destroying_a_delete_session_deletes_its_keys(self):
        deleting = self.c.session.create(behavior="delete")
        releasing = self.c.session.create(behavior="release")
        self.assertIs(self.c.kv.put("held/by-delete", "v", acquire=deleting), True)
        self.assertIs(self.c.kv.put("held/by-release", "v", acquire=releasing), True)
        self.assertIs(self.c.session.destroy(deleting), True)
        self.assertIs(self.c.session.destroy(releasing), True)
        self.assertIsNone(self.c.kv.get("held/by-delete")[1], "behavior=delete deletes the key")
        _, kept = self.c.kv.get("held/by-release")
        self.assertEqual(kept["Value"], b"v", "behavior=release keeps the key")
        self.assertNotIn("Session", kept)

    def test_lock_delay_holds_a_lock_after_its_session_ends(self):
        holder = self.c.session.create(lock_delay=LOCK_DELAY_SECONDS)
        waiter = self.c.session.create(lock_delay=0)
        self.assertIs(self.c.kv.put("delay/lock", "holder", acquire=holder), True)
        self.assertIs(self.c.session.destroy(holder), True)
        ended = time.monotonic()
        self.assertIs(self.c.kv.put("delay/lock", "waiter", acquire=waiter), False, "taken within the lock delay")
        while not self.c.kv.put("delay/lock", "waiter", acquire=waiter):
            self.assertLess(time.monotonic() - ended, LOCK_DELAY_SECONDS + LATE_SLACK_SECONDS)
            time.sleep(0.05)
        # The delay runs from the destroy's commit, a little before `ended`.
        self.assertGreaterEqual(time.monotonic() - ended, LOCK_DELAY_SECONDS - 0.1)
        # A release is no invalidation: no lock delay after it (Consul's).
        other = self.c.session.create(lock_delay=LOCK_DELAY_SECONDS)
        self.assertIs(self.c.kv.put("delay/other", "v", acquire=other), True)
        self.assertIs(self.c.kv.put("delay/other", "v", release=other), True)
        self.assertIs(self.c.kv.put("delay/other", "v", acquire=waiter), True)
        for session_id in (waiter, other):
            self.assertIs(self.c.session.destroy(session_id), True)

    def test_a_blocking_info_wakes_when_the_session_is_destroyed(self):
        session_id = self.c.session.create()
        index, session = self.c.session.info(session_id)
        self.assertEqual(session["ID"], session_id)
        destroyer = self.client()
        timer = threading.Timer(BLOCKING_DESTROY_DELAY_SECONDS, lambda: destroyer.session.destroy(session_id))
        started = time.monotonic()
        timer.start()
        try:
            new_index, gone = self.c.session.info(session_id, index=index, wait="20s")
            elapsed = time.monotonic() - started
        finally:
            timer.join()
        self.assertIsNone(gone)
        self.assertGreater(int(new_index), int(index))
        self.assertGreaterEqual(elapsed, BLOCKING_DESTROY_DELAY_SECONDS)
        self.assertLess(elapsed, BLOCKING_DESTROY_DELAY_SECONDS + LATE_SLACK_SECONDS)

    def test_an_unknown_node_is_refused(self):
        with self.assertRaises(dev_agent.consul.ConsulException):
            self.c.session.create(node="no-such-node")

    def test_a_ttl_out_of_range_is_consuls_500(self):
        # patroni matches a 500 whose text starts "Invalid Session TTL" (http-api.md W10).
        # (python-consul's own session.create checks the range first: its HTTP client here.)
        for ttl in ("5s", "90000s"):
            with self.assertRaises(dev_agent.consul.ConsulException) as caught:
                self.c.http.put(dev_agent.consul.base.CB.json(), "/v1/session/create", data=json.dumps({"TTL": ttl}))
            self.assertNotIsInstance(caught.exception, dev_agent.consul.base.BadRequest)
            self.assertTrue(str(caught.exception).startswith("500 Invalid Session TTL"), str(caught.exception))
        # And a lock with a session that does not exist: 500 "invalid session".
        with self.assertRaises(dev_agent.consul.ConsulException) as caught:
            self.c.kv.put("lock/none", "v", acquire="00000000-0000-0000-0000-000000000000")
        self.assertTrue(str(caught.exception).startswith("500 invalid session"), str(caught.exception))

    def test_sessions_of_a_node(self):
        mine = self.c.session.create(name="of-the-node")
        index, listed = self.c.session.node(dev_agent.NODE_NAME)
        self.assertGreaterEqual(int(index), 1)
        self.assertIn(mine, [s["ID"] for s in listed])
        self.assertTrue(all(s["Node"] == dev_agent.NODE_NAME for s in listed))
        _, none = self.c.session.node("no-such-node")
        self.assertEqual(none, [])

if __name__ == "__main__":
    dev_agent.run(ADDRESS)
