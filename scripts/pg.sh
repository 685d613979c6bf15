# shellcheck shell=bash
# A private, throw-away PostgreSQL cluster for tests and benchmarks: initdb into a temp dir,
# a free port, trust auth, unix socket in the same dir. Sourced by scripts/test and scripts/bench.
# Installs the `postgresql` package with apt only when its binaries are missing.

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    echo "pg: PostgreSQL binaries missing; installing the postgresql package with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2 || return 1
    d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$d"
}

pg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts the cluster and exports WHARF_TEST_DATABASE_URL. Call pg_stop when done.
pg_start() {
  local bin owner
  bin=$(pg_bindir) || { echo "pg: cannot install PostgreSQL" >&2; return 1; }
  PG_DIR=$(mktemp -d /tmp/wharf-pg.XXXXXX)
  PG_PORT=$(pg_free_port)
  owner=()
  # initdb and postgres refuse to run as root: run them as the postgres (or nobody) user.
  if [ "$(id -u)" = 0 ]; then
    local user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    chown "$user" "$PG_DIR"
    owner=(runuser -u "$user" --)
  fi
  "${owner[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U wharf -E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  "${owner[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off} -c max_connections=200 -c shared_buffers=256MB" >/dev/null \
    || { cat "$PG_DIR/server.log" >&2; return 1; }
  PG_BIN=$bin
  export PG_DIR PG_PORT PG_BIN
  "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U wharf -d postgres -qc "CREATE DATABASE wharf_test" >/dev/null
  export WHARF_TEST_DATABASE_URL="postgres://wharf@127.0.0.1:$PG_PORT/wharf_test"
  echo "pg: private PostgreSQL on 127.0.0.1:$PG_PORT ($PG_DIR)" >&2
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$(stat -c %U "$PG_DIR")" -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  else
    "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_DIR"
  PG_DIR=
}
