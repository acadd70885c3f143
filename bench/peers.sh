#!/usr/bin/env bash
# op against the systems a user would otherwise pick, side by side in one run
# on loopback: every server pinned to core 0, wrk to core 1.
#
#   A plugin route (POST /project/api/project/hello, body {"x":1}):
#     op's hello route (a fresh instance per call)
#     wasmtime serve -O pooling-allocator, a fresh instance per request
#     wasmtime serve, instances reused (up to 128 requests each)
#     Node.js running the same function in a fresh vm context per call
#     Node.js with one shared vm context
#   An ONES call (POST .../team/TeamBnch/tasks/add2, a small JSON body):
#     the upstream called directly (nginx answering a fixed JSON body)
#     nginx as a reverse proxy to it
#     op proxying it (no hook on the API)
#     op with one allowing intercept, and with ten plugins each intercepting
#   One connection: what an intercept adds at p50.
#   Peak memory (VmHWM) of each op process after its load.
#   Then bench/storage.sh (entity storage against the hello route),
#   bench/timers.sh (100 timer task instances), bench/plugin_set.sh (a host
#   with 100 plugins) and criterion's instantiate + call of hello and
#   ts-hello (host/benches/invoke.rs), with their goals.
#
# Prints each figure and its ratio to its peer, checks the goals of the
# performance issue, and writes everything to bench/results/peers.txt.
#
#   bash bench/peers.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
unset RUST_BACKTRACE
export RUST_LOG=warn

need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2"; }; }
need wrk wrk
need nginx nginx-light
need node nodejs
need taskset util-linux
rustup target add wasm32-wasip2 >/dev/null
cargo build --release -p op >/dev/null
TOOLS="$PWD/target/bench-tools"
WASMTIME="$TOOLS/bin/wasmtime"
if ! "$WASMTIME" --version 2>/dev/null | grep -q '^wasmtime 48\.'; then
  echo "installing the wasmtime CLI 48.0.8 into $TOOLS (once; takes minutes)" >&2
  cargo install --root "$TOOLS" wasmtime-cli --version 48.0.8 --locked >/dev/null
fi
(cd bench/wasi-hello && cargo build --release --target wasm32-wasip2 >/dev/null 2>&1)
WASI_HELLO="$PWD/bench/wasi-hello/target/wasm32-wasip2/release/wasi_hello.wasm"

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
on_core0() { taskset -c 0 "$@" & pids+=($!); }

