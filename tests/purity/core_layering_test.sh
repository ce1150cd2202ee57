#!/usr/bin/env bash
# Reads the transitive dependencies of every core library (a genquery output, one label a line)
# and fails if any lies in a layer above the core: the core includes nothing from io/, sim/,
# cmd/, tests/ or bench/ (ARCHITECTURE.md, "Layers").
set -euo pipefail
deps="$1"
[ -s "$deps" ] || { echo "FAIL: no dependency list at $deps" >&2; exit 1; }
if bad=$(grep -E '^//(io|sim|cmd|tests|bench)([/:]|$)' "$deps"); then
  echo "FAIL: core libraries depend on layers above them:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "checked $(grep -c '^//core' "$deps") core targets: no edge to io/, sim/, cmd/, tests/ or bench/"
