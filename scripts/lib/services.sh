# Throw-away redis-server and PostgreSQL on free loopback ports in a temporary directory, for
# scripts that need them (test.sh, soak.sh). Source it, then call start_redis / start_postgres;
# stop_services (set as the EXIT trap by hub_services_init) stops them by PID and removes the
# directory. Each start function exports its URL, or calls `missing` with what is absent.
#
#   hub_services_init           # creates $svc_tmp and sets the EXIT trap
#   start_redis                 # exports TEST_REDIS_URL
#   start_postgres              # exports TEST_DATABASE_URL

svc_tmp=""
redis_pid=""
pg_data=""
pg_ctl=""

hub_services_init() {
  svc_tmp=$(mktemp -d "${TMPDIR:-/tmp}/hub-svc.XXXXXX")
  chmod 755 "$svc_tmp"
  trap stop_services EXIT
  # A signal must end the script through EXIT, or the services outlive it.
  trap 'exit 130' INT TERM
}

as_postgres() {
  # PostgreSQL refuses to run as root; run its tools as the postgres user then.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_services() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  [ -n "$pg_data" ] && as_postgres "$pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1
  [ -n "$svc_tmp" ] && rm -rf "$svc_tmp"
  return 0
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_redis() {
  if ! command -v redis-server >/dev/null; then
    missing redis-server
    return 0
  fi
  local port
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$svc_tmp" \
    --logfile "$svc_tmp/redis.log" &
  redis_pid=$!
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -p "$port" ping >/dev/null || { cat "$svc_tmp/redis.log"; exit 1; }
  export TEST_REDIS_URL="redis://127.0.0.1:$port/"
  echo "redis-server on port $port (pid $redis_pid)"
}

# $1: extra server settings (e.g. "-c fsync=off" where durability does not matter).
start_postgres() {
  local pg_bin port
  pg_bin=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -n1 || echo /nonexistent/initdb)")
  pg_ctl="$pg_bin/pg_ctl"
  if [ ! -x "$pg_bin/initdb" ] || [ ! -x "$pg_ctl" ]; then
    missing "PostgreSQL (initdb/pg_ctl)"
    return 0
  fi
  port=$(free_port)
  mkdir -p "$svc_tmp/pg" "$svc_tmp/pgsock"
  [ "$(id -u)" = 0 ] && chown postgres "$svc_tmp/pg" "$svc_tmp/pgsock"
  as_postgres "$pg_bin/initdb" -D "$svc_tmp/pg" -A trust -U postgres >"$svc_tmp/initdb.log" 2>&1 \
    || { cat "$svc_tmp/initdb.log"; exit 1; }
  pg_data="$svc_tmp/pg"
  as_postgres "$pg_ctl" -D "$pg_data" -w -l "$svc_tmp/pgsock/pg.log" \
    -o "-p $port -k $svc_tmp/pgsock -c listen_addresses=127.0.0.1 -c max_connections=300 ${1:-}" \
    start >/dev/null || { cat "$svc_tmp/pgsock/pg.log"; exit 1; }
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "PostgreSQL on port $port ($pg_data)"
}
