#!/usr/bin/env bash
# `muster agent` as a real process on loopback (127.0.0.71 to .73, which no other test uses):
# a -dev agent prints Consul's banner, elects itself, answers /v1/status/leader and a KV
# put/get round trip over HTTP, reloads on SIGHUP, and exits 0 on SIGINT after leaving; a
# second agent on the same ports fails to start with one line and exit 1; a server with a data
# dir keeps its node ID and writes across restarts and refuses a different -node-id; SIGTERM on
# a server (no leave_on_terminate) exits at once with 1, as Consul's; PUT /v1/agent/leave ends
# the agent with 0; a second SIGINT while leaving exits 1; a second agent on a data dir in use
# is refused. Every agent is stopped by its PID.
set -uo pipefail

muster="$1"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done; }
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for log in "$tmp"/*.log; do echo "--- $log" >&2; tail -30 "$log" >&2; done
  exit 1
}

# Waits up to $2 seconds for the process $1 (a child of this shell) to end and sets `status`
# to its exit status, or to "timeout". Not in a subshell: only this shell can wait for it.
wait_exit() {
  local pid="$1" deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid")" != "Z" ]; do
    [ "$SECONDS" -ge "$deadline" ] && { status="timeout"; return; }
    sleep 0.1
  done
  wait "$pid"
  status="$?"
}

http() { curl -s --max-time 5 "$@"; }

# ---- a -dev agent -------------------------------------------------------------------------
dev=127.0.0.71
"$muster" agent -dev -bind=$dev -client=$dev -node=dev-node >"$tmp/dev.log" 2>&1 &
dev_pid=$!
pids+=("$dev_pid")

leader=""
for _ in $(seq 1 100); do
  leader="$(http "http://$dev:8500/v1/status/leader")"
  [ -n "$leader" ] && [ "$leader" != '""' ] && break
  sleep 0.1
done
[ "$leader" = "\"$dev:8300\"" ] || fail "status/leader answered '$leader', want \"$dev:8300\""

grep -q '^==> Starting muster agent\.\.\.$' "$tmp/dev.log" || fail "no start banner"
grep -q "^         Node name: 'dev-node'$" "$tmp/dev.log" || fail "banner lacks the node name"
grep -q "^      Cluster Addr: $dev (LAN: 8301, WAN: 8302)$" "$tmp/dev.log" || fail "banner lacks the cluster address"
grep -q '^==> Log data will now stream in as it occurs:$' "$tmp/dev.log" || fail "banner lacks its last line"
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z \[INFO\]  agent: ' "$tmp/dev.log" || fail "no Consul-shaped log line"

[ "$(http -X PUT --data-binary 'hello world' "http://$dev:8500/v1/kv/test/greeting")" = "true" ] || fail "kv put"
[ "$(http "http://$dev:8500/v1/kv/test/greeting?raw")" = "hello world" ] || fail "kv get ?raw"
http "http://$dev:8500/v1/kv/test/greeting" | grep -q '"Value":"aGVsbG8gd29ybGQ="' || fail "kv get JSON"
code="$(http -o /dev/null -w '%{http_code}' "http://$dev:8500/v1/kv/test/missing")"
[ "$code" = "404" ] || fail "a missing key answered $code, want 404"

# A second agent on the same address and ports: one clear line, exit 1.
"$muster" agent -dev -bind=$dev -client=$dev >"$tmp/second.out" 2>"$tmp/second.err" &
second_pid=$!
pids+=("$second_pid")
wait_exit "$second_pid" 10
[ "$status" = "1" ] || fail "a second agent on taken ports: exit status $status, want 1"
[ "$(wc -l <"$tmp/second.err")" -eq 1 ] || fail "a second agent said more than one line: $(cat "$tmp/second.err")"
grep -qi "in use" "$tmp/second.err" || fail "the port error does not say the address is in use: $(cat "$tmp/second.err")"

# SIGHUP re-reads the configuration and keeps running.
kill -HUP "$dev_pid"
for _ in $(seq 1 50); do grep -q 'Reloaded configuration' "$tmp/dev.log" && break; sleep 0.1; done
grep -q 'Reloaded configuration: log level DEBUG' "$tmp/dev.log" || fail "SIGHUP did not reload"
[ "$(http "http://$dev:8500/v1/kv/test/greeting?raw")" = "hello world" ] || fail "the agent stopped serving after SIGHUP"

kill -INT "$dev_pid"
wait_exit "$dev_pid" 20
[ "$status" = "0" ] || fail "SIGINT: exit status $status, want 0"
grep -q 'Graceful exit completed' "$tmp/dev.log" || fail "SIGINT did not leave gracefully"

# A bad flag: one line on stderr, exit 1.
"$muster" agent -no-such-flag >"$tmp/bad.out" 2>"$tmp/bad.err"
[ "$?" = "1" ] || fail "a bad flag did not exit 1"
[ "$(wc -l <"$tmp/bad.err")" -eq 1 ] || fail "a bad flag said more than one line"

# ---- a server with a data dir -------------------------------------------------------------
server=127.0.0.72
data="$tmp/data"
start_server() {
  "$muster" agent -server -bootstrap -data-dir="$data" -bind=$server -client=$server -node=s1 "$@" \
    >>"$tmp/server.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
}
start_server
for _ in $(seq 1 100); do [ -s "$data/node-id" ] && break; sleep 0.1; done
node_id="$(cat "$data/node-id")"
[ -n "$node_id" ] || fail "no node-id in the data dir"
for _ in $(seq 1 100); do
  [ "$(http "http://$server:8500/v1/status/leader")" = "\"$server:8300\"" ] && break
  sleep 0.1
done
[ "$(http -X PUT -d kept "http://$server:8500/v1/kv/durable")" = "true" ] || fail "server kv put"
kill -TERM "$server_pid"
wait_exit "$server_pid" 10
[ "$status" = "1" ] || fail "SIGTERM on a server: exit status $status, want 1 (no leave_on_terminate)"
grep -q 'Graceful shutdown disabled' "$tmp/server.log" || fail "SIGTERM did not say graceful shutdown is off"

# Restarted on the same data dir: the same node ID, and the write is still there.
start_server
for _ in $(seq 1 100); do
  [ "$(http "http://$server:8500/v1/kv/durable?raw")" = "kept" ] && break
  sleep 0.1
done
[ "$(http "http://$server:8500/v1/kv/durable?raw")" = "kept" ] || fail "a write did not survive the restart"
[ "$(grep -c "^           Node ID: '$node_id'$" "$tmp/server.log")" = "2" ] || fail "the node ID changed across a restart"
# A second agent on a data dir in use: RocksDB's lock refuses it, in one line, exit 1.
"$muster" agent -server -bootstrap -data-dir="$data" -bind=127.0.0.73 -client=127.0.0.73 \
  >"$tmp/locked.out" 2>"$tmp/locked.err"
[ "$?" = "1" ] || fail "a second agent on a data dir in use did not exit 1"
[ "$(wc -l <"$tmp/locked.err")" -eq 1 ] || fail "the data dir refusal is not one line: $(cat "$tmp/locked.err")"
grep -q "raft store" "$tmp/locked.err" || fail "the data dir refusal does not name the raft store"

# A leave through the HTTP API is answered, then the agent exits 0 (as Consul's).
[ "$(http -o /dev/null -w '%{http_code}' -X PUT "http://$server:8500/v1/agent/leave")" = "200" ] ||
  fail "PUT /v1/agent/leave was not answered 200"
wait_exit "$server_pid" 20
[ "$status" = "0" ] || fail "after PUT /v1/agent/leave: exit status $status, want 0"

# A second SIGINT while leaving exits at once, with 1 (Consul's "Caught second signal").
start_server
for _ in $(seq 1 100); do
  [ "$(http "http://$server:8500/v1/status/leader")" = "\"$server:8300\"" ] && break
  sleep 0.1
done
kill -INT "$server_pid"
sleep 0.2
kill -INT "$server_pid"
wait_exit "$server_pid" 5
[ "$status" = "1" ] || fail "a second SIGINT while leaving: exit status $status, want 1"
grep -q 'Caught second signal, Exiting' "$tmp/server.log" || fail "the second SIGINT was not logged"

# Another -node-id for the same data dir is refused, naming both.
other=11111111-2222-4333-8444-555555555555
"$muster" agent -server -bootstrap -data-dir="$data" -bind=$server -client=$server -node-id=$other \
  >"$tmp/other.out" 2>"$tmp/other.err"
[ "$?" = "1" ] || fail "a different -node-id did not exit 1"
grep -q "$other" "$tmp/other.err" && grep -q "$node_id" "$tmp/other.err" || fail "the refusal does not name both IDs"

# Under --config=asan an agent that exits 1 on purpose could hide a sanitizer report in its
# exit status: look for one in everything the agents printed.
if grep -l 'Sanitizer' "$tmp"/*.log "$tmp"/*.out "$tmp"/*.err 2>/dev/null; then fail "a sanitizer reported"; fi

echo "PASS"
