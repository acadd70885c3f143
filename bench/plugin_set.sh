#!/usr/bin/env bash
# What a large plugin set costs: one `op serve` with 100 installed plugins
# (50 hello variants with a route each, 50 task-guard variants with an
# intercept each, each its own component bytes) against a host with hello
# alone: start-up cold and warm, peak and resting memory, and requests/s of
# the hello route and the plain proxy. The benchmark is
# host/benches/plugin_set.rs, built with the bench (release) profile.
# Usage: bash bench/plugin_set.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
mkdir -p bench/results
OP_BENCH_SECONDS="${1:-10}" OP_BENCH_CONNECTIONS="${2:-32}" \
  cargo bench -p op --bench plugin_set 2>&1 | grep -v '^ *\(Compiling\|Finished\|Running\)' | tee bench/results/plugin_set.txt
