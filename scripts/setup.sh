#!/usr/bin/env bash
# Installs what muster needs to build and test on Debian 12, and nothing else.
# Idempotent: when every package is already installed it does no network work at all.
set -euo pipefail

# Build toolchain and libraries (see ../shared/design/build-offline.md), then the real
# clients the conformance tests drive (python-consul, dig), and what the HTTP server benchmark
# compares and loads with (libh2o-dev, wrk).
PACKAGES=(
  bazel-bootstrap bazel-platforms g++ make
  protobuf-compiler libprotobuf-dev libabsl-dev libuv1-dev librocksdb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libhttp-parser-dev libldns-dev libre2-dev
  libh2o-dev libssl-dev wrk libcurl4-openssl-dev zlib1g-dev
  python3 python3-consul dnsutils
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing missing packages: ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: apt-get not found. muster's set-up expects Debian 12; install these packages by hand: ${missing[*]}" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "setup: not root and no sudo; run as root, or install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
if ! $SUDO apt-get install -y -q "${missing[@]}"; then
  echo "setup: apt-get install failed for: ${missing[*]} (is the Debian package mirror reachable?)" >&2
  exit 1
fi
