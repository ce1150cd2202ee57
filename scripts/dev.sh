#!/usr/bin/env bash
# Starts a single-node development agent in the foreground (as `consul agent -dev`):
# a server that bootstraps itself, in-memory-friendly data dir, HTTP on 127.0.0.1:8500,
# DNS on 127.0.0.1:8600.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! bazel query //cmd:muster >/dev/null 2>&1; then
  bazel build //... >/dev/null
  echo "dev: the muster agent binary (//cmd:muster) is not built yet: it lands with the server agent issue." >&2
  echo "dev: everything that exists built fine; run 'make test' to run the tests." >&2
  exit 2
fi
bazel build //cmd:muster
exec bazel-bin/cmd/muster agent -dev "$@"
