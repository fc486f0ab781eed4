#!/usr/bin/env bash
# mt.metrics() shows the sealer's backlog: mt_audit_unsealed_events (the
# committed audit events not yet linked into their chain) and
# mt_audit_seal_lag_seconds (the age of the oldest of them).
# 1. With everything sealed both read 0.
# 2. While a session holds two chains' locks (mt.audit_prune in an open
#    transaction: the worker skips locked chains), the committed appends of
#    both chains are counted, an aborted one and one still in progress are
#    not, and the lag is the age of the oldest, as the table itself says.
# 3. With 20,000 sealed events' dead entries in the work list (no VACUUM)
#    the count is still exact.
# 4. Once the locks go, the worker seals the events: both read 0 again.
# 5. A monitoring role (pg_monitor) reads them; a tenant's session may not.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_audit_backlog
gate=""
opener=""
work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
    exec 3>&- 2>/dev/null || true
    exec 4>&- 2>/dev/null || true
    exec 5>&- 2>/dev/null || true
    [ -z "$gate" ] || kill "$gate" 2>/dev/null || true
    [ -z "$opener" ] || kill "$opener" 2>/dev/null || true
    wait 2>/dev/null || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS mt_backlog_monitor" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex')")
mt_psql -d $db -c "ALTER TABLE mt.audit_log SET (autovacuum_enabled = off)" >/dev/null

# metric <name>: its value in mt.metrics()
metric() {
    mt_psql -d $db -c "SELECT (regexp_match(mt.metrics(), '\n$1 ([0-9.]+)\n'))[1]"
}
append() {   # append <tenant> <action> [ROLLBACK]
    mt_psql -d $db -c "BEGIN" -c "SELECT mt.set_tenant('$1', false)" -c "SELECT mt.audit('$2')" -c "${3:-COMMIT}" >/dev/null
}

# 1. nothing appended yet
append "$acme" first
mt_psql -d $db -c "SELECT mt.audit_seal()" >/dev/null
[ "$(metric mt_audit_unsealed_events)" = 0 ] || fail "unsealed events $(metric mt_audit_unsealed_events) with every event sealed"
[ "$(metric mt_audit_seal_lag_seconds)" = 0.000 ] || fail "seal lag $(metric mt_audit_seal_lag_seconds) with every event sealed"
echo "ok: with every event sealed the backlog metrics read 0"

# 2. a session holds both chains' locks (prune seals first, then keeps the
#    lock to its commit); appends go in unsealed and stay so
mkfifo "$work/hold" "$work/open"
mt_psql -d $db <"$work/hold" >/dev/null 2>&1 &
gate=$!
exec 3>"$work/hold"
echo "BEGIN; SELECT mt.audit_prune('1000 years', '$acme'); SELECT mt.audit_prune('1000 years', '$globex');" >&3
chain_locks() {
    mt_true $db "SELECT count(*) = 2 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = x'6175'::int"
}
wait_for 20 chain_locks || fail "the holding session did not take both chain locks"
append "$acme" a1
sleep 2   # the oldest stands apart from the rest
append "$acme" a2; append "$globex" g1; append "$acme" a3; append "$globex" g2
append "$acme" aborted ROLLBACK
# one more in a transaction that stays open (its own fifo session)
mt_psql -d $db <"$work/open" >/dev/null 2>&1 3>&- &
opener=$!
exec 4>"$work/open"
echo "BEGIN; SELECT mt.set_tenant('$globex', false); SELECT mt.audit('in-progress');" >&4
wait_for 20 mt_true $db "SELECT count(*) = 1 FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE '%in-progress%'" ||
    fail "the open transaction did not append"
