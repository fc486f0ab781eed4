#!/usr/bin/env bash
# Audit sealing under concurrent appends with 20% aborts, over 2 tenants
# (hot chains) and over 100 tenants, while mt.audit_seal() runs in a loop
# beside the background worker.  Afterwards: every committed event is in
# its tenant's chain exactly once (a side table written in the same
# transaction as each event says which committed), no aborted event is
# (they never reach the table, and a sealed in-flight row would leave a gap
# when its transaction aborts: verify finds none), nothing stays unsealed,
# and in each session the chain order is the session's commit order.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_audit_seal_conc
work=$(mktemp -d)
chmod 755 "$work"
sealer=""
cleanup() {
    [ -z "$sealer" ] || kill "$sealer" 2>/dev/null || true
    wait 2>/dev/null || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db >/dev/null <<'SQL'
CREATE EXTENSION multitenant;
CREATE TABLE bench_tenants (i int PRIMARY KEY, tid uuid NOT NULL, token text NOT NULL);
INSERT INTO bench_tenants
SELECT i, t, mt.tenant_token(t, '1 hour', 'client')
FROM (SELECT i, mt.create_tenant('Tenant ' || i, 'tenant-' || i) AS t FROM generate_series(1, 100) i) s;
CREATE TABLE committed_events (id bigint PRIMARY KEY, run int NOT NULL);
SQL
cat >"$work/append.sql" <<'SQL'
\set t random(1, :ntenants)
\set abort random(1, 5)
BEGIN;
SELECT set_config('multitenant.token', token, true) FROM bench_tenants WHERE i = :t;
INSERT INTO committed_events (id, run) SELECT mt.audit('ev', 'client', :client_id::text), :run;
\if :abort = 1
ROLLBACK;
\else
COMMIT;
\endif
SQL

run_load() {   # run_load <run> <tenants>
    local run=$1 tenants=$2 total committed
    ( while :; do mt_psql -d $db -c "SELECT mt.audit_seal()" >/dev/null 2>&1 || true; done ) &
    sealer=$!
    "$MT_PGBIN/pgbench" -n -c 8 -j 8 -T 6 -D ntenants="$tenants" -D run="$run" -f "$work/append.sql" $db \
        >"$work/pgbench-$run.log" 2>&1 || { cat "$work/pgbench-$run.log"; fail "pgbench failed"; }
    kill "$sealer"; wait "$sealer" 2>/dev/null || true; sealer=""
    total=$(awk '/actually processed:/ { split($NF, a, "/"); print a[1] }' "$work/pgbench-$run.log")
    [ -n "$total" ] || total=$(awk '/number of transactions actually processed/ { print $NF }' "$work/pgbench-$run.log")
    committed=$(mt_psql -d $db -c "SELECT count(*) FROM committed_events WHERE run = $run")
    [ "$committed" -gt 100 ] || fail "run $run: only $committed events committed"
    # about 20% aborted (pgbench counts rolled-back transactions as processed)
    awk -v c="$committed" -v t="$total" 'BEGIN { exit !(c < 0.9 * t && c > 0.65 * t) }' ||
        fail "run $run: $committed of $total transactions committed, expected about 80%"
    echo "ok: run $run ($tenants tenants): $committed of $total appends committed while sealing"
}

check() {   # check <label>
    local r
    mt_psql -d $db -c "SELECT mt.audit_seal()" >/dev/null
    r=$(mt_psql -d $db -c "SELECT count(*) FROM committed_events c LEFT JOIN mt.audit_log l ON l.id = c.id WHERE l.id IS NULL OR l.seq IS NULL")
    [ "$r" = 0 ] || fail "$1: $r committed events are missing or unsealed"
    r=$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log l WHERE action = 'ev' AND NOT EXISTS (SELECT FROM committed_events c WHERE c.id = l.id)")
    [ "$r" = 0 ] || fail "$1: $r events of aborted transactions are in the log"
    r=$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_verify() WHERE NOT ok OR unsealed <> 0")
    [ "$r" = 0 ] || fail "$1: $r chains fail verification or keep unsealed events"
    r=$(mt_psql -d $db -c "SELECT count(*) FROM (SELECT seq, lag(seq) OVER w AS prev FROM mt.audit_log WHERE action = 'ev'
                           WINDOW w AS (PARTITION BY tenant_id, resource_id ORDER BY id)) s WHERE seq < prev")
    [ "$r" = 0 ] || fail "$1: $r events are linked before an earlier commit of the same session"
    echo "ok: $1: every committed event sealed once, no aborted one, chains verify, session order kept"
}

# the background worker alone seals a committed event (nobody calls the sealer)
id=$(mt_psql -d $db -c "SELECT mt.set_tenant(tid, false) FROM bench_tenants WHERE i = 1" -c "SELECT mt.audit('worker.only')" | tail -1)
wait_for 20 mt_true $db "SELECT seq IS NOT NULL FROM mt.audit_log WHERE id = $id" ||
    fail "the worker did not seal a committed event within 20 s (audit_seal_interval 200ms)"
echo "ok: the background worker seals a committed event by itself"

run_load 1 2
check "2 tenants"
run_load 2 100
check "100 tenants"
echo "all ok"
