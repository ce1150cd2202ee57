"""python-consul 0.7.1's status, agent and operator calls against a muster dev agent, checked
against the shapes its documentation (consul/base.py) and Consul's API promise: status.leader
-> "ip:port", status.peers -> ["ip:port"], agent.self -> {"Config", "Member", ...},
agent.members -> [member] (LAN and WAN), agent.join -> True, operator.raft_config ->
{"Servers", "Index"}."""

import dev_agent

ADDRESS = "127.0.0.163"
ALIVE = 1  # serf's member status, as Consul's API numbers it


class StatusTest(dev_agent.TestCase):
    def test_leader_and_peers(self):
        self.assertEqual(self.c.status.leader(), dev_agent.rpc_address())
        self.assertEqual(self.c.status.peers(), [dev_agent.rpc_address()])

    def test_agent_self(self):
        me = self.c.agent.self()
        self.assertEqual(me["Config"]["NodeName"], dev_agent.NODE_NAME)
        self.assertEqual(me["Config"]["Datacenter"], "dc1")
        self.assertIs(me["Config"]["Server"], True)
        self.assertEqual(me["Member"]["Name"], dev_agent.NODE_NAME)
        self.assertEqual(me["Member"]["Addr"], ADDRESS)
        self.assertEqual(me["Member"]["Status"], ALIVE)
        self.assertEqual(me["Stats"]["raft"]["state"], "Leader")
        # What older clients read besides: python-consul 0.7.1's own tests, patroni, newer tests.
        self.assertEqual(me["Config"]["AdvertiseAddr"], ADDRESS)
        self.assertEqual(me["Config"]["Ports"]["Server"], dev_agent.RPC_PORT)
        self.assertEqual(me["Config"]["SessionTTLMin"], 10 * 1_000_000_000)
        self.assertEqual(me["Stats"]["consul"]["leader_addr"], dev_agent.rpc_address())
        self.assertIn("DebugConfig", me)
        self.assertEqual(me["Meta"], {})

    def test_members_lan_and_wan(self):
        members = self.c.agent.members()
        self.assertEqual(len(members), 1, members)
        member = members[0]
        for field in ("Name", "Addr", "Port", "Tags", "Status", "ProtocolMin", "ProtocolMax", "ProtocolCur",
                      "DelegateMin", "DelegateMax", "DelegateCur"):
            self.assertIn(field, member)
        self.assertEqual(member["Name"], dev_agent.NODE_NAME)
        self.assertEqual((member["Addr"], member["Port"]), (ADDRESS, dev_agent.LAN_PORT))
        self.assertEqual(member["Status"], ALIVE)
        self.assertEqual(member["Tags"]["role"], "consul")
        self.assertEqual(member["Tags"]["dc"], "dc1")
        self.assertEqual(member["Tags"]["port"], str(dev_agent.RPC_PORT))
        wan = self.c.agent.members(wan=True)
        self.assertEqual([m["Name"] for m in wan], [dev_agent.NODE_NAME + ".dc1"])
        self.assertEqual(wan[0]["Status"], ALIVE)

    def test_join_of_its_own_address(self):
        # python-consul joins with GET (W9); joining itself succeeds and changes nothing.
        self.assertIs(self.c.agent.join(ADDRESS), True)
        self.assertEqual([m["Name"] for m in self.c.agent.members()], [dev_agent.NODE_NAME])

    def test_another_datacenter_has_no_path(self):
        # One datacenter until the WAN issue: python-consul's ConsulException with Consul's 500.
        elsewhere = self.client(dc="dc2")
        with self.assertRaisesRegex(dev_agent.consul.ConsulException, "^500 No path to datacenter"):
            elsewhere.kv.get("k")
        with self.assertRaisesRegex(dev_agent.consul.ConsulException, "^500 No path to datacenter"):
            elsewhere.session.list()
        self.assertEqual(self.client(dc="dc1").kv.get("k"), self.c.kv.get("k"))

    def test_operator_raft_config(self):
        config = self.c.operator.raft_config()
        self.assertEqual(set(config), {"Servers", "Index"})
        self.assertGreaterEqual(config["Index"], 0)
        self.assertEqual(len(config["Servers"]), 1, config)
        server = config["Servers"][0]
        self.assertEqual(server["Node"], dev_agent.NODE_NAME)
        self.assertEqual(server["Address"], dev_agent.rpc_address())
        self.assertIs(server["Leader"], True)
        self.assertIs(server["Voter"], True)
        self.assertEqual(server["ID"], self.c.agent.self()["Config"]["NodeID"])
        self.assertEqual(server["ProtocolVersion"], "3")


if __name__ == "__main__":
    dev_agent.run(ADDRESS)
