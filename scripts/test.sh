#!/usr/bin/env bash
# Builds and runs every test. Prints Bazel's per-target summary and, last, one line
# "N passed, N failed" counted from it. Exit status is non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# --keep_going: one broken target must not hide the results of all the others.
# In CI every test runs again: a result cached from an earlier run would hide a flaky test.
extra=()
if [ "${CI:-}" = "true" ]; then extra+=(--nocache_test_results); fi
bazel test //... --keep_going --test_summary=short "${extra[@]}" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log" || true)
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE|FAILED TO BUILD)' "$log" || true)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # The build broke before any test ran: count that as a failure, never as a pass.
  failed=1
fi
echo "${passed} passed, ${failed} failed"
exit "$status"
