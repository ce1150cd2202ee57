"""Who may depend on what (ARCHITECTURE.md "Layers": arrows point down only).

core/ is pure and sees only core/ and proto/; io/ and sim/ are hosts of the core and are seen
by the binaries, tests and benchmarks, never by core/. Bazel refuses a forbidden edge at
analysis (these visibilities), and //tests/purity:core_layering_test reads the dependency
graph of every core library to say which edge it was."""

# For the packages of io/ and sim/.
HOST_VISIBILITY = [
    "//bench:__subpackages__",
    "//cmd:__subpackages__",
    "//io:__subpackages__",
    "//sim:__subpackages__",
    "//tests:__subpackages__",
]

# Every library of core/; a new one is added here (the layering and no-libm checks read them).
CORE_LIBRARIES = [
    "//core/agent",
    "//core/agent:agent_config",
    "//core/agent:dns",
    "//core/agent:go_shapes",
    "//core/base",
    "//core/gossip",
    "//core/gossip:null_delegate",
    "//core/raft",
    "//core/raft:kv_fsm",
    "//core/raft:kv_machine",
    "//core/raft:log_matching",
    "//core/raft:test_configuration",
    "//core/seam",
    "//core/seam:envelope",
    "//core/state",
    "//core/state:test_util",
    "//core/testing",
]
