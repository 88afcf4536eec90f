#!/usr/bin/env bash
# Runs a command with throwaway PostgreSQL and Redis servers on loopback, for the tests of
# the scale-out path; both are stopped and their data removed when the command ends.
set -euo pipefail

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
work=$(mktemp -d /tmp/dubbing-studio-services.XXXXXX)
chmod 755 "$work"
pg_port=$((20000 + RANDOM % 20000))
redis_port=$((pg_port + 1))

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

cleanup() {
  [ -n "${PG_BIN:-}" ] && [ -d "$work/pg" ] && as_postgres "$PG_BIN/pg_ctl -D $work/pg -m immediate stop" >/dev/null 2>&1 || true
  [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "$PG_BIN" ]; then
  mkdir -p "$work/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$work/pg"
  as_postgres "$PG_BIN/initdb -D $work/pg -A trust -U postgres" >/dev/null
  as_postgres "$PG_BIN/pg_ctl -D $work/pg -l $work/pg/server.log -w -o \"-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1\" start" >/dev/null
  export DUBBING_STUDIO_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$pg_port/postgres"
  export DUBBING_STUDIO_TEST_POSTGRES_DATA="$work/pg"  # its postmaster.pid: bench/scale.py pins it
fi
if command -v redis-server >/dev/null; then
  redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --daemonize yes --pidfile "$work/redis.pid" --dir "$work" >/dev/null
  export DUBBING_STUDIO_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
  export DUBBING_STUDIO_TEST_REDIS_PID_FILE="$work/redis.pid"
fi

"$@"
