#!/usr/bin/env bash
# A throwaway Citus cluster (a coordinator and two workers) for the Citus
# suite, test/citus/*.sh.  Source it from the repository root after
# test/lib.sh.  test/run.sh starts one cluster for the whole suite
# (citus_cluster_init) and destroys it at exit; a test run on its own
# starts one itself (citus_use_cluster) and destroys it in its trap.
#
# Nodes: index 0 is the coordinator, 1 and 2 the workers, on ports
# MT_PORT+1 .. MT_PORT+3 with their data under $MT_ROOT/citus/.  Every node
# preloads 'citus,multitenant' (Citus first), has wal_level = logical (shard
# moves) and prepared transactions (2PC), and shares one multitenant.secret
# (tokens and keys verify on every node).  The database is mt_citus, with
# citus on every node and multitenant created on the coordinator (Citus
# propagates it to the workers).  Everything trusts local connections.

CITUS_ROOT=$MT_ROOT/citus
CITUS_DB=mt_citus
CITUS_NAMES=(coord worker1 worker2)
CITUS_PORTS=($((MT_PORT + 1)) $((MT_PORT + 2)) $((MT_PORT + 3)))

citus_pgdata() { echo "$CITUS_ROOT/${CITUS_NAMES[$1]}"; }
citus_log() { echo "$CITUS_ROOT/${CITUS_NAMES[$1]}.log"; }

# citus_psql <node> [psql args...]: psql on a node, database mt_citus
# unless -d is given; ON_ERROR_STOP, tuples only, unaligned
citus_psql() {
    local node=$1
    shift
    PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" "$MT_PGBIN/psql" -X -q \
        -v ON_ERROR_STOP=1 -At -h "$CITUS_ROOT/sock" -p "${CITUS_PORTS[$node]}" \
        -U "${CITUS_USER:-postgres}" -d "$CITUS_DB" "$@"
}

# citus_true <node> <query>: the query (a new session) returns t
citus_true() { [ "$(citus_psql "$1" -c "$2" 2>/dev/null)" = t ]; }

citus_node_start() {
    as_pg "$MT_PGBIN/pg_ctl" -D "$(citus_pgdata "$1")" -l "$(citus_log "$1")" -w -t 60 start >/dev/null
}

citus_node_stop() {
    [ -f "$(citus_pgdata "$1")/postmaster.pid" ] || return 0
    as_pg "$MT_PGBIN/pg_ctl" -D "$(citus_pgdata "$1")" -w -t 60 -m "${2:-fast}" stop >/dev/null
}

citus_node_running() { [ -f "$(citus_pgdata "$1")/postmaster.pid" ]; }

citus_cluster_running() {
    local i
    for i in 0 1 2; do citus_node_running $i || return 1; done
}

citus_cluster_destroy() {
    local i
    for i in 0 1 2; do citus_node_stop $i immediate 2>/dev/null; done
    rm -rf "$CITUS_ROOT"
    return 0
}

# start every node that is down (after a test that stopped or crashed one)
citus_cluster_start() {
    local i
    for i in 0 1 2; do citus_node_running $i || citus_node_start $i || return 1; done
}

citus_cluster_init() {
    local i dir secret
    citus_cluster_destroy
    mkdir -p "$CITUS_ROOT/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$CITUS_ROOT"
    secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    for i in 0 1 2; do
        dir=$(citus_pgdata $i)
        as_pg "$MT_PGBIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C \
            >"$CITUS_ROOT/initdb-$i.log" 2>&1 || { cat "$CITUS_ROOT/initdb-$i.log"; return 1; }
        # one master secret for the whole cluster (doc/citus.md)
        echo "$secret" >"$dir/multitenant.secret"
        chmod 600 "$dir/multitenant.secret"
        [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/multitenant.secret"
        cat >>"$dir/postgresql.conf" <<CONF
port = ${CITUS_PORTS[$i]}
listen_addresses = '127.0.0.1'
unix_socket_directories = '$CITUS_ROOT/sock'
shared_preload_libraries = 'citus,multitenant'
wal_level = logical
max_prepared_transactions = 100
max_connections = 100
max_worker_processes = 16
max_replication_slots = 10
max_wal_senders = 10
shared_buffers = 32MB
fsync = off
log_min_messages = warning
log_min_error_statement = error
citus.shard_count = 4
citus.log_remote_commands = off
CONF
        citus_node_start $i || { tail -20 "$(citus_log $i)"; return 1; }
        as_pg "$MT_PGBIN/psql" -X -q -h "$CITUS_ROOT/sock" -p "${CITUS_PORTS[$i]}" -d postgres \
            -c "CREATE DATABASE $CITUS_DB" >/dev/null || return 1
        citus_psql $i -c "CREATE EXTENSION citus" >/dev/null || return 1
    done
    citus_psql 0 -c "SELECT citus_set_coordinator_host('127.0.0.1', ${CITUS_PORTS[0]})" \
        -c "SELECT citus_add_node('127.0.0.1', ${CITUS_PORTS[1]})" \
        -c "SELECT citus_add_node('127.0.0.1', ${CITUS_PORTS[2]})" \
        -c "CREATE EXTENSION multitenant" >/dev/null || return 1
    # the extension reached the workers with the coordinator's CREATE EXTENSION
    for i in 1 2; do
        citus_true $i "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'multitenant')" || {
            echo "multitenant was not propagated to ${CITUS_NAMES[$i]}"; return 1; }
    done
}

# For a test: use the suite's running cluster, or start one for this test
# alone (destroyed by citus_release_cluster, which the test's trap calls).
CITUS_OWN_CLUSTER=
citus_use_cluster() {
    if citus_cluster_running &&
        citus_true 0 "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'multitenant')"; then
        return 0
    fi
    CITUS_OWN_CLUSTER=1
    citus_cluster_init
}
citus_release_cluster() {
    [ -n "$CITUS_OWN_CLUSTER" ] && citus_cluster_destroy
    return 0
}

# citus_shards <table>: "shardid nodeport shard_name" per placement
citus_shards() {
    citus_psql 0 -F ' ' -c "SELECT s.shardid, p.nodeport, s.shard_name
        FROM citus_shards s JOIN pg_dist_placement pl USING (shardid)
        JOIN pg_dist_node p ON p.groupid = pl.groupid
        WHERE s.table_name = '$1'::regclass ORDER BY 1, 2"
}

# citus_node_of_port <port>: the node index listening on that port
citus_node_of_port() {
    local i
    for i in 0 1 2; do [ "${CITUS_PORTS[$i]}" = "$1" ] && { echo $i; return 0; }; done
    return 1
}
