#!/usr/bin/env bash
# How soon every replica of `op serve` on the PostgreSQL store serves a
# change: three replicas (real processes) on a throw-away PostgreSQL, 50
# upgrades made on one of them, the time from that replica's answer until
# each of the two others serves the new version (p50/p99).
# Usage: bash bench/propagation.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
# OP_PG_TEST_LOG=warn,op=debug also prints replica B's reload timings.
cargo test -p op "$@" --test serve_postgres -- --ignored --nocapture measure_change_propagation 2>&1 \
  | grep -E "change propagation|test result|^B: "
