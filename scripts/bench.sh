#!/usr/bin/env bash
# Benchmarks realtime-hub side by side with what people would otherwise deploy, on this machine,
# in one run: the same generator (hub-bench) and the same chat protocol against every peer.
#
#   scripts/bench.sh [--quick] [--peers hub,minimal,node,django,django-redis] [--runs N]
#                    [--only a,b,c,d,e,f,g,h]
#
# Peers: hub (release build; SQLite; stores every chat message), minimal (tokio-tungstenite
# broadcast, bench/peers/minimal, the near-limit reference), node (ws, bench/peers/node-ws),
# django and django-redis (the Channels tutorial's consumer on daphne with the in-memory layer /
# channels_redis and a throw-away redis-server; installed into target/bench-venv from PyPI).
# Each server runs pinned to CPU 0 and the generator to CPU 1 (taskset). Each workload runs
# --runs times (3; 1 with --quick, which also uses smaller sizes) on a freshly started server,
# the peers taking turns within each round, and the medians are reported. (a) and (b) also
# run saturated, as (a+) and (b+): four publishers with a window of 256, so that the server's
# core rather than one publisher's round trip sets the rate (hub, minimal and node only); every
# as-fast-as-possible run reports deliveries per server CPU-second and is flagged when the
# server stayed under 95 % of its core. The hub alone also
# runs its own dialects: (e') guitar pairs, (f) broadcast through a throw-away Redis and (g)
# direct messages with read receipts. (h) runs one room over two nodes, subscribers split
# between them and a publisher on each, beside one node of the same stack and size: the hub
# with a throw-away PostgreSQL and Redis, django-redis as daphne processes sharing one
# channels_redis (the other peers have no multi-node form). --only picks workloads by letter
# (e includes e'). Every run is bounded in time; every process started here is stopped by its
# PID. Results: target/bench/raw.jsonl (every run), target/bench/results.json and results.md
# (medians, ratios), target/bench/chart.png (copied to bench/chart.png after a full run of
# every peer and workload); the tables are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
peers="hub,minimal,node,django,django-redis"
runs=""
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=true; shift ;;
    --peers) peers=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$runs" ]; then
  if $quick; then runs=1; else runs=3; fi
fi
want() { [[ ",$peers," == *",$1,"* ]]; }
# Whether workload $1 (a letter) is to run: all of them unless --only names some.
picked() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
for w in ${only//,/ }; do
  case "$w" in
    a|b|c|d|e|f|g|h) ;;
    *) echo "bench: unknown workload $w in --only (a to h)" >&2; exit 2 ;;
  esac
done
out=target/bench
venv=target/bench-venv
mkdir -p "$out"
: > "$out/raw.jsonl"
: > "$out/runs.log"
# 5,000 idle connections need more descriptors than the usual 1,024 on both sides.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
  echo "bench: only $(ulimit -n) file descriptors; the idle workload may see refusals" >&2
fi

pin_server=() pin_gen=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 0) pin_gen=(taskset -c 1)
else
  echo "bench: fewer than 2 cores or no taskset: server and generator share the CPUs" >&2
fi

# --- Build and install what the chosen peers need ------------------------------------------
started=$(date +%s)
# The commit being built, taken now: another commit may land while the benchmark runs.
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src bench/hub-bench Cargo.toml Cargo.lock 2>/dev/null || echo '+uncommitted')"
echo "bench: building hub-bench${peers:+ and the peers} (release)"
cargo build --release --quiet -p hub-bench
if want hub; then cargo build --release --quiet --bin realtime-hub; fi
if want minimal; then
  cargo build --release --quiet --manifest-path bench/peers/minimal/Cargo.toml --target-dir target/peers
fi
if want node; then
  (cd bench/peers/node-ws && { [ -d node_modules/ws ] || npm ci --no-audit --no-fund --silent; })
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import daphne, channels, channels_redis, matplotlib' 2>/dev/null; then
  echo "bench: installing Django Channels, daphne, channels_redis and matplotlib into $venv"
  python3 -m venv "$venv"
  if ! "$venv/bin/pip" install --quiet -r bench/peers/django/requirements.txt; then
    echo "bench: could not install the Python packages: no django peers, no chart" >&2
    peers=$(echo ",$peers," | sed 's/,django-redis,/,/; s/,django,/,/; s/^,//; s/,$//')
  fi
