#!/usr/bin/env bash
# Timer tasks at scale: one `op serve` with 100 ticker instances ticking
# every second (reports counted, lateness after due, CPU), then the same
# with hourly timers (CPU at rest). The benchmark is host/benches/timers.rs,
# built with the bench (release) profile.
# Usage: bash bench/timers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
cargo bench -p op --bench timers 2>&1 | tee bench/results/timers.txt
