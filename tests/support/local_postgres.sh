#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server in a project-local folder, for the demo and the tests.
#   local_postgres.sh start DIR   initdb DIR (if new), start on a free loopback port, create
#                                 database "starstream"; prints the DSN on stdout
#   local_postgres.sh stop DIR    stop the server (the folder stays; delete it to drop all)
# initdb refuses to run as root, so as root the server runs as the "postgres" system user.
# Tests trade durability for speed (fsync=off); LOCAL_PG_DURABLE=1 keeps fsync on (benchmarks).
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
cmd=${1:?usage: local_postgres.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: local_postgres.sh start|stop DIR}")

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # A restarted server keeps its port, so that clients can reconnect (outage tests).
    if [ -s "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(free_port); fi
    durability="-c fsync=off -c full_page_writes=off"
    [ "${LOCAL_PG_DURABLE:-0}" = 1 ] && durability=""
    # LOCAL_PG_OPTIONS: more server settings, e.g. "-c shared_preload_libraries=pg_stat_statements" to profile.
    durability="$durability ${LOCAL_PG_OPTIONS:-}"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $durability -c max_wal_size=2GB" start >/dev/null \
      || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAtc \
      "SELECT 1 FROM pg_database WHERE datname = 'starstream'" | grep -q 1 \
      || as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE starstream" >/dev/null
    echo "host=127.0.0.1 port=$port dbname=starstream user=postgres"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  *)
    echo "usage: local_postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
