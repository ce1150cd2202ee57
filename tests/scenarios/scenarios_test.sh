#!/usr/bin/env bash
# Runs every scenario file here through the sim binary ($1): *.scenario must pass (their
# expectations met) on seeds 1-5 (SCENARIO_SEEDS), must_fail/*.scenario must fail with
# "expectation failed" on the expectation named by their "# must fail: WHAT" line.
set -uo pipefail
sim="$1"
dir="$(dirname "$0")"
runs=0
failed=0
# Seeds 2..SCENARIO_SEEDS too (an expectation still open fails a run: all met when all pass).
seeds="${SCENARIO_SEEDS:-5}"
for file in "$dir"/*.scenario; do
  runs=$((runs + 1))
  more=""
  if out="$("$sim" --scenario "$file" --trace off 2>&1)" && echo "$out" | grep -q "expectations: \([0-9]*\) of \1 met" &&
     more="$("$sim" --scenario "$file" --seed 2 --seeds $((seeds - 1)) --jobs 2 2>&1)" &&
     echo "$more" | grep -q "^$((seeds - 1)) seeds from 2 (.*), 0 failed"; then
    echo "ok   $(basename "$file"): $(echo "$out" | grep -o 'expectations: [0-9]* of [0-9]* met'), seeds 1-$seeds"
  else
    out="$out${more:+
$more}"
    echo "FAIL $(basename "$file")"
    echo "$out" | tail -40
    failed=$((failed + 1))
  fi
done
for file in "$dir"/must_fail/*.scenario; do
  runs=$((runs + 1))
  want="$(sed -n 's/^# must fail: //p' "$file" | head -1)"
  out="$("$sim" --scenario "$file" --trace off 2>&1)"
  status=$?
  if [ -n "$want" ] && [ "$status" -eq 1 ] && echo "$out" | grep -q "expectation failed (line [0-9]*): $want"; then
    echo "ok   must_fail/$(basename "$file"): $(echo "$out" | grep -o "expectation failed.*" | head -1)"
  else
    echo "FAIL must_fail/$(basename "$file"): wanted exit 1 and \"expectation failed (line N): $want\", got exit $status"
    echo "$out" | tail -20
    failed=$((failed + 1))
  fi
done
echo "$runs scenario files run, $failed failed"
[ "$runs" -ge 8 ] && [ "$failed" -eq 0 ]