n=$(metric mt_audit_unsealed_events)
[ "$n" = 5 ] || fail "mt_audit_unsealed_events is $n with 5 committed events unsealed (an aborted and an open one not counted)"
lag=$(metric mt_audit_seal_lag_seconds)
r=$(mt_psql -d $db -c "SELECT abs(extract(epoch FROM now() - min(at)) - $lag) < 0.5 AND $lag >= 2.0
                       FROM mt.audit_log WHERE seq IS NULL AND action IN ('a1', 'a2', 'a3', 'g1', 'g2')")
[ "$r" = t ] || fail "mt_audit_seal_lag_seconds is $lag, not the age of the oldest unsealed event"
echo "ok: 5 committed unsealed events counted (not the aborted or the open one), lag ${lag}s = the oldest's age"

# 3. 20,000 sealed events of a third tenant leave dead work-list entries
#    (while the two chains are held no pass of the worker is complete, so
#    the floor stays where it was: the count reads past those entries and
#    stays exact)
initech=$(mt_psql -d $db -c "SELECT mt.create_tenant('Initech', 'initech')")
mt_psql -d $db -c "SELECT mt.set_tenant('$initech', false)" \
    -c "SELECT mt.audit_many(array_agg('bulk'::text), NULL, NULL) FROM generate_series(1, 20000)" >/dev/null
wait_for 30 mt_true $db "SELECT count(*) = 0 FROM mt.audit_log WHERE tenant_id = '$initech' AND seq IS NULL" ||
    fail "the worker did not seal the bulk events"
n=$(metric mt_audit_unsealed_events)
[ "$n" = 5 ] || fail "with 20,000 dead work-list entries mt_audit_unsealed_events is $n, not 5"
echo "ok: with 20,000 sealed events' dead entries in the work list the count stays 5"

# 4. the locks go: the worker seals the five, the open one once it commits
exec 3>&-
wait "$gate"; gate=""
echo "COMMIT;" >&4
exec 4>&-
wait "$opener"; opener=""
wait_for 20 mt_true $db "SELECT count(*) = 0 FROM mt.audit_log WHERE seq IS NULL" ||
    fail "the worker did not seal the events once the chain locks were released"
[ "$(metric mt_audit_unsealed_events)" = 0 ] && [ "$(metric mt_audit_seal_lag_seconds)" = 0.000 ] ||
    fail "after sealing the backlog metrics read $(metric mt_audit_unsealed_events) and $(metric mt_audit_seal_lag_seconds)"
echo "ok: once the chain locks went the worker sealed every event and the metrics read 0 again"

# 5. who may read them
mt_psql -d postgres -c "DROP ROLE IF EXISTS mt_backlog_monitor" -c "CREATE ROLE mt_backlog_monitor LOGIN IN ROLE pg_monitor" >/dev/null
r=$(mt_psql -d $db -U mt_backlog_monitor -c "SELECT mt.metrics() ~ 'mt_audit_unsealed_events 0\n'")
[ "$r" = t ] || fail "a pg_monitor member does not see the backlog metrics"
token=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme')")
r=$(PGOPTIONS="-c multitenant.token=$token" mt_psql -d $db -U mt_backlog_monitor -c "SELECT mt.metrics()" 2>&1 | grep -E "ERROR|HINT" | tr "\n" " ") || true
case "$r" in *"without multitenant.token"*) ;; *) fail "a tenant session read mt.metrics(): $r" ;; esac
echo "ok: pg_monitor reads the backlog metrics; inside a tenant context mt.metrics() is refused"

# 6. DDL holding the log: mt.metrics() is served at once, without the two samples
mkfifo "$work/ddl"
mt_psql -d $db <"$work/ddl" >/dev/null 2>&1 &
ddl=$!
exec 5>"$work/ddl"
echo "BEGIN; LOCK TABLE mt.audit_log IN ACCESS EXCLUSIVE MODE;" >&5
wait_for 20 mt_true $db "SELECT count(*) = 1 FROM pg_locks WHERE relation = 'mt.audit_log'::regclass AND mode = 'AccessExclusiveLock' AND granted" ||
    fail "the DDL session did not lock mt.audit_log"
r=$(PGOPTIONS="-c statement_timeout=5s" mt_psql -d $db -c "SELECT m !~ E'\nmt_audit_unsealed_events ' AND m ~ E'# TYPE mt_audit_unsealed_events gauge\n' AND m ~ E'\nmt_tenants' FROM mt.metrics() m" 2>&1)
exec 5>&-
wait "$ddl"
[ "$r" = t ] || fail "with mt.audit_log locked by DDL mt.metrics() returned: $r"
echo "ok: while DDL holds mt.audit_log mt.metrics() is served without the backlog samples"
echo "all ok"