fi
if want django-redis && ! command -v redis-server >/dev/null; then
  echo "bench: no redis-server (apt-get install redis-server): skipping django-redis" >&2
  peers=$(echo ",$peers," | sed 's/,django-redis,/,/; s/^,//; s/,$//')
fi
# (h) runs the hub as it scales out: PostgreSQL shared by the nodes, Redis between them.
# Its tools are found beside initdb (through a symlink in PATH, the directory they all are in).
pg_bin=$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -n1 || echo /nonexistent/initdb)")")
h_peers=""
if picked h; then
  want hub && h_peers=hub
  if want hub && { ! command -v redis-server >/dev/null || [ ! -x "$pg_bin/postgres" ] \
      || [ ! -x "$pg_bin/createdb" ] || [ ! -x "$pg_bin/pg_isready" ]; }; then
    echo "bench: (h) needs redis-server and PostgreSQL (initdb, postgres, createdb, pg_isready): skipping the hub in (h)" >&2
    h_peers=""
  fi
  want django-redis && h_peers="${h_peers:+$h_peers,}django-redis"
fi
echo "bench: built in $(( $(date +%s) - started )) s"

# --- Starting and stopping servers, by PID ----------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hub-bench.XXXXXX")
# PostgreSQL runs as its own user when this runs as root: it must reach its directory.
chmod 755 "$tmp"
server_pid="" redis_pid="" port="" redis_url=""
server_pids=() ports=()
pg_pid="" pg_port="" pg_db=""

