#!/usr/bin/env bash
# The DNS interface against Debian's NSD, side by side in one run (issue 15's benchmark):
#   1. one `muster agent -dev` (127.0.4.40, DNS on 8600) with a service of 3 instances;
#   2. NSD (127.0.4.41, port 8600) serving the same names as a static zone (SOA, NS, the 3 A
#      records of web.service.consul, minimal responses so both answer the same bytes);
# each pinned to core 0 in turn while dnsperf runs on core 1 (UDP, 20 s per case by default),
# for two cases: `web.service.consul A` (3 answers) and `nope.service.consul A` (NXDOMAIN with
# the SOA). Prints qps and average latency per server and case, and muster's share of NSD's.
# Installs dnsperf and nsd when absent (bench only: not part of scripts/setup.sh).
#
#   bash bench/dns_bench.sh [seconds=20] [clients=10]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
clients="${2:-10}"
muster_ip=127.0.4.40
nsd_ip=127.0.4.41
port=8600

command -v dnsperf >/dev/null || apt-get install -y dnsperf
command -v nsd >/dev/null || apt-get install -y nsd
bazel build -c opt //cmd:muster >/dev/null 2>&1
muster="bazel-out/k8-opt/bin/cmd/muster"

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
pids+=($!)
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
pids+=($!)

for _ in $(seq 100); do
  dig +short +tries=1 +time=1 @$nsd_ip -p $port web.service.consul | grep -q 10.0.0 &&
    dig +short +tries=1 +time=1 @$muster_ip -p $port web.service.consul | grep -q 10.0.0 && break
  sleep 0.1
done
echo "muster: $(dig +short @$muster_ip -p $port web.service.consul | sort | tr '\n' ' ')"
echo "nsd:    $(dig +short @$nsd_ip -p $port web.service.consul | sort | tr '\n' ' ')"

echo "web.service.consul A" >"$root/service.txt"
echo "nope.service.consul A" >"$root/nxdomain.txt"

# One dnsperf run on core 1: "qps avg_latency_ms".
perf() {
  local out
  out=$(taskset -c 1 dnsperf -s "$1" -p $port -d "$2" -l "$seconds" -c "$clients" -q 200 -T 1 2>&1)
  local qps lat lost
  qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
  lat=$(echo "$out" | awk '/Average Latency/ {printf "%.3f", $4 * 1000}')
  lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
  echo "$qps $lat $lost"
}

printf "\nload: %s   dnsperf: %s s, %s clients, 200 outstanding, UDP; servers on core 0, dnsperf on core 1\n" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$seconds" "$clients"
printf "%-22s %-7s %12s %14s %8s\n" case server qps "avg latency" lost
for case in service nxdomain; do
  read -r nsd_qps nsd_lat nsd_lost <<<"$(perf $nsd_ip "$root/$case.txt")"
  read -r m_qps m_lat m_lost <<<"$(perf $muster_ip "$root/$case.txt")"
  printf "%-22s %-7s %12s %11s ms %8s\n" "$case" nsd "$nsd_qps" "$nsd_lat" "$nsd_lost"
  printf "%-22s %-7s %12s %11s ms %8s\n" "$case" muster "$m_qps" "$m_lat" "$m_lost"
  awk -v m="$m_qps" -v n="$nsd_qps" -v c="$case" 'BEGIN { printf "%-22s muster/nsd: %.2f\n", c, m / n }'
done
