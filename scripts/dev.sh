#!/usr/bin/env bash
# Starts a single-node development agent in the foreground (as `consul agent -dev`): a server
# that bootstraps itself, keeps everything in memory, and serves the HTTP API on
# 127.0.0.1:8500 (`curl 127.0.0.1:8500/v1/status/leader`). Ctrl-C leaves and stops it. Extra
# arguments go to `muster agent` (`make dev ARGS=-log-level=info`).
set -euo pipefail
cd "$(dirname "$0")/.."

bazel build //cmd:muster
# The binary of this build's configuration (bazel-bin may point at another one, e.g. asan's).
muster="$(bazel info bazel-bin)/cmd/muster"
exec "$muster" agent -dev "$@"
