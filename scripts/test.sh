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
. scripts/lib/services.sh

missing() {
  if [ "$CI" = true ]; then
    echo "test.sh: $1 is missing and CI=true: failing" >&2
    exit 1
  fi
  echo "test.sh: $1 is missing: its tests will be skipped" >&2
}

hub_services_init
[ -z "${TEST_REDIS_URL:-}" ] && start_redis
# Durability does not matter for throw-away test data.
[ -z "${TEST_DATABASE_URL:-}" ] && start_postgres "-c fsync=off"

# --- Rust tests --------------------------------------------------------------------------
cargo test --workspace --all-targets

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

# --- Pusher clients: pusher-js, Laravel Echo and the pusher server SDK ----------------------
if command -v node >/dev/null; then
  cargo build --bin realtime-hub
  (cd tests/pusher-client && { [ -d node_modules/pusher-js ] || npm ci --no-audit --no-fund --silent; } && node --test --test-concurrency=1)
else
  missing node
fi

# --- The messaging app's React hook against the hub (vitest + jsdom) ----------------------
if command -v node >/dev/null; then
  cargo build --bin realtime-hub
  (cd examples/nextjs-hook && { [ -d node_modules/vitest ] || npm ci --no-audit --no-fund; } && npm test)
fi
