#!/usr/bin/env bash
# What an allowing `intercept` adds to an ONES call, side by side in one run:
#   1. nginx answering a fixed JSON body, called directly (the reference);
#   2. op proxying the call to it, no hook on the API;
#   3. op with one plugin whose `intercept` allows the call.
# The servers are pinned to core 0, wrk to core 1. Prints requests/s, p50 and
# p99 for each, and writes them to bench/results/proxy.txt.
#
#   bash bench/proxy.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
unset RUST_BACKTRACE

need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2"; }; }
need wrk wrk
need nginx nginx-light
rustup target add wasm32-wasip2 >/dev/null
cargo build --release -p op >/dev/null

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# 1. nginx: the stand-in for ONES.
mkdir -p "$work/nginx/logs"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
error_log $work/nginx/logs/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:18080;
    location / { default_type application/json; return 200 '{"tasks":[{"uuid":"Task0001"}],"bad_tasks":[]}'; }
  }
}
NGINX
taskset -c 0 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

# 2. op with a plugin that hooks nothing (hello), and 3. op with task-guard's
# intercept alone (its subscribe removed, so only the intercept is measured).
mkdir -p "$work/guard/config"
ln -s "$PWD/example-plugins/task-guard/backend" "$work/guard/backend"
sed '/type: subscribe/,$d' example-plugins/task-guard/config/plugin.yaml > "$work/guard/config/plugin.yaml"
export OP_TEAM_UUID=TeamBnch RUST_LOG=warn
taskset -c 0 target/release/op invoke run example-plugins/hello --port 18081 --ones-url http://127.0.0.1:18080 >/dev/null &
pids+=($!)
taskset -c 0 target/release/op invoke run "$work/guard" --port 18082 --ones-url http://127.0.0.1:18080 >/dev/null &
pids+=($!)
for port in 18080 18081 18082; do
  for _ in $(seq 1 600); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
done

cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"tasks":[{"summary":"Benchmark","project_uuid":"ProjApol"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Ones-User-Id"] = "AliceU01"
wrk.headers["Ones-Auth-Token"] = "alice-token"
LUA
path="/project/api/project/team/TeamBnch/tasks/add2"
# The intercept must allow the call (and ONES's answer come back).
curl -sf -X POST -d '{"tasks":[{"summary":"x"}]}' "http://127.0.0.1:18082$path" | grep -q Task0001

mkdir -p bench/results
out=bench/results/proxy.txt
{
  echo "# bench/proxy.sh, $(date -u +%Y-%m-%dT%H:%MZ), ${DURATION}s, ${CONNECTIONS} connections, servers on core 0, wrk on core 1"
  printf '%-28s %12s %10s %10s\n' case "requests/s" p50 p99
} > "$out"
run() {
  local name="$1" port="$2"
  local report
  report="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port$path")"
  local rps p50 p99
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$report")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$report")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$report")"
  printf '%-28s %12s %10s %10s\n' "$name" "$rps" "$p50" "$p99" | tee -a "$out"
  echo "$rps" > "$work/$name.rps"
}
run "nginx direct" 18080
run "op proxy, no hook" 18081
run "op proxy, one intercept" 18082
ratio() { awk -v a="$(cat "$work/$1.rps")" -v b="$(cat "$work/$2.rps")" 'BEGIN { printf "%.2f", a / b }'; }
{
  echo "op proxy / nginx direct: $(ratio "op proxy, no hook" "nginx direct")"
  echo "one intercept / op proxy: $(ratio "op proxy, one intercept" "op proxy, no hook")"
} | tee -a "$out"
