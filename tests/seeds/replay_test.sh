#!/usr/bin/env bash
# Replays every known-bad seed in tests/seeds/*.seed through the sim binary ($1): each line
# (`bazel run //cmd:sim -- ARGS`, as a failure prints it) must pass now; and every
# tests/seeds/*.scenario file.
set -uo pipefail
sim="$1"
dir="$(dirname "$0")"
runs=0
failed=0
for file in "$dir"/*.seed; do
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    args="${line#bazel run //cmd:sim -- }"
    if [ "$args" = "$line" ]; then
      echo "FAIL $(basename "$file"): not a sim command line: $line"
      failed=$((failed + 1))
      continue
    fi
    runs=$((runs + 1))
    # shellcheck disable=SC2086  # the flags are words without spaces
    if out="$("$sim" $args --trace off 2>&1)"; then
      echo "ok   $(basename "$file"): $args"
    else
      echo "FAIL $(basename "$file"): $args"
      echo "$out" | tail -40
      failed=$((failed + 1))
    fi
  done < "$file"
done
# A scenario file here (tests/scenarios/README.md: the format) is a known-bad run kept as its
# schedule: it must pass, expectations included.
for file in "$dir"/*.scenario; do
  [ -e "$file" ] || continue
  runs=$((runs + 1))
  if out="$("$sim" --scenario "$file" --trace off 2>&1)"; then
    echo "ok   $(basename "$file")"
  else
    echo "FAIL $(basename "$file")"
    echo "$out" | tail -40
    failed=$((failed + 1))
  fi
done
echo "$runs known-bad runs replayed, $failed failed"
[ "$runs" -gt 0 ] && [ "$failed" -eq 0 ]
