#!/usr/bin/env bash
# Fails when one of our .proto files declares a map field: protobuf serializes maps in a
# per-instance hash order, so equal messages would get different bytes (proto/state.proto says
# what to write instead).
set -euo pipefail
files=$(find -L . -path '*proto/*.proto' | sort)
[ -n "$files" ] || { echo "FAIL: no .proto files in the runfiles" >&2; exit 1; }
if grep -nE '^[^/]*\bmap[[:space:]]*<' $files; then
  echo "FAIL: map fields above; use a repeated key/value message written in key order" >&2
  exit 1
fi
echo "checked $(echo "$files" | wc -l) proto files: no map fields"
