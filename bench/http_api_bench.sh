#!/usr/bin/env bash
# KV through the HTTP API, muster against etcd's v3 JSON gateway, in one run on one machine:
#   1. one `muster agent -dev` (127.0.0.207) pinned to core 0, against a one-member etcd
#      (127.0.0.214) pinned to core 0 with its data dir on tmpfs (the dev agent keeps its state
#      in memory, so neither pays for fsync); the load generator runs on core 1;
#   2. three `muster agent -server` (127.0.0.208-210, RocksDB on disk, every write synced)
#      against three etcd members (127.0.0.211-213, WAL on disk), unpinned.
# GET is `wrk -t1 --latency` on one key with a 100-byte value (etcd: POST /v3/kv/range through a
# Lua script); PUT is `hey -m PUT` of a 100-byte value to one key (etcd: POST /v3/kv/put with
# base64 key and value). Same connection count for both systems.
#
#   bazel build -c opt //cmd:muster
#   bench/http_api_bench.sh [seconds=10] [connections=64] [rounds=1]
#   MUSTER=path/to/muster ETCD=path/to/etcd (defaults: bazel-out/k8-opt/bin/cmd/muster, etcd)
# Prints one Markdown table row per load; figures go to bench/http_api_bench_results.md.
set -euo pipefail
seconds=${1:-10}
connections=${2:-64}
rounds=${3:-1}
repo=$(cd "$(dirname "$0")/.." && pwd)
muster_built=${MUSTER:-$repo/bazel-out/k8-opt/bin/cmd/muster}
etcd=${ETCD:-$(command -v etcd || true)}
for tool in wrk hey curl python3 taskset; do
  command -v "$tool" >/dev/null || { echo "http_api_bench: $tool is missing (apt-get install -y $tool)" >&2; exit 2; }
done
[ -x "$muster_built" ] || { echo "http_api_bench: no $muster_built (bazel build -c opt //cmd:muster)" >&2; exit 2; }

root=$(mktemp -d /tmp/muster-http-api-bench-XXXXXX)
shm=$(mktemp -d /dev/shm/muster-http-api-bench-XXXXXX)
# A copy, so that another engineer's rebuild during the run changes nothing.
muster=$root/muster
cp "$muster_built" "$muster"
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$root" "$shm"' EXIT

value=$(printf 'x%.0s' $(seq 100))
value_b64=$(printf '%s' "$value" | base64 -w0)
b64() { printf '%s' "$1" | base64 -w0; }
get_key_b64=$(b64 bench/get)
put_key_b64=$(b64 bench/put)
cat >"$root/etcd_range.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"key":"$get_key_b64"}'
wrk.headers["Content-Type"] = "application/json"
EOF
# bench/list/ holds 100 keys; etcd's prefix range ends at "bench/list0" ('/' + 1).
cat >"$root/etcd_range_prefix.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"key":"$(b64 bench/list/)","range_end":"$(b64 bench/list0)"}'
wrk.headers["Content-Type"] = "application/json"
EOF
cat >"$root/etcd_range_serializable.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"key":"$get_key_b64","serializable":true}'
wrk.headers["Content-Type"] = "application/json"
EOF
printf '{"key":"%s","value":"%s"}' "$put_key_b64" "$value_b64" >"$root/etcd_put.json"

# wrk's and hey's latencies in ms ("850.00us", "1.22ms", "0.0011 secs").
to_ms() {
  python3 -c '
import sys
v = sys.argv[1]
for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
    if v.endswith(unit):
        print("%.2f" % (float(v[: -len(unit)]) * f)); break
' "$1"
}

# CPU ticks (utime + stime) used so far by the servers running now (the pids array).
server_ticks() {
  local total=0 p
  for p in "${pids[@]}"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
ticks_per_s=$(getconf CLK_TCK)

# row SYSTEM SETUP OPERATION TOOL RPS P50 P99 ERRORS TICKS_BEFORE: the last columns are the
# servers' CPU during the load in cores (1.00: one core busy all along; less on the pinned core
# means another process had part of it) and in microseconds per request, all servers summed
# (the figure to trust on a machine shared with builds).
row() {
  local cpu
  cpu=$(awk -v t="$(( $(server_ticks) - $9 ))" -v hz="$ticks_per_s" -v s="$seconds" -v rps="$5" \
    'BEGIN {printf "%.2f | %.1f", t / hz / s, (rps > 0 ? t / hz / s / rps * 1e6 : 0)}')
  printf '| %s | %s | %s | %s | %s | %s ms | %s ms | %s | %s |\n' "${@:1:8}" "$cpu"
}

# wrk_get SYSTEM SETUP OPERATION URL [LUA]: GET (or the Lua script's request) for $seconds.
wrk_get() {
  local out errors ticks
  ticks=$(server_ticks)
  out=$($client_cpu wrk -t1 -c"$connections" -d"${seconds}s" --latency ${5:+-s "$5"} "$4")
  errors=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
  row "$1" "$2" "$3" "wrk -t1 -c$connections" \
    "$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")" \
    "$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")" \
    "$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")" "$errors" "$ticks"
}

