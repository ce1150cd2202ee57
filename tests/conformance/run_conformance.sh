#!/usr/bin/env bash
# Runs one conformance test file: /usr/bin/python3 <test.py> <muster binary>, with the test's
# folder on PYTHONPATH for dev_agent.py. python-consul is Debian's python3-consul 0.7.1.
set -euo pipefail
test_file="$1"
binary="$2"
# No .pyc next to the sources (runfiles link back into the tree).
export PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$(dirname "$test_file")${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 -u "$test_file" "$binary"
