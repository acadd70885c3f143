#!/usr/bin/env bash
# How soon every replica of `op serve` on the PostgreSQL store serves a
# change: three replicas (real processes) on a throw-away PostgreSQL, 50
# upgrades made on one of them, the time from that replica's answer until
# each of the two others serves the new version (p50/p99). The benchmark is
# host/benches/propagation.rs, built with the bench (release) profile.
# Usage: bash bench/propagation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
# OP_PG_TEST_LOG=warn,op=debug also prints replica B's reload timings.
cargo bench -p op --bench propagation
