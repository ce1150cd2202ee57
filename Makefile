# The two commands: `make dev` (set up, then run a single-node dev agent in the foreground)
# and `make test` (set up, then build and run every test). Both are safe to repeat.
.PHONY: setup test dev build asan bench

setup:
	@bash scripts/setup.sh

build: setup
	bazel build //...

test: setup
	@bash scripts/test.sh

asan: setup
	@bash scripts/test.sh --config=asan

# ARGS: more flags for `muster agent -dev` (make dev ARGS="-log-level=info -node=laptop").
dev: setup
	@bash scripts/dev.sh $(ARGS)

# The quick benchmarks; gossip_bench takes ~25 min with N = 2,000 (see core/gossip/README.md).
# The HTTP API ones (http_api_bench.sh, blocking_bench.py, json_bench) take ~6 min together.
bench: setup
	bazel build //bench:all
	bazel-bin/bench/sim_bench
	bazel-bin/bench/raft_bench
	bazel-bin/bench/raft_storage_bench
	bazel-bin/bench/state_bench
	@command -v etcd >/dev/null || apt-get install -y etcd-server || echo "no etcd: cluster_bench runs without its comparison"
	@command -v hey >/dev/null || apt-get install -y hey
	@test -f /usr/include/rapidjson/document.h -a -f /usr/include/simdjson.h || apt-get install -y rapidjson-dev libsimdjson-dev
	bazel build -c opt //cmd:muster //bench:cluster_bench //bench:json_bench
	bazel-out/k8-opt/bin/bench/cluster_bench --muster=bazel-out/k8-opt/bin/cmd/muster
	bash bench/http_api_bench.sh 10 64 1
	python3 bench/blocking_bench.py --muster=bazel-out/k8-opt/bin/cmd/muster --connections=4000
	python3 bench/blocking_bench.py --muster=bazel-out/k8-opt/bin/cmd/muster --connections=200 --per-connection=50
	bazel-out/k8-opt/bin/bench/json_bench
