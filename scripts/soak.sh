#!/usr/bin/env bash
# The soak: two hub nodes (release build) on a throw-away Redis and PostgreSQL, thousands of
# connections across the four dialects for many minutes, with churn (1 % reconnect every
# second), steady traffic, a stalled reader every minute and one node restarted half way.
# Reports memory, descriptors, rooms, p99 latency and errors over time (target/soak/soak.csv,
# soak.json) and as a chart (docs/soak.svg for a full run, target/soak/soak.svg otherwise), and
# fails if a node's memory or descriptors do not return to their baseline (±10 %) after the
# clients leave, or if any client saw a message lost or repeated.
#
#   scripts/soak.sh [--quick] [--minutes N] [--connections N]
#
# The default is 10 minutes with 10,000 connections; --quick is 2 minutes with 1,000. Every
# server listens on 127.0.0.1 only and is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=10
connections=10000
chart=docs/soak.svg
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) minutes=2 connections=1000 chart=target/soak/soak.svg; shift ;;
    --minutes) minutes=$2; chart=target/soak/soak.svg; shift 2 ;;
    --connections) connections=$2; chart=target/soak/soak.svg; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "soak: unknown option $1" >&2; exit 2 ;;
  esac
done

missing() { echo "soak: $1 is missing (apt-get install -y redis-server postgresql nodejs)" >&2; exit 1; }
command -v node >/dev/null || missing node
. scripts/lib/services.sh
hub_services_init
start_redis
start_postgres

# Thousands of sockets on both sides need more descriptors than the usual 1,024.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --bin realtime-hub
(cd bench/soak && { [ -d node_modules/ws ] || npm ci --no-audit --no-fund --silent; })
mkdir -p target/soak
node bench/soak/soak.mjs --hub-bin target/release/realtime-hub \
  --redis-url "$TEST_REDIS_URL" --database-url "$TEST_DATABASE_URL" \
  --minutes "$minutes" --connections "$connections" --out target/soak --chart "$chart"
