#!/usr/bin/env bash
# Loads muster's HTTP server (io/http, http-parser) and H2O with the same small keep-alive GET
# from wrk, one after the other in one run, so the two are compared on the same machine state.
#   bazel build //bench:http_server_bench //bench:http_server_bench_h2o
#   bench/http_server_bench.sh [seconds=10] [connections=64] [rounds=2]
# Each server runs one loop thread; wrk runs one thread (the machine has 2 cores).
set -euo pipefail
seconds=${1:-10}
connections=${2:-64}
rounds=${3:-2}
bin=$(cd "$(dirname "$0")/.." && pwd)/bazel-bin/bench

"$bin/http_server_bench" 127.0.0.1:18500 & ours=$!
"$bin/http_server_bench_h2o" 18501 & h2o=$!
trap 'kill $ours $h2o 2>/dev/null || true' EXIT
sleep 0.5
for round in $(seq "$rounds"); do
  for target in "muster-io-http 18500" "h2o 18501"; do
    set -- $target
    echo "== round $round: $1 (wrk -t1 -c$connections -d${seconds}s --latency)"
    wrk -t1 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$2/v1/status/leader"
  done
done
