#!/usr/bin/env bash
# Simulates a Laravel job reporting progress: publishes sample_job_progress messages on the
# Redis channel {prefix}broadcast, the way the Laravel app of seeds/004 does, at a steady pace.
#
#   scripts/publish-progress.sh [--channel jobs:1] [--total 20] [--title "Sample job"]
#                               [--interval 0.2] [--redis-url redis://127.0.0.1:6379/] [--prefix ""]
#
# Watch it at http://127.0.0.1:8000/broadcast/progress/#token=$(realtime-hub token --user-id 1
# --name you --channel jobs:1), with the hub started with REDIS_URL set.
set -euo pipefail

channel=jobs:1
total=20
title="Sample job"
interval=0.2
redis_url=${REDIS_URL:-redis://127.0.0.1:6379/}
prefix=${REDIS_PREFIX:-}

while [ $# -gt 0 ]; do
  case "$1" in
    --channel) channel=$2; shift 2 ;;
    --total) total=$2; shift 2 ;;
    --title) title=$2; shift 2 ;;
    --interval) interval=$2; shift 2 ;;
    --redis-url) redis_url=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

command -v redis-cli >/dev/null || { echo "redis-cli is required (apt-get install redis-tools)" >&2; exit 1; }
# JSON-escape the title for the payload.
title_json=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$title")

for cursor in $(seq 0 "$total"); do
  payload="{\"channel\":\"$channel\",\"type\":\"message\",\"data\":{\"info\":{\"type\":\"sample_job_progress\",\"title\":$title_json,\"detail\":{\"cursor\":$cursor,\"total\":$total}}}}"
  receivers=$(redis-cli -u "$redis_url" PUBLISH "${prefix}broadcast" "$payload")
  echo "progress $cursor/$total -> ${prefix}broadcast (subscribers: $receivers)"
  if [ "$cursor" -lt "$total" ]; then sleep "$interval"; fi
done