# The upstream (ONES's stand-in) on 18080, and nginx proxying to it on 18084.
mkdir -p "$work/nginx/logs"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
error_log $work/nginx/logs/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  upstream ones { server 127.0.0.1:18080; keepalive 64; }
  server {
    listen 127.0.0.1:18080;
    location / { default_type application/json; return 200 '{"tasks":[{"uuid":"Task0001"}],"bad_tasks":[]}'; }
  }
  server {
    listen 127.0.0.1:18084;
    location / {
      proxy_pass http://ones;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGINX
on_core0 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;'

# op: hello (its route, and the plain proxy) on 18081; one intercepting
# plugin on 18082; ten on 18083.
plugin_copy() { # NAME APP_ID: task-guard with its intercept alone
  mkdir -p "$work/$1/config"
  ln -s "$PWD/example-plugins/task-guard/backend" "$work/$1/backend"
  sed -e '/type: subscribe/,$d' -e "s/app_id: taskgrd1/app_id: $2/" \
    example-plugins/task-guard/config/plugin.yaml > "$work/$1/config/plugin.yaml"
}
plugin_copy guard taskgrd1
ten=()
for i in 0 1 2 3 4 5 6 7 8 9; do plugin_copy "guard$i" "taskgrd$i"; ten+=("$work/guard$i"); done
export OP_TEAM_UUID=TeamBnch
ONES=http://127.0.0.1:18080
on_core0 target/release/op invoke run example-plugins/hello --no-watch --port 18081 --ones-url "$ONES" >/dev/null
op_hello=$!
on_core0 target/release/op invoke run "$work/guard" --no-watch --port 18082 --ones-url "$ONES" >/dev/null
op_one=$!
on_core0 target/release/op invoke run "${ten[@]}" --no-watch --port 18083 --ones-url "$ONES" >/dev/null
op_ten=$!
# TypeScript: the ONES template on 18089; ten copies of it (own app_ids and
# routes) on 18090, for the memory of ten TS plugins loaded. Their install
# (bundle, snapshot, compile) is timed on a cold cache first.
export OP_JS_SDK="$PWD/plugin-sdk-js"
ts_copy() { # NAME APP_ID ROUTE
  mkdir -p "$work/$1/config"
  ln -s "$PWD/example-plugins/ts-hello/backend" "$work/$1/backend"
  sed -e "s/app_id: tshello1/app_id: $2/" -e "s|url: /hello|url: $3|" \
    example-plugins/ts-hello/config/plugin.yaml > "$work/$1/config/plugin.yaml"
}
ts_copy ts tshello1 /hello
ts_ten=()
for i in 0 1 2 3 4 5 6 7 8 9; do ts_copy "ts$i" "tshell0$i" "/hello$i"; ts_ten+=("$work/ts$i"); done
# The operator's install: `op check` of the package (no cache: snapshot,
# componentize, compile); the package holds the bundle, made by `op pack`.
target/release/op pack "$work/ts" -o "$work/ts.opkg" >/dev/null 2>&1
install_start=$(date +%s.%N)
target/release/op check "$work/ts.opkg" >/dev/null
install_s=$(awk -v a="$install_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
on_core0 target/release/op invoke run "$work/ts" --no-watch --port 18089 --ones-url "$ONES" >/dev/null
op_ts=$!
# Ten TS plugins, started once to fill the caches, then again: their memory
# at rest is read after the run (a cold start peaks while it compiles).
target/release/op invoke run "${ts_ten[@]}" --no-watch --port 18090 --ones-url "$ONES" >/dev/null 2>&1 &
warm=$!
for _ in $(seq 1 1200); do curl -s -o /dev/null "http://127.0.0.1:18090/healthz" && break; sleep 0.1; done
kill -INT "$warm"; wait "$warm" || true
on_core0 target/release/op invoke run "${ts_ten[@]}" --no-watch --port 18090 --ones-url "$ONES" >/dev/null
op_ts_ten=$!

# wasmtime serve: fresh instances (18085), reused instances (18086). `-S cli`
# links the WASI CLI interfaces Rust's std imports (op grants the same).
on_core0 "$WASMTIME" serve -S cli -O pooling-allocator --addr 127.0.0.1:18085 "$WASI_HELLO" 2>/dev/null
on_core0 "$WASMTIME" serve -S cli -O pooling-allocator --max-instance-reuse-count 128 --addr 127.0.0.1:18086 "$WASI_HELLO" 2>/dev/null
# Node: fresh vm context per call (18087), one shared context (18088).
on_core0 node bench/node-hello.js 18087 fresh
on_core0 node bench/node-hello.js 18088 shared

for port in 18080 18081 18082 18083 18084 18087 18088 18089 18090; do
  for _ in $(seq 1 1200); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
done
HELLO=/project/api/project/hello
ADD=/project/api/project/team/TeamBnch/tasks/add2
for port in 18081 18085 18086 18087 18088 18089; do
  for _ in $(seq 1 600); do
    curl -sf -X POST -d '{"x":1}' "http://127.0.0.1:$port$HELLO" | grep -q 'hello world' && break
    sleep 0.1
  done
  curl -sf -X POST -d '{"x":1}' "http://127.0.0.1:$port$HELLO" | grep -q '"requestBody":{"x":1}'
done
for port in 18081 18082 18083 18084; do
  curl -sf -X POST -d '{"tasks":[{"summary":"x"}]}' "http://127.0.0.1:$port$ADD" | grep -q Task0001
done

cat > "$work/hello.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"x":1}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat > "$work/add.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"tasks":[{"summary":"Benchmark","project_uuid":"ProjApol"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Ones-User-Id"] = "AliceU01"
wrk.headers["Ones-Auth-Token"] = "alice-token"
LUA

mkdir -p bench/results
out=bench/results/peers.txt
{
  echo "# bench/peers.sh, $(date -u +%Y-%m-%dT%H:%MZ), ${DURATION}s per case, ${CONNECTIONS} connections unless noted;"
  echo "# servers on core 0, wrk on core 1; $(nproc) cores, $(uname -r)"
  printf '%-40s %11s %10s %10s  %s\n' case "requests/s" p50 p99 "vs peer"
} > "$out"

to_us() { # wrk latency (e.g. 812.00us, 1.23ms, 2.00s) → microseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n
  }'
}
declare -A RPS P50 P99
run() { # NAME PORT PATH SCRIPT [CONNECTIONS] [PEER]
  local name="$1" port="$2" path="$3" script="$4" conns="${5:-$CONNECTIONS}" peer="${6:-}"
  local report rps p50 p99 vs=""
  report="$(taskset -c 1 wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s "$work/$script" "http://127.0.0.1:$port$path")"
  if grep -q "Non-2xx" <<<"$report"; then echo "$name: errors during the run" >&2; grep -E "Non-2xx|Socket errors" <<<"$report" >&2; fi
  rps="$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$report")"
  p50="$(to_us "$(awk '$1 == "50%" {print $2}' <<<"$report")")"
  p99="$(to_us "$(awk '$1 == "99%" {print $2}' <<<"$report")")"
  RPS[$name]=$rps; P50[$name]=$p50; P99[$name]=$p99
  if [ -n "$peer" ]; then
    vs="$(awk -v a="$rps" -v b="${RPS[$peer]}" 'BEGIN { printf "%.2fx", a / b }') $peer"
  fi
  printf '%-40s %11s %8sus %8sus  %s\n' "$name" "$rps" "$p50" "$p99" "$vs" | tee -a "$out"
}

# Peers first, so that ratios can name them.
run "wasmtime serve, fresh instances" 18085 "$HELLO" hello.lua
run "wasmtime serve, reused instances" 18086 "$HELLO" hello.lua
run "node, shared vm context" 18088 "$HELLO" hello.lua
run "node, fresh vm context" 18087 "$HELLO" hello.lua
run "op hello route" 18081 "$HELLO" hello.lua "$CONNECTIONS" "wasmtime serve, fresh instances"
run "op ts-hello route (TypeScript)" 18089 "$HELLO" hello.lua "$CONNECTIONS" "node, shared vm context"
run "upstream direct (nginx)" 18080 "$ADD" add.lua
run "nginx reverse proxy" 18084 "$ADD" add.lua "$CONNECTIONS" "upstream direct (nginx)"
run "op proxy, no hook" 18081 "$ADD" add.lua "$CONNECTIONS" "nginx reverse proxy"
run "op proxy, one intercept" 18082 "$ADD" add.lua "$CONNECTIONS" "op proxy, no hook"
run "op proxy, ten intercepts" 18083 "$ADD" add.lua "$CONNECTIONS" "op proxy, no hook"
run "op proxy, no hook, 1 connection" 18081 "$ADD" add.lua 1
run "op proxy, one intercept, 1 connection" 18082 "$ADD" add.lua 1 "op proxy, no hook, 1 connection"

peak() { awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/$1/status"; }
{
  echo
  echo "peak memory (VmHWM): op hello/proxy $(peak "$op_hello"), op one intercept $(peak "$op_one"), op ten intercepts $(peak "$op_ten"), op ts-hello $(peak "$op_ts"), op ten TS plugins $(peak "$op_ts_ten")"
  echo "memory at rest (VmRSS) of op with ten TS plugins, after the run: $(awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$op_ts_ten/status")"
  echo "ts-hello install of its package, no cache (op check: snapshot, componentize, compile): ${install_s}s; component $(stat -c %s "$work"/ts/.op/cache/js/*.wasm | head -1) bytes"
  echo
  echo "goals:"
} | tee -a "$out"
goal() { # TEXT A OP B THRESHOLD: checks A / B (or A - B) against THRESHOLD
  local text="$1" value="$2" cmp="$3" threshold="$4" verdict
  verdict="$(awk -v v="$value" -v t="$threshold" -v c="$cmp" 'BEGIN { ok = (c == ">=") ? v >= t : v <= t; print ok ? "met" : "MISSED" }')"
  # A figure the run did not produce is not a goal met.
  if [ -z "$value" ]; then value="none"; verdict="NOT MEASURED"; fi
  printf '  %-66s %10s %s %-6s %s\n' "$text" "$value" "$cmp" "$threshold" "$verdict" | tee -a "$out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
goal "hello route / wasmtime serve fresh (req/s)" "$(ratio "${RPS[op hello route]}" "${RPS[wasmtime serve, fresh instances]}")" ">=" 3
goal "hello route / wasmtime serve reused (req/s)" "$(ratio "${RPS[op hello route]}" "${RPS[wasmtime serve, reused instances]}")" ">=" 1
goal "hello route p99 / wasmtime serve fresh p99" "$(ratio "${P99[op hello route]}" "${P99[wasmtime serve, fresh instances]}")" "<=" 1
goal "hello route p99 / wasmtime serve reused p99" "$(ratio "${P99[op hello route]}" "${P99[wasmtime serve, reused instances]}")" "<=" 1
goal "hello route / node shared context (req/s)" "$(ratio "${RPS[op hello route]}" "${RPS[node, shared vm context]}")" ">=" 1
goal "hello route / node fresh context (req/s)" "$(ratio "${RPS[op hello route]}" "${RPS[node, fresh vm context]}")" ">=" 10
goal "ts-hello / node fresh context (req/s)" "$(ratio "${RPS[op ts-hello route (TypeScript)]}" "${RPS[node, fresh vm context]}")" ">=" 10
goal "ts-hello / node shared context (req/s)" "$(ratio "${RPS[op ts-hello route (TypeScript)]}" "${RPS[node, shared vm context]}")" ">=" 1
goal "ts-hello / op Rust hello (req/s)" "$(ratio "${RPS[op ts-hello route (TypeScript)]}" "${RPS[op hello route]}")" ">=" 0.6
goal "ts-hello p99 / node shared context p99" "$(ratio "${P99[op ts-hello route (TypeScript)]}" "${P99[node, shared vm context]}")" "<=" 1
goal "ts-hello package install, no cache (s)" "$install_s" "<=" 3
goal "ts-hello component (MB)" "$(stat -c %s "$work"/ts/.op/cache/js/*.wasm | head -1 | awk '{ printf "%.2f", $1 / 1e6 }')" "<=" 2
goal "op RSS with ten TS plugins loaded, at rest (MiB)" "$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$op_ts_ten/status")" "<=" 150
goal "plain proxy / nginx reverse proxy (req/s)" "$(ratio "${RPS[op proxy, no hook]}" "${RPS[nginx reverse proxy]}")" ">=" 0.9
goal "one intercept / plain proxy (req/s)" "$(ratio "${RPS[op proxy, one intercept]}" "${RPS[op proxy, no hook]}")" ">=" 0.7
goal "one intercept, 1 connection: added p50 (us)" "$(awk -v a="${P50[op proxy, one intercept, 1 connection]}" -v b="${P50[op proxy, no hook, 1 connection]}" 'BEGIN { printf "%.0f", a - b }')" "<=" 50
goal "ten intercepts / plain proxy (req/s)" "$(ratio "${RPS[op proxy, ten intercepts]}" "${RPS[op proxy, no hook]}")" ">=" 0.3

# Entity storage and timer tasks: their own servers, after the peers' runs
# (bench/storage.sh, bench/timers.sh; their reports are in bench/results/).
storage_report="$(bash bench/storage.sh "$DURATION" "$CONNECTIONS")"
timers_report="$(bash bench/timers.sh)"
goal "set + get / hello route (req/s), SQLite" "$(sed -n 's|^set + get / hello (req/s): \([0-9.]*\).*|\1|p' <<<"$storage_report")" ">=" 0.5
goal "100-record indexed query p50 (ms)" "$(awk '/^indexed query p50:/ { v = $4 + 0; if ($4 ~ /us$/) v /= 1000; else if ($4 ~ /[0-9]s$/ && $4 !~ /ms$/) v *= 1000; printf "%.2f", v }' <<<"$storage_report")" "<=" 2
goal "100 timers every second: latest report after due (ms)" "$(sed -n 's|^report after due:.* max \([0-9]*\) ms.*|\1|p' <<<"$timers_report")" "<=" 100
goal "100 hourly timers, none due: CPU (% of one core)" "$(sed -n 's|^CPU at rest[^:]*: \([0-9.]*\) %.*|\1|p' <<<"$timers_report")" "<=" 5
# A host with 100 plugins against one with hello alone (bench/plugin_set.sh).
set_report="$(bash bench/plugin_set.sh "$DURATION" "$CONNECTIONS")"
goal "100 plugins: warm start-up (s)" "$(sed -n 's|^start-up warm[^:]*: \([0-9.]*\) s.*|\1|p' <<<"$set_report")" "<=" 2
goal "100 plugins: peak RSS, cold start and serving (MiB)" "$(awk '/^start-up cold/ { c = $(NF-1) } /^peak RSS after/ { sub(/;.*/, ""); w = $(NF-1) + 0 } END { print (c > w ? c : w) }' <<<"$set_report")" "<=" 150
goal "100 plugins: hello route / one-plugin host (req/s)" "$(sed -n 's|^hello route:.*: \([0-9.]*\)x$|\1|p' <<<"$set_report")" ">=" 0.9
goal "100 plugins: plain proxy / one-plugin host (req/s)" "$(sed -n 's|^plain proxy:.*: \([0-9.]*\)x$|\1|p' <<<"$set_report")" ">=" 0.9
# Instantiate + call of one function, without HTTP (criterion medians of
# host/benches/invoke.rs, op pinned to core 0 like the servers above).
cargo bench -p op --bench invoke --no-run >/dev/null 2>&1
invoke_report="$(taskset -c 0 cargo bench -p op --bench invoke -- instantiate 2>/dev/null)"
median_us() { # BENCH NAME → its criterion median in microseconds
  awk -v name="$1" '
    index($0, name) == 1 { found = 1 }
    found && /time:/ {
      s = substr($0, index($0, "[") + 1); split(s, f, " ")
      v = f[3]; u = f[4]
      if (u == "ns") v /= 1000; else if (u == "ms") v *= 1000; else if (u == "s") v *= 1000000
      printf "%.1f", v; exit
    }' <<<"$invoke_report"
}
{
  echo
  echo "instantiate + call (criterion medians): hello $(median_us "hello: instantiate + call") us, ts-hello $(median_us "ts-hello: instantiate + call") us"
} | tee -a "$out"
goal "hello: instantiate + call, criterion median (us)" "$(median_us "hello: instantiate + call")" "<=" 10
goal "ts-hello: instantiate + call, criterion median (us)" "$(median_us "ts-hello: instantiate + call")" "<=" 40
echo "written to $out"