# hey_write SYSTEM SETUP OPERATION METHOD URL BODY_FILE CONTENT_TYPE: writes for $seconds.
# Errors: answers other than 200, and hey's transport errors ("[count] message").
hey_write() {
  local out ticks
  ticks=$(server_ticks)
  out=$($client_cpu hey -z "${seconds}s" -c "$connections" -m "$4" -D "$6" -T "$7" "$5")
  row "$1" "$2" "$3" "hey -m $4 -c$connections" \
    "$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")" \
    "$(to_ms "$(awk '$1 == "50%" {print $3 "s"}' <<<"$out")")" \
    "$(to_ms "$(awk '$1 == "99%" {print $3 "s"}' <<<"$out")")" \
    "$(awk '/^ *\[[0-9]+\]/ {
           if (/responses/) { if ($1 != "[200]") n += $2 } else { gsub(/[][]/, "", $1); n += $1 } }
         END {print n + 0}' <<<"$out")" "$ticks"
}

wait_for() {  # wait_for DESCRIPTION COMMAND...: up to 30 s
  for _ in $(seq 300); do
    if "${@:2}" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "http_api_bench: $1 did not come up (logs in $root)" >&2
  trap - EXIT
  stop_all
  exit 1
}

muster_leader() { curl -sf "http://$1:8500/v1/status/leader" | tr -d '"'; }
muster_agreed() {  # all of the given servers name the same, non-empty leader
  local first; first=$(muster_leader "$1")
  [ -n "$first" ] || return 1
  for ip in "$@"; do [ "$(muster_leader "$ip")" = "$first" ] || return 1; done
}
etcd_up() { for ip in "$@"; do curl -sf -X POST -d '{"key":"cHJvYmU="}' "http://$ip:2379/v3/kv/range" || return 1; done; }
etcd_is_leader() {
  curl -sf -X POST -d '{}' "http://$1:2379/v3/maintenance/status" |
    python3 -c 'import json, sys; s = json.load(sys.stdin); sys.exit(0 if s["header"]["member_id"] == s["leader"] else 1)'
}

# start_etcd NAME IP DATA_DIR CLUSTER CPU_PREFIX...
start_etcd() {
  ${@:5} "$etcd" --name "$1" --data-dir "$3" --listen-client-urls "http://$2:2379" \
    --advertise-client-urls "http://$2:2379" --listen-peer-urls "http://$2:2380" \
    --initial-advertise-peer-urls "http://$2:2380" --initial-cluster "$4" \
    --initial-cluster-state new --log-level error >"$root/$1.log" 2>&1 &
  pids+=($!)
}

