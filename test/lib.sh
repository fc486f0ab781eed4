#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster for tests, benchmarks and the demo.
# Source this file; it defines the cluster_* helpers and mt_psql.
# As root the server runs as the postgres user (initdb refuses root).

# MT_PG_PREFIX: a private copy of the PostgreSQL tree (see scripts/private-pg.sh)
# so that several checkouts can build, install and test side by side.
MT_PGBIN=${MT_PGBIN:-${MT_PG_PREFIX:-}/usr/lib/postgresql/15/bin}
export PG_CONFIG=$MT_PGBIN/pg_config
MT_ROOT=${MT_ROOT:-/tmp/multitenant-test}
MT_PORT=${MT_PORT:-54329}
export PGHOST=$MT_ROOT/sock PGPORT=$MT_PORT PGUSER=postgres
export PATH=$MT_PGBIN:$PATH
MT_PGDATA=$MT_ROOT/data
MT_LOG=$MT_ROOT/server.log

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cluster_init() {
    local preload=${1:-multitenant}
    cluster_stop_quiet
    rm -rf "$MT_ROOT"
    mkdir -p "$MT_ROOT/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$MT_ROOT"
    as_pg "$MT_PGBIN/initdb" -D "$MT_PGDATA" -U postgres --auth=trust \
        --data-checksums -E UTF8 --locale=C >"$MT_ROOT/initdb.log" 2>&1 || {
        cat "$MT_ROOT/initdb.log"; return 1; }
    cat >>"$MT_PGDATA/postgresql.conf" <<CONF
port = $MT_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$MT_ROOT/sock'
max_connections = 200
shared_preload_libraries = '$preload'
max_worker_processes = 16
max_parallel_workers_per_gather = 2
log_min_messages = warning
log_min_error_statement = error
fsync = on
cron.database_name = 'postgres'
CONF
    cluster_start
}

# set a parameter in postgresql.conf (last one wins); takes effect on restart/reload
cluster_conf() {
    echo "$1 = '$2'" >>"$MT_PGDATA/postgresql.conf"
}

cluster_start() {
    as_pg "$MT_PGBIN/pg_ctl" -D "$MT_PGDATA" -l "$MT_LOG" -w -t 60 start >/dev/null
}

cluster_stop() {
    as_pg "$MT_PGBIN/pg_ctl" -D "$MT_PGDATA" -w -t 60 -m "${1:-fast}" stop >/dev/null
}

cluster_stop_quiet() {
    [ -f "$MT_PGDATA/postmaster.pid" ] && cluster_stop immediate 2>/dev/null
    return 0
}

cluster_restart() { cluster_stop fast && cluster_start; }

# crash: immediate-mode stop (no shutdown checkpoint, no shutdown hooks), then start
cluster_crash_restart() { cluster_stop immediate && cluster_start; }

cluster_reload() { as_pg "$MT_PGBIN/pg_ctl" -D "$MT_PGDATA" reload >/dev/null; }

cluster_destroy() {
    cluster_stop_quiet
    rm -rf "$MT_ROOT"
}

mt_psql() {
    PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" "$MT_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"
}

# for shell tests: print a reason and fail
fail() { echo "FAIL: $*"; exit 1; }
