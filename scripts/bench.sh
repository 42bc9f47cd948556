#!/usr/bin/env bash
# Benchmarks realtime-hub side by side with the stacks it replaces, on this machine, in one run:
# the same generator (hub-bench) and the same chat protocol against each peer.
#
#   scripts/bench.sh [--quick] [--peers hub,minimal,node,django,django-redis] [--runs N]
#
# Peers: hub (release build, SQLite, stores every message), minimal (tokio-tungstenite
# broadcast, bench/peers/minimal), node (ws, bench/peers/node-ws), django and django-redis
# (Channels tutorial consumer on daphne with the in-memory layer / channels_redis, installed
# into target/bench-venv from PyPI). Server pinned to CPU 0, generator to CPU 1 (taskset).
# Each workload runs --runs times (3; 1 with --quick) and the median is reported. Results:
# target/bench/raw.jsonl, target/bench/results.json, the table on stdout, bench/chart.png.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
peers="hub,minimal,node,django,django-redis"
runs=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=true; shift ;;
    --peers) peers=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$runs" ] || { $quick && runs=1 || runs=3; }
out=target/bench
mkdir -p "$out"
: > "$out/raw.jsonl"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

pin_server=() pin_gen=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 0) pin_gen=(taskset -c 1)
fi

echo "bench: building (release)"
cargo build --release --quiet --bin realtime-hub --bin hub-bench
want() { [[ ",$peers," == *",$1,"* ]]; }
if want minimal; then
  cargo build --release --quiet --manifest-path bench/peers/minimal/Cargo.toml --target-dir target/peers
fi
if want node; then
  (cd bench/peers/node-ws && { [ -d node_modules/ws ] || npm ci --no-audit --no-fund --silent; })
fi
venv=target/bench-venv
if want django || want django-redis; then
  if [ ! -x "$venv/bin/daphne" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q -r bench/peers/django/requirements.txt \
      || { echo "bench: could not install Django Channels; skipping the django peers" >&2; peers=${peers//django-redis/}; peers=${peers//django/}; }
  fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hub-bench.XXXXXX")
server_pid="" redis_pid=""
stop_server() {
  # A killed process's status is not an error here.
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  server_pid="" redis_pid=""
  return 0
}
trap 'stop_server; rm -rf "$tmp"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Starts one peer on a free port (pinned); sets port and server_pid.
start_server() {
  port=$(free_port)
  case "$1" in
    hub)
      rm -rf "$tmp/hub" && mkdir -p "$tmp/hub"
      HUB_BIND=127.0.0.1:$port DATABASE_URL=sqlite://$tmp/hub/hub.db JWT_SECRET=bench RUST_LOG=warn \
      HUB_RATE_PER_SEC=1000000 HUB_MAX_CONN_PER_IP=1000000 HUB_MAX_CONN_PER_USER=1000000 HUB_CHAT_HISTORY=0 \
        "${pin_server[@]}" target/release/realtime-hub serve >/dev/null &
      ;;
    minimal) BIND=127.0.0.1:$port "${pin_server[@]}" target/peers/release/minimal-peer >/dev/null & ;;
    node) BIND=127.0.0.1:$port "${pin_server[@]}" node bench/peers/node-ws/server.js >/dev/null & ;;
    django|django-redis)
      local layer=memory
      if [ "$1" = django-redis ]; then
        local rport; rport=$(free_port)
        "${pin_server[@]}" redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
        redis_pid=$!
        layer=redis
        export REDIS_URL=redis://127.0.0.1:$rport/0
      fi
      (cd bench/peers/django && CHANNEL_LAYER=$layer exec "${pin_server[@]}" "../../../$venv/bin/daphne" \
        -b 127.0.0.1 -p "$port" chatproj.asgi:application >/dev/null 2>&1) &
      ;;
  esac
  server_pid=$!
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: $1 did not start" >&2
  return 1
}

gen() { "${pin_gen[@]}" target/release/hub-bench --url "ws://127.0.0.1:$port" --server-pid "$server_pid" --peer "$peer" "$@"; }

if $quick; then
  a=(fanout --connect-concurrency 50 --subscribers 100 --messages 5000 --timeout 5)
  b=(fanout --connect-concurrency 50 --subscribers 1000 --messages 500 --timeout 5)
  c=(fanout --connect-concurrency 50 --subscribers 1000 --rate 20 --duration 3 --timeout 8)
  d=(idle --connect-concurrency 50 --connections 1000)
  e=(pairs --connect-concurrency 50 --pairs 200 --rate 5 --duration 3)
else
  a=(fanout --connect-concurrency 50 --subscribers 100 --messages 20000 --timeout 30)
  b=(fanout --connect-concurrency 50 --subscribers 1000 --messages 2000 --timeout 30)
  c=(fanout --connect-concurrency 50 --subscribers 1000 --rate 20 --duration 10 --timeout 25)
  d=(idle --connect-concurrency 50 --connections 5000)
  e=(pairs --connect-concurrency 50 --pairs 1000 --rate 5 --duration 10)
fi

run_workload() {  # key, args...
  local key=$1; shift
  for run in $(seq "$runs"); do
    start_server "$peer" || return 0
    if line=$(gen "$@" 2>>"$out/generator.log"); then
      echo "{\"key\":\"$key\",\"run\":$run,\"report\":$line}" >> "$out/raw.jsonl"
      echo "bench: $peer $key run $run: $(python3 bench/summarize.py --line "$line")"
    else
      echo "bench: $peer $key run $run failed (see $out/generator.log)" >&2
    fi
    stop_server
  done
}

started=$(date +%s)
for peer in ${peers//,/ }; do
  run_workload a_fanout_100 "${a[@]}"
  run_workload b_fanout_1000 "${b[@]}"
  run_workload c_latency_20 "${c[@]}"
  run_workload d_idle "${d[@]}"
  run_workload e_pairs_chat "${e[@]}"
  if [ "$peer" = hub ]; then
    # The same pairs over the hub's own guitar protocol (sessions over REST, chord_change).
    token=$(JWT_SECRET=bench target/release/realtime-hub token --user-id 1 --name bench --ttl 1h)
    for run in $(seq "$runs"); do
      start_server hub
      if line=$(gen "${e[@]}" --protocol guitar --token "$token" 2>>"$out/generator.log"); then
        echo "{\"key\":\"e_pairs_guitar\",\"run\":$run,\"report\":$line}" >> "$out/raw.jsonl"
      fi
      stop_server
    done
  fi
done
echo "bench: measured in $(( $(date +%s) - started )) s"

py=python3
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import matplotlib' 2>/dev/null && py=$venv/bin/python
"$py" bench/summarize.py "$out/raw.jsonl" "$out/results.json" bench/chart.png
