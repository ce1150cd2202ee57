#!/usr/bin/env bash
# The DNS interface against Debian's NSD, side by side in one run (issue 15's benchmark):
#   1. one `muster agent -dev` (127.0.4.40, DNS on 8600) with a service of 3 instances;
#   2. NSD (127.0.4.41, port 8600) serving the same names as a static zone (SOA, NS, the 3 A
#      records of web.service.consul, minimal responses so both answer the same bytes);
# each pinned to core 0 while dnsperf runs on core 1 (UDP; rounds alternate the two servers),
# for two cases: `web.service.consul A` (3 answers) and `nope.service.consul A` (NXDOMAIN with
# the SOA). Prints qps, average latency and each server's CPU per query (its own user+system
# time over the queries answered: the figure to trust on a shared machine), and muster's share
# of NSD's qps.
# Installs dnsperf and nsd when absent (bench only: not part of scripts/setup.sh).
#
#   bash bench/dns_bench.sh [seconds=10] [clients=10] [rounds=3]   (MUSTER=path: that binary)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
clients="${2:-10}"
rounds="${3:-3}"
muster_ip=127.0.4.40
nsd_ip=127.0.4.41
port=8600

command -v dnsperf >/dev/null || apt-get install -y dnsperf
command -v nsd >/dev/null || apt-get install -y nsd
# MUSTER=path: a muster binary built elsewhere (a clean checkout while the tree is mid-edit).
if [ -z "${MUSTER:-}" ]; then
  bazel build -c opt //cmd:muster >/dev/null 2>&1
fi
muster="${MUSTER:-bazel-out/k8-opt/bin/cmd/muster}"

root="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$root"
}
trap cleanup EXIT

# ---- muster: a dev agent with web x3 in its catalog.
taskset -c 0 "$muster" agent -dev -node=dns-bench -bind=$muster_ip -client=$muster_ip -log-level=warn \
  >"$root/muster.log" 2>&1 &
muster_pid=$!
pids+=($muster_pid)
for _ in $(seq 100); do
  curl -sf "http://$muster_ip:8500/v1/status/leader" | grep -q 8300 && break
  sleep 0.1
done
for i in 1 2 3; do
  curl -sf -X PUT -d "{\"Node\":\"n$i\",\"Address\":\"10.0.0.$i\",\"Service\":{\"Service\":\"web\",\"Port\":80}}" \
    "http://$muster_ip:8500/v1/catalog/register" >/dev/null
done

# ---- NSD: the same names, static.
mkdir -p "$root/nsd"
cat >"$root/nsd/consul.zone" <<EOF
\$ORIGIN consul.
\$TTL 0
@            IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0
@            IN NS  ns.consul.
ns           IN A   $nsd_ip
web.service  IN A   10.0.0.1
web.service  IN A   10.0.0.2
web.service  IN A   10.0.0.3
EOF
cat >"$root/nsd/nsd.conf" <<EOF
server:
  ip-address: $nsd_ip
  port: $port
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "$root/nsd"
  database: ""
  zonelistfile: "$root/nsd/zone.list"
  xfrdfile: "$root/nsd/xfrd.state"
  pidfile: "$root/nsd/nsd.pid"
  logfile: "$root/nsd/nsd.log"
  minimal-responses: yes
  hide-version: yes
  # Debian's NSD limits each client /24 to 200 answers a second (RRL): off, for a load test.
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: consul.
  zonefile: consul.zone
EOF
taskset -c 0 nsd -d -c "$root/nsd/nsd.conf" >"$root/nsd/stdout.log" 2>&1 &
nsd_pid=$!
pids+=($nsd_pid)

for _ in $(seq 100); do
  dig +short +tries=1 +time=1 @$nsd_ip -p $port web.service.consul | grep -q 10.0.0 &&
    dig +short +tries=1 +time=1 @$muster_ip -p $port web.service.consul | grep -q 10.0.0 && break
  sleep 0.1
done
echo "muster: $(dig +short @$muster_ip -p $port web.service.consul | sort | tr '\n' ' ')"
echo "nsd:    $(dig +short @$nsd_ip -p $port web.service.consul | sort | tr '\n' ' ')"

echo "web.service.consul A" >"$root/service.txt"
echo "nope.service.consul A" >"$root/nxdomain.txt"

# A process and all its descendants (NSD's server process is a grandchild of the one started).
family() {
  local p
  echo "$1"
  for p in $(pgrep -P "$1" || true); do family "$p"; done
}

# CPU ticks (user + system) of a server and its descendants.
ticks() {
  local total=0 p
  for p in $(family "$1"); do
    # Fields after the name, which may hold spaces ("(nsd: server 1)"): utime and stime.
    [ -r "/proc/$p/stat" ] && total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)

# One dnsperf run on core 1 against a server (ip, its pid, the query file):
# "qps avg_latency_ms lost cpu_us_per_query".
perf() {
  local out before after
  before=$(ticks "$2")
  out=$(taskset -c 1 dnsperf -s "$1" -p $port -d "$3" -l "$seconds" -c "$clients" -q 200 -T 1 2>&1)
  after=$(ticks "$2")
  local qps lat lost done
  qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
  lat=$(echo "$out" | awk '/Average Latency/ {printf "%.3f", $4 * 1000}')
  lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
  done=$(echo "$out" | awk '/Queries completed/ {print $3}')
  echo "$qps $lat $lost $(awk -v t=$((after - before)) -v hz="$hz" -v n="$done" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
}

printf "\nload before: %s   dnsperf: %s rounds of %s s per server and case, alternating nsd and muster, %s clients,\n" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$rounds" "$seconds" "$clients"
printf "200 outstanding, UDP; servers on core 0, dnsperf on core 1; the best round of each is kept (the machine is shared)\n"
printf "%-10s %-7s %9s %12s %6s %14s   %s\n" case server qps "avg latency" lost "CPU per query" "every round's qps"
for case in service nxdomain; do
  best_n=0 best_m=0 row_n="" row_m="" all_n="" all_m=""
  for _ in $(seq "$rounds"); do
    read -r q l x c <<<"$(perf $nsd_ip "$nsd_pid" "$root/$case.txt")"
    all_n="$all_n ${q%.*}"
    if awk -v a="$q" -v b="$best_n" 'BEGIN { exit !(a > b) }'; then best_n=$q row_n="$l $x $c"; fi
    read -r q l x c <<<"$(perf $muster_ip "$muster_pid" "$root/$case.txt")"
    all_m="$all_m ${q%.*}"
    if awk -v a="$q" -v b="$best_m" 'BEGIN { exit !(a > b) }'; then best_m=$q row_m="$l $x $c"; fi
  done
  read -r l x c <<<"$row_n"
  printf "%-10s %-7s %9.0f %9s ms %6s %11s us   %s\n" "$case" nsd "$best_n" "$l" "$x" "$c" "$all_n"
  read -r l x c <<<"$row_m"
  printf "%-10s %-7s %9.0f %9s ms %6s %11s us   %s\n" "$case" muster "$best_m" "$l" "$x" "$c" "$all_m"
  awk -v m="$best_m" -v n="$best_n" -v c="$case" 'BEGIN { printf "%-10s muster/nsd: %.2f\n", c, m / n }'
done
printf "load after: %s\n" "$(cut -d' ' -f1-3 /proc/loadavg)"
