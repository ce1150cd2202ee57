#!/usr/bin/env bash
# Runs one integration scenario: /usr/bin/python3 <scenario.py> <muster binary>, with the
# scenario's folder on PYTHONPATH for cluster.py (stdlib only, no pip).
set -euo pipefail
scenario="$1"
binary="$2"
# No .pyc next to the sources (runfiles link back into the tree).
export PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$(dirname "$scenario")${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 -u "$scenario" "$binary"
