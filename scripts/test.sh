#!/usr/bin/env bash
# Runs every test of realtime-hub: unit and integration tests (cargo) and the browser tests
# (node --test, headless Chromium). Starts a throw-away redis-server and PostgreSQL on free
# ports in a temporary directory unless TEST_REDIS_URL / TEST_DATABASE_URL are given, and stops
# them (by PID) at the end. Without the binaries those tests are skipped with a printed reason,
# except under CI=true, where a missing service fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

CI=${CI:-false}
export CI
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hub-test.XXXXXX")
chmod 755 "$tmp"
redis_pid=""
pg_data=""

as_postgres() {
  # PostgreSQL refuses to run as root; run its tools as the postgres user then.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  [ -n "$pg_data" ] && as_postgres "$pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

missing() {
  if [ "$CI" = true ]; then
    echo "test.sh: $1 is missing and CI=true: failing" >&2
    exit 1
  fi
  echo "test.sh: $1 is missing: its tests will be skipped" >&2
}

# --- Redis -------------------------------------------------------------------------------
if [ -z "${TEST_REDIS_URL:-}" ]; then
  if command -v redis-server >/dev/null; then
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
      --logfile "$tmp/redis.log" &
    redis_pid=$!
    for _ in $(seq 100); do
      redis-cli -p "$port" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    redis-cli -p "$port" ping >/dev/null || { cat "$tmp/redis.log"; exit 1; }
    export TEST_REDIS_URL="redis://127.0.0.1:$port/"
    echo "test.sh: redis-server on port $port (pid $redis_pid)"
  else
    missing redis-server
  fi
fi

# --- PostgreSQL --------------------------------------------------------------------------
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  pg_bin=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -n1 || echo /nonexistent/initdb)")
  pg_ctl="$pg_bin/pg_ctl"
  if [ -x "$pg_bin/initdb" ] && [ -x "$pg_ctl" ]; then
    port=$(free_port)
    mkdir -p "$tmp/pg" "$tmp/pgsock"
    [ "$(id -u)" = 0 ] && chown postgres "$tmp/pg" "$tmp/pgsock"
    as_postgres "$pg_bin/initdb" -D "$tmp/pg" -A trust -U postgres >"$tmp/initdb.log" 2>&1 \
      || { cat "$tmp/initdb.log"; exit 1; }
    pg_data="$tmp/pg"
    as_postgres "$pg_ctl" -D "$pg_data" -w -l "$tmp/pgsock/pg.log" \
      -o "-p $port -k $tmp/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
      start >/dev/null || { cat "$tmp/pgsock/pg.log"; exit 1; }
    export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "test.sh: PostgreSQL on port $port ($pg_data)"
  else
    missing "PostgreSQL (initdb/pg_ctl)"
  fi
fi

# --- Rust tests --------------------------------------------------------------------------
cargo test --all-targets

# --- Browser tests -----------------------------------------------------------------------
chromium_bin=${CHROMIUM:-/usr/bin/chromium}
if ! command -v node >/dev/null; then
  missing node
elif [ ! -x "$chromium_bin" ]; then
  missing "chromium ($chromium_bin)"
else
  cargo build --bin realtime-hub
  (cd tests/browser && { { [ -d node_modules/playwright-core ] && [ -d node_modules/ws ]; } || npm ci --no-audit --no-fund --silent; })
  (cd tests/browser && CHROMIUM="$chromium_bin" node --test --test-concurrency=1)
fi

# --- Mattermost clients: the official @mattermost/client, and the seed's own client ---------
if command -v node >/dev/null; then
  cargo build --bin realtime-hub
  (cd tests/mattermost-client && { [ -d node_modules/@mattermost/client ] || npm ci --no-audit --no-fund --silent; } && node --test --test-concurrency=1)
else
  missing node
fi

# --- The messaging app's React hook against the hub (vitest + jsdom) ----------------------
if command -v node >/dev/null; then
  cargo build --bin realtime-hub
  (cd examples/nextjs-hook && { [ -d node_modules/vitest ] || npm ci --no-audit --no-fund; } && npm test)
fi
