#!/usr/bin/env bash
# make test's swarm of whole-agent simulations: SIM_SWARM_SEEDS swarm seeds (default 500, every
# parameter drawn from the seed, 20 s of faults then liveness each) over SIM_SWARM_JOBS
# processes (default 2), then the determinism check (each of 20 seeds run twice, fingerprints
# compared). The long mode is the same with more seeds:
#   bazel test //tests/agent_sim:swarm_test --test_env=SIM_SWARM_SEEDS=100000 --test_timeout=36000
# or directly: bazel-out/k8-fastbuild/bin/cmd/sim/sim --swarm --seeds 100000 --jobs 2
set -euo pipefail
sim="$1"
seeds="${SIM_SWARM_SEEDS:-500}"
first="${SIM_SWARM_SEED:-1}"
jobs="${SIM_SWARM_JOBS:-2}"

out="$("$sim" --swarm --seed "$first" --seeds "$seeds" --jobs "$jobs")" || { echo "$out"; exit 1; }
echo "$out" | tail -2
echo "$out" | grep -q "^${seeds} seeds from ${first} (swarm), 0 failed" || { echo "FAIL: not ${seeds} seeds passed"; exit 1; }

det="$("$sim" --swarm --seed "$first" --seeds 20 --check-determinism)" || { echo "$det"; exit 1; }
echo "$det" | tail -2
echo "$det" | grep -q "^20 seeds from ${first} (swarm, each run twice), 0 failed" || { echo "FAIL: determinism"; exit 1; }
echo PASS
