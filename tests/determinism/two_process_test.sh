#!/usr/bin/env bash
# Runs a fingerprint program in two separate processes for several seeds; the outputs must match.
set -euo pipefail
program="$1"
for seed in 1 2 3 4 5; do
  a=$("$program" "$seed")
  b=$("$program" "$seed")
  if [ "$a" != "$b" ]; then
    echo "FAIL: seed $seed: process 1 printed $a, process 2 printed $b" >&2
    exit 1
  fi
  echo "seed $seed: $a in both processes"
done