printf '%s' "$value" >"$root/value"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $seconds s per load, $connections connections"
echo
echo "| system | setup | operation | client | requests/s | p50 | p99 | errors | server CPU, cores | server CPU per request, us |"
echo "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for round in $(seq "$rounds"); do
  # 1. One node on one core.
  client_cpu="taskset -c 1"
  dev=127.0.0.207
  taskset -c 0 "$muster" agent -dev -node=bench-dev -bind=$dev -client=$dev -log-level=warn >"$root/dev.log" 2>&1 &
  pids+=($!)
  wait_for "the dev agent" muster_agreed $dev
  curl -sf -X PUT --data-binary @"$root/value" "http://$dev:8500/v1/kv/bench/get" >/dev/null
  wrk_get muster "dev agent, core 0" "GET /v1/kv" "http://$dev:8500/v1/kv/bench/get"
  for i in $(seq 100); do
    curl -sf -X PUT --data-binary @"$root/value" "http://$dev:8500/v1/kv/bench/list/key-$i" >/dev/null
  done
  wrk_get muster "dev agent, core 0" "GET /v1/kv?recurse, 100 keys" "http://$dev:8500/v1/kv/bench/list/?recurse"
  hey_write muster "dev agent, core 0" "PUT /v1/kv" PUT "http://$dev:8500/v1/kv/bench/put" "$root/value" \
    application/octet-stream
  stop_all
  if [ -n "$etcd" ]; then
    one=127.0.0.214
    rm -rf "$shm/etcd-single"
    start_etcd single $one "$shm/etcd-single" "single=http://$one:2380" taskset -c 0
    wait_for "the one-member etcd" etcd_up $one
    curl -sf -X POST -d "{\"key\":\"$get_key_b64\",\"value\":\"$value_b64\"}" "http://$one:2379/v3/kv/put" >/dev/null
    wrk_get etcd "1 member on tmpfs, core 0" "POST /v3/kv/range" "http://$one:2379/v3/kv/range" "$root/etcd_range.lua"
    for i in $(seq 100); do
      curl -sf -X POST -d "{\"key\":\"$(b64 "bench/list/key-$i")\",\"value\":\"$value_b64\"}" \
        "http://$one:2379/v3/kv/put" >/dev/null
    done
    wrk_get etcd "1 member on tmpfs, core 0" "range, prefix of 100 keys" "http://$one:2379/v3/kv/range" \
      "$root/etcd_range_prefix.lua"
    hey_write etcd "1 member on tmpfs, core 0" "POST /v3/kv/put" POST "http://$one:2379/v3/kv/put" "$root/etcd_put.json" \
      application/json
    stop_all
  fi

  # 2. Three servers, synced writes, both cores shared by the servers and the client.
  client_cpu=""
  ips=(127.0.0.208 127.0.0.209 127.0.0.210)
  rm -rf "$root/cluster"
  for i in 0 1 2; do
    joins=()
    for j in 0 1 2; do [ "$i" = "$j" ] || joins+=("-retry-join=${ips[$j]}"); done
    mkdir -p "$root/cluster/s$i"
    "$muster" agent -server -bootstrap-expect=3 -node="bench-s$i" -bind="${ips[$i]}" -client="${ips[$i]}" \
      -data-dir="$root/cluster/s$i" -log-level=warn "${joins[@]}" >"$root/cluster/s$i.log" 2>&1 &
    pids+=($!)
  done
  wait_for "the three servers" muster_agreed "${ips[@]}"
  sleep 2  # autopilot and the leader's reconcile settle
  leader=$(muster_leader "${ips[0]}")
  leader=${leader%:*}
  for ip in "${ips[@]}"; do [ "$ip" = "$leader" ] || follower=$ip; done
  curl -sf -X PUT --data-binary @"$root/value" "http://$leader:8500/v1/kv/bench/get" >/dev/null
  hey_write muster "3 servers, to the leader" "PUT /v1/kv" PUT "http://$leader:8500/v1/kv/bench/put" "$root/value" \
    application/octet-stream
  hey_write muster "3 servers, to a follower" "PUT /v1/kv" PUT "http://$follower:8500/v1/kv/bench/put" "$root/value" \
    application/octet-stream
  wrk_get muster "3 servers, to the leader" "GET /v1/kv" "http://$leader:8500/v1/kv/bench/get"
  wrk_get muster "3 servers, to a follower" "GET /v1/kv" "http://$follower:8500/v1/kv/bench/get"
  wrk_get muster "3 servers, to a follower" "GET /v1/kv?stale" "http://$follower:8500/v1/kv/bench/get?stale"
  stop_all
  if [ -n "$etcd" ]; then
    ips=(127.0.0.211 127.0.0.212 127.0.0.213)
    cluster="e0=http://${ips[0]}:2380,e1=http://${ips[1]}:2380,e2=http://${ips[2]}:2380"
    for i in 0 1 2; do start_etcd "e$i" "${ips[$i]}" "$root/cluster/etcd-e$i" "$cluster"; done
    wait_for "the three etcd members" etcd_up "${ips[@]}"
    leader=""
    for ip in "${ips[@]}"; do
      if etcd_is_leader "$ip"; then leader=$ip; else follower=$ip; fi
    done
    curl -sf -X POST -d "{\"key\":\"$get_key_b64\",\"value\":\"$value_b64\"}" "http://$leader:2379/v3/kv/put" >/dev/null
    hey_write etcd "3 members, to the leader" "POST /v3/kv/put" POST "http://$leader:2379/v3/kv/put" "$root/etcd_put.json" \
      application/json
    hey_write etcd "3 members, to a follower" "POST /v3/kv/put" POST "http://$follower:2379/v3/kv/put" "$root/etcd_put.json" \
      application/json
    wrk_get etcd "3 members, to the leader" "POST /v3/kv/range" "http://$leader:2379/v3/kv/range" "$root/etcd_range.lua"
    wrk_get etcd "3 members, to a follower" "POST /v3/kv/range" "http://$follower:2379/v3/kv/range" "$root/etcd_range.lua"
    wrk_get etcd "3 members, to a follower" "range, serializable" "http://$follower:2379/v3/kv/range" \
      "$root/etcd_range_serializable.lua"
    stop_all
  fi
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