stop_pid() {  # pid: TERM, then KILL after 5 s; a stopped process's status is not an error here.
  local pid=$1
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_server() {
  local pid
  for pid in "${server_pids[@]}"; do stop_pid "$pid"; done
  stop_pid "$redis_pid"
  if [ -n "$pg_db" ]; then
    "$pg_bin/dropdb" -h 127.0.0.1 -p "$pg_port" -U postgres "$pg_db" >/dev/null 2>&1 || true
  fi
  server_pid="" redis_pid="" redis_url="" pg_db="" server_pids=() ports=()
}

# --- A throw-away PostgreSQL for (h), started once, on core 0 with the servers ---------------
as_postgres() {  # PostgreSQL refuses to run as root; its tools then run as the postgres user.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
start_postgres() {
  [ -n "$pg_pid" ] && return 0
  pg_port=$(free_port)
  mkdir -p "$tmp/pg" "$tmp/pgsock"
  [ "$(id -u)" = 0 ] && chown postgres "$tmp/pg" "$tmp/pgsock"
  as_postgres "$pg_bin/initdb" -D "$tmp/pg" -A trust -U postgres >"$tmp/initdb.log" 2>&1 \
    || { cat "$tmp/initdb.log" >&2; rm -rf "$tmp/pg" "$tmp/pgsock"; return 1; }
  # fsync and synchronous_commit stay on: the hub commits every chat message before it is
  # published, and a benchmark of stored messages must pay for storing them. setpriv (not
  # runuser) execs, so $! is the postmaster's own PID.
  local user=()
  [ "$(id -u)" = 0 ] && user=(setpriv --reuid=postgres --regid=postgres --init-groups)
  "${pin_server[@]}" "${user[@]}" "$pg_bin/postgres" -D "$tmp/pg" -p "$pg_port" -k "$tmp/pgsock" \
    -c listen_addresses=127.0.0.1 -c max_connections=100 >"$tmp/pgsock/pg.log" 2>&1 &
  pg_pid=$!
  for _ in $(seq 100); do
    "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && return 0
    kill -0 "$pg_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: PostgreSQL did not start; its log:" >&2
  tail -n 20 "$tmp/pgsock/pg.log" >&2 || true
  stop_postgres
  rm -rf "$tmp/pg" "$tmp/pgsock"
  return 1
}
stop_postgres() {  # by PID: SIGINT is PostgreSQL's fast shutdown; KILL after 10 s.
  [ -n "$pg_pid" ] || return 0
  kill -INT "$pg_pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pg_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pg_pid" 2>/dev/null || true
  wait "$pg_pid" 2>/dev/null || true
  pg_pid=""
}
trap 'stop_server; stop_postgres; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A throw-away redis-server on a free port, on the servers' core; sets redis_pid and redis_url.
start_redis() {
  local rport; rport=$(free_port)
  "${pin_server[@]}" redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no \
    >"$tmp/redis.log" 2>&1 &
  redis_pid=$!
  redis_url=redis://127.0.0.1:$rport/0
  for _ in $(seq 100); do listening "$rport" && break; sleep 0.05; done
}

# Starts a fresh server for one peer on free ports: $nodes processes (1 unless set; hub and
# django-redis only), sharing what the peer shares between nodes. With pg=true the hub stores
# into a fresh database of the throw-away PostgreSQL instead of SQLite. Sets ports and
# server_pids (port and server_pid: the first node's).
start_server() {
  local peer=$1 n=${nodes:-1} i log
  case "$peer" in
    hub)
      rm -rf "$tmp/hub" && mkdir -p "$tmp/hub"
      local db="sqlite://$tmp/hub/hub.db" hub_redis=()
      if [ "${with_redis:-false}" = true ] || [ "$n" -gt 1 ]; then
        start_redis
        hub_redis=("REDIS_URL=$redis_url")
      fi
      if [ "${pg:-false}" = true ]; then
        start_postgres || { stop_server; return 1; }
        pg_db=bench_$(date +%s%N)
        "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres "$pg_db" \
          || { stop_server; return 1; }
        db="postgres://postgres@127.0.0.1:$pg_port/$pg_db"
      fi
      # HUB_SESSION_QUEUE: (a+) keeps up to 1,024 messages in flight in one room (four
      # publishers, window 256), which every member's queue must hold, as the reference's
      # unbounded queues do; the default 256 evicts readers that are only behind a burst.
      for i in $(seq "$n"); do
        ports+=("$(free_port)")
        log="$tmp/$peer-$i.log"
        env "${hub_redis[@]}" HUB_BIND=127.0.0.1:${ports[-1]} DATABASE_URL="$db" JWT_SECRET=bench-secret-for-the-hub-benchmark-runs RUST_LOG=warn \
        HUB_RATE_PER_SEC=1000000 HUB_MAX_CONN_PER_IP=100000 HUB_MAX_CONN_PER_USER=100000 \
        HUB_CHAT_HISTORY=0 HUB_SESSION_QUEUE=4096 \
          "${pin_server[@]}" target/release/realtime-hub serve >"$log" 2>&1 &
        server_pids+=($!)
      done
      ;;
    minimal)
      ports+=("$(free_port)")
      BIND=127.0.0.1:${ports[0]} "${pin_server[@]}" target/peers/release/minimal-peer >"$tmp/$peer-1.log" 2>&1 &
      server_pids+=($!)
      ;;
    node)
      ports+=("$(free_port)")
      BIND=127.0.0.1:${ports[0]} "${pin_server[@]}" node bench/peers/node-ws/server.js >"$tmp/$peer-1.log" 2>&1 &
      server_pids+=($!)
      ;;
    django|django-redis)
      local layer=(CHANNEL_LAYER=memory)
      if [ "$peer" = django-redis ]; then
        # The nodes share one channel layer: channels_redis on one throw-away Redis.
        start_redis
        layer=(CHANNEL_LAYER=redis "REDIS_URL=$redis_url")
      fi
      for i in $(seq "$n"); do
        ports+=("$(free_port)")
        # PYTHONPATH rather than cd: $! must be the server's own PID, not a subshell's.
        env "${layer[@]}" PYTHONPATH="$PWD/bench/peers/django" \
          "${pin_server[@]}" "$venv/bin/daphne" -b 127.0.0.1 -p "${ports[-1]}" chatproj.asgi:application \
          >"$tmp/$peer-$i.log" 2>&1 &
        server_pids+=($!)
      done
      ;;
  esac
  port=${ports[0]} server_pid=${server_pids[0]}
  for i in "${!ports[@]}"; do
    if ! up "$peer" "${ports[$i]}" "${server_pids[$i]}"; then
      echo "bench: $peer (node $((i + 1)) of $n) did not start; its log:" >&2
      tail -n 20 "$tmp/$peer-$((i + 1)).log" >&2 || true
      stop_server
      return 1
    fi
  done
}

