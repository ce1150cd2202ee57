"""A session's TTL through python-consul 0.7.1: two TTL sessions with behavior=delete each hold
a key; the one renewed every few seconds lives on with its key, the other is invalidated once
its TTL has run out (Consul's TTL is a minimum: it goes between 1x and 2x the TTL after its
last renewal) and its key is deleted with it. Its own target: it takes ~20 s of waiting."""

import time

import dev_agent

ADDRESS = "127.0.0.162"
TTL_SECONDS = 10  # python-consul's smallest
RENEW_INTERVAL_SECONDS = 3
# 2x the TTL, plus the leader's sweep and a loaded machine.
EXPIRY_TIMEOUT_SECONDS = 2 * TTL_SECONDS + 10


class SessionTtlTest(dev_agent.TestCase):
    def test_a_renewed_session_lives_and_an_unrenewed_one_is_invalidated_with_its_key(self):
        c = self.c
        renewed = c.session.create(name="renewed", ttl=TTL_SECONDS, behavior="delete", lock_delay=0)
        lapsing = c.session.create(name="lapsing", ttl=TTL_SECONDS, behavior="delete", lock_delay=0)
        created = time.monotonic()
        self.assertIs(c.kv.put("ttl/renewed", "v", acquire=renewed), True)
        self.assertIs(c.kv.put("ttl/lapsing", "v", acquire=lapsing), True)
        last_renewal = created
        while True:
            now = time.monotonic()
            if now - last_renewal >= RENEW_INTERVAL_SECONDS:
                self.assertEqual(c.session.renew(renewed)["ID"], renewed)
                last_renewal = now
            if c.session.info(lapsing)[1] is None:
                break
            self.assertLess(now - created, EXPIRY_TIMEOUT_SECONDS, "the unrenewed session outlived 2x its TTL")
            time.sleep(0.2)
        lapsed_after = time.monotonic() - created
        dev_agent.log(f"the unrenewed session was invalidated {lapsed_after:.1f}s after it was created")
        self.assertGreaterEqual(lapsed_after, TTL_SECONDS, "invalidated before its TTL ran out")
        self.assertIsNone(c.kv.get("ttl/lapsing")[1], "behavior=delete: its key goes with it")
        # The renewed one outlived the other's TTL and still holds its key.
        _, session = c.session.info(renewed)
        self.assertEqual(session["ID"], renewed)
        _, value = c.kv.get("ttl/renewed")
        self.assertEqual(value["Session"], renewed)
        with self.assertRaises(dev_agent.consul.NotFound):
            c.session.renew(lapsing)
        self.assertIs(c.session.destroy(renewed), True)
        self.assertIsNone(c.kv.get("ttl/renewed")[1])


if __name__ == "__main__":
    dev_agent.run(ADDRESS)
