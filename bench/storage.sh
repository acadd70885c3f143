#!/usr/bin/env bash
# Entity storage against the hello route, in one run on loopback (op pinned
# to core 0, wrk to core 1), with op's embedded SQLite store:
#   the hello route (POST /hello)                       the reference
#   a route that does one set and one get (POST /kv/K)   goal >= 0.5x hello
#   a 100-record indexed query, one connection          goal p50 <= 2 ms
# Both plugins are served by one `op invoke run` (the keeper test guest's
# records in a fresh .op/storage). Writes bench/results/storage.txt.
#
#   bash bench/storage.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
unset RUST_BACKTRACE
export RUST_LOG=warn
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -p op >/dev/null 2>&1
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/keeper/config"
cp test-plugins/guests/keeper/config/plugin.yaml "$work/keeper/config/"
ln -s "$PWD/test-plugins/guests/keeper/backend" "$work/keeper/backend"
taskset -c 0 target/release/op invoke run example-plugins/hello "$work/keeper" --no-watch --port 18095 >/dev/null 2>"$work/op.log" &
pids+=($!)
BASE=http://127.0.0.1:18095/project/api/project
for _ in $(seq 1 600); do
  curl -sf -X POST -d '{"x":1}' "$BASE/hello" | grep -q 'hello world' && break
  sleep 0.5
done
# 250 records for the query: half of them in `eng`, ages 0..49.
batch="$(awk 'BEGIN { printf "["; for (i = 0; i < 250; i++) { if (i) printf ","; printf "{\"key\":\"q%03d\",\"value\":{\"dept\":\"%s\",\"age\":%d}}", i, (i % 2 ? "ops" : "eng"), i % 50 }; printf "]" }')"
curl -sf -X POST -H 'content-type: application/json' -d "$batch" "$BASE/batch/employee" >/dev/null

cat > "$work/hello.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"x":1}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat > "$work/kv.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"dept":"eng","name":"bench","age":41}'
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/project/api/project/kv/k" .. (counter % 1000))
end
LUA
cat > "$work/query.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"index":"by_age","partition":["eng"],"limit":100}'
wrk.headers["Content-Type"] = "application/json"
LUA
curl -sf -X POST -H 'content-type: application/json' -d '{"index":"by_age","partition":["eng"],"limit":100}' "$BASE/query/employee" \
  | grep -o '"key"' | wc -l | xargs -I{} echo "the query answers {} records"

declare -A RPS P50
run() { # NAME PATH SCRIPT CONNECTIONS
  local report
  report="$(taskset -c 1 wrk -t1 -c"$4" -d"${DURATION}s" --latency -s "$work/$3" "http://127.0.0.1:18095/project/api/project$2")"
  RPS[$1]="$(awk '/Requests\/sec/ {print $2}' <<<"$report")"
  P50[$1]="$(awk '$1 == "50%" {print $2}' <<<"$report")"
  printf '%-40s %10s req/s  p50 %s\n' "$1" "${RPS[$1]}" "${P50[$1]}"
}
{
  echo "# bash bench/storage.sh $DURATION $CONNECTIONS; $(nproc) cores, $(uname -r)"
  run "hello route" /hello hello.lua "$CONNECTIONS"
  run "set + get route" /kv/k0 kv.lua "$CONNECTIONS"
  run "100-record indexed query, 1 connection" /query/employee query.lua 1
  ratio="$(awk -v a="${RPS[set + get route]}" -v b="${RPS[hello route]}" 'BEGIN { printf "%.2f", a / b }')"
  echo "set + get / hello (req/s): $ratio (goal >= 0.5)"
  echo "indexed query p50: ${P50[100-record indexed query, 1 connection]} (goal <= 2ms)"
} | tee bench/results/storage.txt
