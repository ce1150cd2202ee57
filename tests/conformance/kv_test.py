"""python-consul 0.7.1's KV calls against a muster dev agent, each checked against the shapes
its documentation (consul/base.py) promises: get -> (index, value or None), get(recurse) ->
(index, [values] or None), get(keys) -> (index, [keys]), put and delete -> True/False; CAS,
flags, separators, locks with a session, and a blocking get that answers after a put from
another thread and not before."""

import threading
import time

import dev_agent

ADDRESS = "127.0.0.160"
# The blocking get's writer waits this long before its put: the get must not return earlier.
BLOCKING_PUT_DELAY_SECONDS = 1.5
# How late an answer may come on a loaded machine (make test runs every target at once on two
# cores). Nothing may come early: those bounds are exact.
LATE_SLACK_SECONDS = 1.0
KV_FIELDS = {"LockIndex", "Key", "Flags", "Value", "CreateIndex", "ModifyIndex"}


def index_of(text):
    """The X-Consul-Index python-consul hands back (a string), as an int; fails unless >= 1."""
    index = int(text)
    assert index >= 1, f"X-Consul-Index {text}"
    return index


class KvTest(dev_agent.TestCase):
    def test_put_then_get_returns_the_documented_value(self):
        self.assertIs(self.c.kv.put("get/foo", "bar"), True)
        index, value = self.c.kv.get("get/foo")
        self.assertGreaterEqual(index_of(index), value["ModifyIndex"])
        self.assertEqual(set(value), KV_FIELDS, "no Session field when unlocked")
        self.assertEqual(value["Key"], "get/foo")
        self.assertEqual(value["Value"], b"bar")
        self.assertEqual(value["Flags"], 0)
        self.assertEqual(value["LockIndex"], 0)
        self.assertEqual(value["CreateIndex"], value["ModifyIndex"])
        # A second put keeps CreateIndex and moves ModifyIndex.
        self.assertIs(self.c.kv.put("get/foo", b"\x00\xffbinary"), True)
        _, again = self.c.kv.get("get/foo")
        self.assertEqual(again["Value"], b"\x00\xffbinary")
        self.assertEqual(again["CreateIndex"], value["CreateIndex"])
        self.assertGreater(again["ModifyIndex"], value["ModifyIndex"])

    def test_a_missing_key_is_none_with_an_index(self):
        index, value = self.c.kv.get("missing/key")
        self.assertIsNone(value)
        index_of(index)
        index, values = self.c.kv.get("missing/", recurse=True)
        self.assertIsNone(values)
        index_of(index)
        index, keys = self.c.kv.get("missing/", keys=True)
        self.assertIsNone(keys)
        index_of(index)

    def test_every_consistency_mode_reads_the_write(self):
        self.assertIs(self.c.kv.put("modes/k", "v"), True)
        for consistency in ("default", "consistent", "stale"):
            self.assertEqual(self.c.kv.get("modes/k", consistency=consistency)[1]["Value"], b"v", consistency)
        stale_client = self.client(consistency="stale")
        self.assertEqual(stale_client.kv.get("modes/k")[1]["Value"], b"v")

    def test_empty_and_none_values_read_back_as_none(self):
        # Consul's null for an empty value (python-consul's own test_kv_encoding).
        self.assertIs(self.c.kv.put("empty/string", ""), True)
        self.assertIs(self.c.kv.put("empty/none", None), True)
        self.assertIsNone(self.c.kv.get("empty/string")[1]["Value"])
        self.assertIsNone(self.c.kv.get("empty/none")[1]["Value"])

    def test_cas(self):
        # cas=0: only when the key does not exist.
        self.assertIs(self.c.kv.put("cas/k", "1", cas=0), True)
        self.assertIs(self.c.kv.put("cas/k", "2", cas=0), False)
        _, value = self.c.kv.get("cas/k")
        self.assertEqual(value["Value"], b"1")
        modify = value["ModifyIndex"]
        # cas=ModifyIndex: only while nobody else wrote since.
        self.assertIs(self.c.kv.put("cas/k", "3", cas=modify), True)
        self.assertIs(self.c.kv.put("cas/k", "4", cas=modify), False)
        _, value = self.c.kv.get("cas/k")
        self.assertEqual(value["Value"], b"3")
        # Delete with cas: a stale index deletes nothing, the current one deletes.
        self.assertIs(self.c.kv.delete("cas/k", cas=modify), False)
        self.assertIsNotNone(self.c.kv.get("cas/k")[1])
        self.assertIs(self.c.kv.delete("cas/k", cas=value["ModifyIndex"]), True)
        self.assertIsNone(self.c.kv.get("cas/k")[1])

    def test_flags(self):
        self.assertIs(self.c.kv.put("flags/small", "v", flags=42), True)
        self.assertEqual(self.c.kv.get("flags/small")[1]["Flags"], 42)
        self.assertIs(self.c.kv.put("flags/max", "v", flags=2**64 - 1), True)
        self.assertEqual(self.c.kv.get("flags/max")[1]["Flags"], 2**64 - 1)
        # A put without flags sets them back to 0, as Consul's.
        self.assertIs(self.c.kv.put("flags/small", "w"), True)
        self.assertEqual(self.c.kv.get("flags/small")[1]["Flags"], 0)

    def test_recurse_lists_every_key_under_the_prefix_in_order(self):
        for key, value in [("tree/b", "2"), ("tree/a/y", "4"), ("tree/a", "1"), ("tree/a/x", "3"), ("treeless", "5")]:
            self.assertIs(self.c.kv.put(key, value), True)
        index, values = self.c.kv.get("tree/", recurse=True)
        self.assertEqual([v["Key"] for v in values], ["tree/a", "tree/a/x", "tree/a/y", "tree/b"])
        self.assertEqual([v["Value"] for v in values], [b"1", b"3", b"4", b"2"])
        for v in values:
            self.assertEqual(set(v), KV_FIELDS)
        # The list's index is the highest ModifyIndex under the prefix (or later).
        self.assertGreaterEqual(index_of(index), max(v["ModifyIndex"] for v in values))
        # "tree" without the slash takes "treeless" too: a prefix, not a folder.
        self.assertEqual(len(self.c.kv.get("tree", recurse=True)[1]), 5)

    def test_keys_with_a_separator(self):
        for key in ["sep/a/1", "sep/a/2", "sep/b", "sep/c/d/e", "sep:x"]:
            self.assertIs(self.c.kv.put(key, "v"), True)
        _, keys = self.c.kv.get("sep/", keys=True)
        self.assertEqual(keys, ["sep/a/1", "sep/a/2", "sep/b", "sep/c/d/e"])
        _, keys = self.c.kv.get("sep/", keys=True, separator="/")
        self.assertEqual(keys, ["sep/a/", "sep/b", "sep/c/"])
        _, keys = self.c.kv.get("sep", keys=True, separator=":")
        self.assertEqual(keys, ["sep/a/1", "sep/a/2", "sep/b", "sep/c/d/e", "sep:"])

    def test_delete_and_delete_recurse(self):
        for key in ["del/a", "del/b/c", "del/b/d", "delete-me-not"]:
            self.assertIs(self.c.kv.put(key, "v"), True)
        self.assertIs(self.c.kv.delete("del/a"), True)
        self.assertIsNone(self.c.kv.get("del/a")[1])
        # Deleting what is not there is no error.
        self.assertIs(self.c.kv.delete("del/a"), True)
        self.assertIs(self.c.kv.delete("del/", recurse=True), True)
        self.assertIsNone(self.c.kv.get("del/", recurse=True)[1])
        self.assertIsNotNone(self.c.kv.get("delete-me-not")[1])

    def test_acquire_and_release_with_a_session(self):
        mine = self.c.session.create(name="kv-lock-mine")
        theirs = self.c.session.create(name="kv-lock-theirs")
        try:
            self.assertIs(self.c.kv.put("lock/leader", "me", acquire=mine), True)
            _, value = self.c.kv.get("lock/leader")
            self.assertEqual(value["Session"], mine)
            self.assertEqual(value["LockIndex"], 1)
            self.assertEqual(set(value), KV_FIELDS | {"Session"})
            # Held: another session neither takes it nor releases it.
            self.assertIs(self.c.kv.put("lock/leader", "them", acquire=theirs), False)
            self.assertIs(self.c.kv.put("lock/leader", "them", release=theirs), False)
            _, value = self.c.kv.get("lock/leader")
            self.assertEqual((value["Session"], value["Value"]), (mine, b"me"))
            # The holder may acquire again (it updates the value, the LockIndex stays).
            self.assertIs(self.c.kv.put("lock/leader", "me again", acquire=mine), True)
            _, value = self.c.kv.get("lock/leader")
            self.assertEqual((value["Value"], value["LockIndex"]), (b"me again", 1))
            self.assertIs(self.c.kv.put("lock/leader", "released", release=mine), True)
            _, value = self.c.kv.get("lock/leader")
            self.assertNotIn("Session", value)
            self.assertEqual(value["Value"], b"released")
            # Free again: the other session takes it, and the LockIndex counts the second holder.
            self.assertIs(self.c.kv.put("lock/leader", "them", acquire=theirs), True)
            _, value = self.c.kv.get("lock/leader")
            self.assertEqual((value["Session"], value["LockIndex"]), (theirs, 2))
        finally:
            self.assertIs(self.c.session.destroy(mine), True)
            self.assertIs(self.c.session.destroy(theirs), True)
        # A destroyed session's lock is released (behavior "release": the key stays).
        _, value = self.c.kv.get("lock/leader")
        self.assertNotIn("Session", value)
        self.assertEqual(value["Value"], b"them")

    def test_acquire_with_an_unknown_session_is_refused(self):
        with self.assertRaises(dev_agent.consul.ConsulException):
            self.c.kv.put("lock/nobody", "v", acquire="00000000-0000-0000-0000-000000000000")
        self.assertIsNone(self.c.kv.get("lock/nobody")[1])

    def test_a_blocking_get_returns_after_a_put_and_not_before(self):
        self.assertIs(self.c.kv.put("block/key", "before"), True)
        index, value = self.c.kv.get("block/key")
        writer_client = self.client()
        put_at = []

        def writer():
            time.sleep(BLOCKING_PUT_DELAY_SECONDS)
            put_at.append(time.monotonic())
            self.assertIs(writer_client.kv.put("block/key", "after"), True)

        thread = threading.Thread(target=writer)
        started = time.monotonic()
        thread.start()
        try:
            new_index, new_value = self.c.kv.get("block/key", index=index, wait="20s")
            returned = time.monotonic()
        finally:
            thread.join()
        self.assertEqual(new_value["Value"], b"after")
        self.assertGreater(index_of(new_index), index_of(index))
        self.assertEqual(index_of(new_index), new_value["ModifyIndex"])
        # Not before the put was sent, and promptly after it.
        self.assertGreaterEqual(returned, put_at[0], "the blocking get returned before the put")
        self.assertGreaterEqual(returned - started, BLOCKING_PUT_DELAY_SECONDS)
        self.assertLess(returned - put_at[0], LATE_SLACK_SECONDS)
        dev_agent.log(f"the blocking get returned {returned - put_at[0]:.3f}s after the put was sent")

    def test_a_blocking_get_without_a_change_waits_out_its_wait(self):
        self.assertIs(self.c.kv.put("block/quiet", "v"), True)
        index, _ = self.c.kv.get("block/quiet")
        # Another key's write does not wake it (Consul may wake early; muster watches the key).
        self.assertIs(self.c.kv.put("block/other", "v"), True)
        started = time.monotonic()
        new_index, value = self.c.kv.get("block/quiet", index=index, wait="1s")
        elapsed = time.monotonic() - started
        # Consul adds up to wait/16 of jitter.
        self.assertGreaterEqual(elapsed, 1.0 - 0.05)
        self.assertLess(elapsed, 1.0 + 1.0 / 16 + LATE_SLACK_SECONDS)
        self.assertEqual(value["Value"], b"v")
        self.assertGreaterEqual(index_of(new_index), index_of(index))


if __name__ == "__main__":
    dev_agent.run(ADDRESS)