# Waits up to 15 s for a server to answer on its port; args: peer, port, pid.
up() {
  for _ in $(seq 300); do
    if [ "$1" = hub ]; then
      curl -sf "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && return 0
    else
      listening "$2" && return 0
    fi
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# --- Workloads ------------------------------------------------------------------------------
if $quick; then
  a=(fanout --subscribers 100 --messages 5000 --timeout 3)
  a_sat=(fanout --subscribers 100 --publishers 4 --window 256 --messages 10000 --timeout 3)
  b=(fanout --subscribers 1000 --messages 300 --timeout 3)
  b_sat=(fanout --subscribers 1000 --publishers 4 --window 256 --messages 600 --timeout 3)
  c=(fanout --subscribers 1000 --rate 20 --duration 2 --timeout 3)
  d=(idle --connections 1000 --settle 1)
  e=(pairs --pairs 200 --rate 5 --duration 2 --drain 1)
  f=(fanout --subscribers 1000 --messages 500 --timeout 5)
  g=(messages --pairs 100 --rate 2 --duration 2 --drain 1)
  h_rate=(fanout --subscribers 500 --publishers 2 --messages 300 --timeout 3)
  h_lat=(fanout --subscribers 500 --publishers 2 --rate 20 --duration 2 --timeout 3)
else
  a=(fanout --subscribers 100 --messages 20000 --timeout 15)
  a_sat=(fanout --subscribers 100 --publishers 4 --window 256 --messages 40000 --timeout 15)
  b=(fanout --subscribers 1000 --messages 2000 --timeout 15)
  b_sat=(fanout --subscribers 1000 --publishers 4 --window 256 --messages 4000 --timeout 15)
  c=(fanout --subscribers 1000 --rate 20 --duration 10 --timeout 20)
  d=(idle --connections 5000)
  e=(pairs --pairs 1000 --rate 5 --duration 10 --drain 5)
  f=(fanout --subscribers 1000 --messages 2000 --timeout 15)
  g=(messages --pairs 500 --rate 2 --duration 10 --drain 5)
  h_rate=(fanout --subscribers 1000 --publishers 2 --messages 2000 --timeout 15)
  h_lat=(fanout --subscribers 1000 --publishers 2 --rate 20 --duration 10 --timeout 20)
fi

# Runs one workload once on a fresh server (of $nodes nodes); args: peer, key, run number,
# generator args (@REDIS_URL@ among them becomes the URL of the Redis server started with the
# hub).
run_once() {
  local peer=$1 key=$2 run=$3 line; shift 3
  start_server "$peer" || return 0
  local args=() a p
  for a in "$@"; do args+=("${a//@REDIS_URL@/${redis_url:-}}"); done
  for p in "${ports[@]}"; do args+=(--url "ws://127.0.0.1:$p"); done
  for p in "${server_pids[@]}"; do args+=(--server-pid "$p"); done
  set -- "${args[@]}"
  # hub-bench bounds every phase itself; `timeout` is only the backstop for a hung peer.
  if timeout -k 5 300 "${pin_gen[@]}" target/release/hub-bench \
      --peer "$peer" "$@" --connect-concurrency 50 \
      >"$tmp/gen.out" 2>>"$out/runs.log"; then
    cat "$tmp/gen.out" >> "$out/runs.log"
    line=$(tail -n 1 "$tmp/gen.out")
    echo "{\"key\":\"$key\",\"run\":$run,\"report\":$line}" >> "$out/raw.jsonl"
    echo "bench: $peer $key run $run: $(python3 bench/summarize.py --line "$line")"
  else
    echo "bench: $peer $key run $run failed (see $out/runs.log)" >&2
  fi
  stop_server
}

# Runs one workload --runs times for every peer, the peers taking turns within each round, so
# that a machine whose speed drifts during the run (shared hosts do) shifts every peer alike
# rather than whichever peer happened to run last; args: key, generator args.
run_workload() {
  local key=$1 run peer; shift
  for run in $(seq "$runs"); do
    for peer in ${only_peers:-${peers//,/ }}; do
      run_once "$peer" "$key" "$run" "$@"
    done
  done
}

# (h): one room over two nodes beside one node of the same stack, for every peer that scales
# out; args: key prefix, generator args. Within a peer's turn the one- and two-node runs swap
# order every round, so neither always runs on a machine warmed by the other.
run_nodes() {
  local key=$1 run peer n order suffix; shift
  for run in $(seq "$runs"); do
    order="1 2"
    [ $((run % 2)) = 0 ] && order="2 1"
    for peer in ${h_peers//,/ }; do
      for n in $order; do
        suffix=1node
        [ "$n" = 1 ] || suffix=${n}nodes
        if [ "$peer" = hub ]; then
          nodes=$n pg=true with_redis=true run_once hub "${key}_$suffix" "$run" "$@"
        else
          nodes=$n run_once "$peer" "${key}_$suffix" "$run" "$@"
        fi
      done
    done
  done
}

measuring=$(date +%s)
# (a+) and (b+): the same rooms with the server, not one publisher's round trip, setting the
# rate; for the peers that can be saturated within the bounds (Django cannot: 100x slower).
sat_peers=""
for peer in hub minimal node; do want "$peer" && sat_peers+="$peer "; done
if picked a; then
  run_workload a_fanout_100 "${a[@]}"
  if [ -n "$sat_peers" ]; then only_peers=$sat_peers run_workload a_saturated_100 "${a_sat[@]}"; fi
fi
if picked b; then
  run_workload b_fanout_1000 "${b[@]}"
  if [ -n "$sat_peers" ]; then only_peers=$sat_peers run_workload b_saturated_1000 "${b_sat[@]}"; fi
fi
if picked c; then run_workload c_latency_20 "${c[@]}"; fi
if picked d; then run_workload d_idle "${d[@]}"; fi
if picked e; then run_workload e_pairs_chat "${e[@]}"; fi
if want hub && picked e; then
  # The same pairs over the hub's own guitar dialect: sessions created over REST, chord_change.
  token=$(JWT_SECRET=bench-secret-for-the-hub-benchmark-runs target/release/realtime-hub token --user-id 1 --name bench --ttl 1h)
  for run in $(seq "$runs"); do
    run_once hub e_pairs_guitar "$run" "${e[@]}" --protocol guitar --token "$token"
  done
fi
if want hub && picked f; then
  # The broadcast dialect (seeds/004) as Laravel uses it: PUBLISH to Redis, the hub fans out to
  # the channel's browsers. The publisher is a browser on the channel too; its echoes keep the
  # window, as in (a) and (b).
  if command -v redis-server >/dev/null; then
    btoken=$(JWT_SECRET=bench-secret-for-the-hub-benchmark-runs target/release/realtime-hub token --user-id 1 --name bench \
      --channel bench --ttl 1h)
    for run in $(seq "$runs"); do
      with_redis=true run_once hub f_broadcast_redis "$run" "${f[@]}" --protocol broadcast \
        --token "$btoken" --redis-url @REDIS_URL@ --channel bench
    done
  else
    echo "bench: no redis-server (apt-get install redis-server): skipping (f)" >&2
  fi
fi
if want hub && picked g; then
  # The messages dialect (seeds/000): messages posted over REST, read receipts over the socket.
  for run in $(seq "$runs"); do
    run_once hub g_messages "$run" "${g[@]}" --jwt-secret bench-secret-for-the-hub-benchmark-runs
  done
fi
if picked h && [ -n "$h_peers" ]; then
  run_nodes h_fanout "${h_rate[@]}"
  run_nodes h_latency "${h_lat[@]}"
fi
stop_postgres
echo "bench: measured in $(( $(date +%s) - measuring )) s"

# --- Medians, ratios, chart -----------------------------------------------------------------
py=python3
"$venv/bin/python" -c 'import matplotlib' 2>/dev/null && py=$venv/bin/python
cat > "$out/meta.json" <<EOF
{"quick": $quick, "runs": $runs, "peers": "$peers", "only": "$only", "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "commit": "$commit",
 "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//; s/"//g')", "cores": $(nproc),
 "pinned": $([ ${#pin_server[@]} -gt 0 ] && echo true || echo false),
 "rustc": "$(rustc --version)", "node": "$(node --version 2>/dev/null || echo none)",
 "python": "$("$py" --version 2>&1)"}
EOF
"$py" bench/summarize.py "$out/raw.jsonl" "$out/meta.json" "$out/results.json" "$out/results.md" "$out/chart.png"
# The committed chart shows a full run of every peer; a quick or partial run keeps its own.
if ! $quick && [ -z "$only" ] && [ "$peers" = "hub,minimal,node,django,django-redis" ] && [ -f "$out/chart.png" ]; then
  cp "$out/chart.png" bench/chart.png
  echo "bench: chart copied to bench/chart.png"
fi
echo "bench: done in $(( $(date +%s) - started )) s"
