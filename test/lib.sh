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

# reload and wait until new sessions run with the reloaded configuration
# (the postmaster has processed the SIGHUP: pg_conf_load_time() moved).
# Connects as the postgres OS user, so it works under peer rules too.
cluster_reload_wait() {
    local before
    before=$(as_pg "$MT_PGBIN/psql" -X -At -d postgres -c "SELECT pg_conf_load_time()")
    cluster_reload
    wait_for 10 conf_loaded_after "$before"
}
conf_loaded_after() {
    [ "$(as_pg "$MT_PGBIN/psql" -X -At -d postgres -c "SELECT pg_conf_load_time() > '$1'" 2>/dev/null)" = t ]
}

# Tests that change cluster settings (ALTER SYSTEM, cluster_conf,
# pg_hba.conf, restarts with other preload lists) save them first and put
# them back in an EXIT trap, so a failure does not leak into the next test:
#   cluster_settings_save
#   trap 'cluster_settings_restore restart' EXIT
# test/run.sh checks after every test that the files are unchanged.
MT_SETTINGS_FILES="postgresql.conf postgresql.auto.conf pg_hba.conf"
cluster_settings_save() {   # cluster_settings_save [dir]
    local dir=${1:-$MT_ROOT/saved-settings} f
    mkdir -p "$dir"
    for f in $MT_SETTINGS_FILES; do cp -p "$MT_PGDATA/$f" "$dir/$f"; done
}
# cluster_settings_restore [reload|restart] [dir]: put the saved files back,
# then reload (default) or restart if any changed; starts the server if it
# is down.  Restarts only when something changed, so a test may call it
# inline and again from its trap.
cluster_settings_restore() {
    local how=${1:-reload} dir=${2:-$MT_ROOT/saved-settings} f changed=
    for f in $MT_SETTINGS_FILES; do
        [ -f "$dir/$f" ] || continue
        cmp -s "$dir/$f" "$MT_PGDATA/$f" && continue
        cp -p "$dir/$f" "$MT_PGDATA/$f"; changed=1
    done
    if [ ! -f "$MT_PGDATA/postmaster.pid" ]; then
        cluster_start
    elif [ -n "$changed" ] && [ "$how" = restart ]; then
        cluster_restart
    elif [ -n "$changed" ]; then
        cluster_reload_wait
    fi
}
# cluster_settings_changed [dir]: true when a settings file differs from the saved copy
cluster_settings_changed() {
    local dir=${1:-$MT_ROOT/saved-settings} f
    for f in $MT_SETTINGS_FILES; do
        cmp -s "$dir/$f" "$MT_PGDATA/$f" || return 0
    done
    return 1
}

cluster_destroy() {
    cluster_stop_quiet
    rm -rf "$MT_ROOT"
}

mt_psql() {
    PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" "$MT_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"
}

# for shell tests: print a reason and fail
fail() { echo "FAIL: $*"; exit 1; }

# wait_for <seconds> <command...>: run the command every 0.1 s until it
# succeeds; returns 1 if it still fails after <seconds>.  Use it instead of
# a fixed sleep wherever the test waits for a condition:
#   wait_for 10 mt_true "$db" "SELECT count(*) = 1 FROM pg_stat_activity WHERE ..." || fail "..."
wait_for() {
    local limit=$1 end
    shift
    end=$(( $(date +%s%N) / 1000000 + limit * 1000 ))
    until "$@"; do
        [ $(( $(date +%s%N) / 1000000 )) -lt $end ] || return 1
        sleep 0.1
    done
}

# mt_true <db> <query>: true when the query (a new session) returns t
mt_true() { [ "$(mt_psql -d "$1" -c "$2" 2>/dev/null)" = t ]; }

# steady_appends <db> <token> [psql options]: one session appending an
# audit event about 50 times a second (MT_APPEND_SLEEP seconds apart,
# default 0.02), each committed, until a row in the database's table
# load_stop says to stop (at most 6,000 events); run it in the background.
# A sealing worker stays connected to the database meanwhile.
steady_appends() {
    local db=$1 tok=$2
    shift 2
    PGOPTIONS="-c multitenant.token=$tok" mt_psql "$@" -d "$db" -c "DO \$\$
BEGIN
    FOR i IN 1..6000 LOOP
        EXIT WHEN EXISTS (SELECT FROM load_stop);
        PERFORM mt.audit('load.tick');
        COMMIT;
        PERFORM pg_sleep(${MT_APPEND_SLEEP:-0.02});
    END LOOP;
END \$\$"
}

# flush_workers <db>: the pids of the flush and sealing workers connected
# to that database, space-separated in pid order (empty when none)
flush_workers() {
    mt_psql -d postgres -c "SELECT coalesce(string_agg(pid::text, ' ' ORDER BY pid), '') FROM pg_stat_activity
                            WHERE backend_type = 'multitenant flush' AND datname = '$1'"
}

