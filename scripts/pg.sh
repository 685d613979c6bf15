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

# A second private cluster that takes TLS connections only, for tests of TLS to PostgreSQL
# (tests/pg_tls.rs). It makes with openssl, in its dir: a CA, a server certificate that CA
# signed for DNS:localhost only (not for 127.0.0.1), a client certificate for the role
# wharf_cert (which logs in by certificate), and a second, unrelated CA. pg_hba: `hostnossl
# … reject` first (plain TCP is refused), then hostssl with scram-sha-256 for wharf (password:
# random, set through psql's stdin) and cert for wharf_cert; the Unix socket (setup) trusts.
# Exports
#   WHARF_TEST_TLS_DATABASE_URL       postgres://wharf:PASSWORD@localhost:PORT/wharf_tls (no ssl* parameters)
#   WHARF_TEST_TLS_CERT_DATABASE_URL  postgres://wharf_cert@localhost:PORT/wharf_tls_cert
#   WHARF_TEST_TLS_CA                 the CA that signed the server's (and the client's) certificate
#   WHARF_TEST_TLS_OTHER_CA           a CA that signed nothing of this server
#   WHARF_TEST_TLS_CLIENT_CERT, WHARF_TEST_TLS_CLIENT_KEY  wharf_cert's certificate and key
# Call pg_tls_stop when done.
pg_tls_start() {
  local bin owner user tls password
  bin=$(pg_bindir) || { echo "pg: cannot install PostgreSQL" >&2; return 1; }
  PG_TLS_DIR=$(mktemp -d /tmp/wharf-pgtls.XXXXXX)
  PG_TLS_PORT=$(pg_free_port)
  PG_TLS_BIN=$bin
  export PG_TLS_DIR PG_TLS_PORT PG_TLS_BIN
  owner=()
  user=$(id -un)
  if [ "$(id -u)" = 0 ]; then
    user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    owner=(runuser -u "$user" --)
  fi
  tls=$PG_TLS_DIR/tls
  mkdir -p "$tls"
  _pg_tls_certs "$tls" >"$PG_TLS_DIR/openssl.log" 2>&1 \
    || { cat "$PG_TLS_DIR/openssl.log" >&2; echo "pg: cannot make the test certificates" >&2; return 1; }
  chmod 0755 "$tls"
  chmod 0644 "$tls"/*.crt
  chmod 0600 "$tls"/*.key
  chown -R "$user" "$PG_TLS_DIR"
  # The client's files stay readable by whoever runs the tests (root reads them anyway).
  "${owner[@]}" "$bin/initdb" -D "$PG_TLS_DIR/data" -A trust -U wharf -E UTF8 --no-locale >"$PG_TLS_DIR/initdb.log" 2>&1 \
    || { cat "$PG_TLS_DIR/initdb.log" >&2; return 1; }
  "${owner[@]}" tee "$PG_TLS_DIR/data/pg_hba.conf" >/dev/null <<HBA
# TYPE     DATABASE        USER        ADDRESS       METHOD
local      all             all                       trust
hostnossl  all             all         all           reject
hostssl    wharf_tls_cert  wharf_cert  127.0.0.1/32  cert
hostssl    wharf_tls_cert  wharf_cert  ::1/128       cert
hostssl    wharf_tls       wharf       127.0.0.1/32  scram-sha-256
hostssl    wharf_tls       wharf       ::1/128       scram-sha-256
HBA
  "${owner[@]}" tee -a "$PG_TLS_DIR/data/postgresql.conf" >/dev/null <<CONF
ssl = on
ssl_cert_file = '$tls/server.crt'
ssl_key_file = '$tls/server.key'
ssl_ca_file = '$tls/ca.crt'
password_encryption = 'scram-sha-256'
CONF
  "${owner[@]}" "$bin/pg_ctl" -D "$PG_TLS_DIR/data" -l "$PG_TLS_DIR/server.log" -w -t 60 start \
    -o "-p $PG_TLS_PORT -k $PG_TLS_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100" >/dev/null \
    || { cat "$PG_TLS_DIR/server.log" >&2; return 1; }
  password=$(openssl rand -hex 16)
  # Over the Unix socket (trust); the password through stdin, never in argv.
  "$bin/psql" -h "$PG_TLS_DIR" -p "$PG_TLS_PORT" -U wharf -d postgres -v ON_ERROR_STOP=1 -q >/dev/null <<SQL \
    || { echo "pg: cannot set up the TLS cluster" >&2; return 1; }
ALTER ROLE wharf PASSWORD '$password';
CREATE DATABASE wharf_tls;
CREATE ROLE wharf_cert LOGIN;
CREATE DATABASE wharf_tls_cert OWNER wharf_cert;
SQL
  export WHARF_TEST_TLS_DATABASE_URL="postgres://wharf:$password@localhost:$PG_TLS_PORT/wharf_tls"
  export WHARF_TEST_TLS_CERT_DATABASE_URL="postgres://wharf_cert@localhost:$PG_TLS_PORT/wharf_tls_cert"
  export WHARF_TEST_TLS_CA="$tls/ca.crt"
  export WHARF_TEST_TLS_OTHER_CA="$tls/other-ca.crt"
  export WHARF_TEST_TLS_CLIENT_CERT="$tls/client.crt"
  export WHARF_TEST_TLS_CLIENT_KEY="$tls/client.key"
  echo "pg: private TLS-only PostgreSQL on localhost:$PG_TLS_PORT ($PG_TLS_DIR)" >&2
}

# The certificates of pg_tls_start, into DIR: EC P-256 keys, valid two days.
_pg_tls_certs() {
  local dir=$1 name
  for name in ca other-ca; do
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -days 2 \
      -subj "/CN=wharf test $name" -keyout "$dir/$name.key" -out "$dir/$name.crt" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
  done
  # server: DNS:localhost only; client: CN = the role it logs in as.
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" || return 1
  printf '%s\n' "subjectAltName=DNS:localhost" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -sha256 -extfile "$dir/server.ext" -out "$dir/server.crt" || return 1
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=wharf_cert" \
    -keyout "$dir/client.key" -out "$dir/client.csr" || return 1
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" >"$dir/client.ext"
  openssl x509 -req -in "$dir/client.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -sha256 -extfile "$dir/client.ext" -out "$dir/client.crt" || return 1
  rm -f "$dir"/*.csr "$dir"/*.ext "$dir"/*.srl "$dir/ca.key" "$dir/other-ca.key"
}

pg_tls_stop() {
  [ -n "${PG_TLS_DIR:-}" ] || return 0
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$(stat -c %U "$PG_TLS_DIR")" -- "$PG_TLS_BIN/pg_ctl" -D "$PG_TLS_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  else
    "$PG_TLS_BIN/pg_ctl" -D "$PG_TLS_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_TLS_DIR"
  PG_TLS_DIR=
}
