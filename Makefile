# The two commands: `make dev` (set up, then run a single-node dev agent in the foreground)
# and `make test` (set up, then build and run every test). Both are safe to repeat.
.PHONY: setup test dev build asan bench

setup:
	@bash scripts/setup.sh

build: setup
	bazel build //...

test: setup
	@bash scripts/test.sh

asan: setup
	@bash scripts/test.sh --config=asan

dev: setup
	@bash scripts/dev.sh

bench: setup
	bazel run //bench:sim_bench