# lock_granted <db> <relation> <mode>: some session holds that lock
#   wait_for 10 lock_granted "$db" mt.usage_rollup ShareLock
lock_granted() {
    mt_true "$1" "SELECT EXISTS (SELECT FROM pg_catalog.pg_locks WHERE relation = '$2'::regclass AND mode = '$3' AND granted)"
}

# ---------------------------------------------------------------------------
# A hot standby of the test cluster (pg_basebackup -R), for the tests that
# need a real streaming replica.  The caller sets sb_root and sb_port;
# standby_start derives sb_data, sb_sock, sb_log, starts the standby (extra
# postgresql.conf lines on stdin, if any) and waits until it is in recovery;
# standby_stop stops it (in the caller's trap).  sb_psql runs psql there,
# standby_catch_up waits until it has replayed all the primary has written.
# ---------------------------------------------------------------------------
standby_start() {
    sb_data=$sb_root/data sb_sock=$sb_root/sock sb_log=$sb_root/server.log
    rm -rf "$sb_root"; mkdir -p "$sb_sock"; chown -R postgres:postgres "$sb_root" 2>/dev/null || true
    as_pg "$MT_PGBIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$sb_data" -R -X stream -c fast \
        >"$sb_root/basebackup.log" 2>&1 || { cat "$sb_root/basebackup.log"; fail "pg_basebackup failed"; }
    {
        echo "port = $sb_port"
        echo "unix_socket_directories = '$sb_sock'"
        echo "listen_addresses = ''"
        echo "hot_standby = on"
        [ -t 0 ] || cat
    } >>"$sb_data/postgresql.conf"
    as_pg "$MT_PGBIN/pg_ctl" -D "$sb_data" -l "$sb_log" -w -t 60 start >/dev/null ||
        { tail -20 "$sb_log"; fail "the standby did not start"; }
    [ "$(sb_psql -d postgres -c 'SELECT pg_is_in_recovery()')" = t ] || fail "the standby is not in recovery"
}
standby_stop() {
    [ -n "${sb_data:-}" ] && [ -f "$sb_data/postmaster.pid" ] &&
        as_pg "$MT_PGBIN/pg_ctl" -D "$sb_data" -w -m immediate stop >/dev/null 2>&1
    return 0
}
sb_psql() { PGHOST=$sb_sock PGPORT=$sb_port mt_psql "$@"; }

# A long-lived session on the standby (a pooled backend: what its caches
# keep across replay).  sb_session_start [psql options]: starts psql there
# as a coprocess (PGOPTIONS and the like pass through the environment);
# sb_run <sql>: runs the statements in that session and prints their output,
# errors included, as one line; sb_session_stop: ends it (the caller's trap).
sb_session_start() {
    coproc SB { PGHOST=$sb_sock PGPORT=$sb_port "$MT_PGBIN/psql" -X -q -At "$@" 2>&1; }
    SB_IN=${SB[1]}
}
sb_run() {
    local line out=""
    printf '%s\n\\echo __done__\n' "$1" >&"$SB_IN"
    while IFS= read -r -t 60 line <&"${SB[0]}"; do
        [ "$line" = __done__ ] && { echo "$out"; return 0; }
        out="${out:+$out }$line"
    done
    fail "the standby session did not answer: $1"
}
sb_session_stop() {
    [ -n "${SB_PID:-}" ] && { exec {SB_IN}>&- 2>/dev/null || true; kill "$SB_PID" 2>/dev/null || true; }
    return 0
}
sb_true() { [ "$(sb_psql -d "$1" -c "$2" 2>/dev/null)" = t ]; }

# standby_test <db> <port offset> <standby root> [login roles...]: the frame
# of a standby test: sets db, sb_port (MT_PORT + offset) and sb_root,
# creates the database with the extension (and the login roles, afresh)
# and installs the EXIT trap that ends the standby session, stops the
# standby, removes its directory and drops the database and the roles.
standby_test() {
    db=$1 sb_port=$((MT_PORT + $2)) sb_root=$3
    shift 3
    sb_test_roles=("$@")
    trap standby_test_cleanup EXIT
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    for r in "${sb_test_roles[@]}"; do
        mt_psql -d postgres -c "DROP ROLE IF EXISTS $r" -c "CREATE ROLE $r LOGIN" >/dev/null
    done
    mt_psql -d "$db" -c "CREATE EXTENSION multitenant" >/dev/null
}
standby_test_cleanup() {
    sb_session_stop
    standby_stop
    rm -rf "$sb_root"
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    for r in "${sb_test_roles[@]}"; do
        mt_psql -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
    done
}
standby_catch_up() {
    local lsn
    lsn=$(mt_psql -d postgres -c "SELECT pg_current_wal_lsn()")
    wait_for 60 sb_true postgres "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" ||
        fail "the standby did not replay up to $lsn"
}
