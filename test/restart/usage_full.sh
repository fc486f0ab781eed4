#!/usr/bin/env bash
# A full counter table (multitenant.max_counters): new counters get room by
# flushing and reusing idle entries; when nothing can be flushed (the
# rollup is locked), the call fails after a short wait with 53400 naming
# the GUC, and works again once the flush can proceed.  Counts stay exact.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_usage_full
cluster_settings_save
trap 'cluster_settings_restore restart' EXIT
cluster_conf multitenant.max_counters 100
cluster_conf multitenant.flush_interval 1h
# one tenant fills the whole table here (the per-tenant bound has its own
# test, usage_counter_tenant_bound)
cluster_conf multitenant.tenant_counter_share 100
cluster_restart
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme', 'enterprise')")
[ "$(mt_psql -d $db -c "SHOW multitenant.max_counters")" = 100 ] || fail "max_counters not applied"

track_range() {   # track_range <from> <to>: one count for metrics m<from>..m<to>
    mt_psql -d $db -v VERBOSITY=verbose -c "SELECT mt.set_tenant('$acme', false)" \
        -c "SELECT count(mt.track('m' || g)) FROM generate_series($1, $2) g" 2>&1
}
total() { mt_psql -d $db -c "SELECT coalesce(sum(used), 0) FROM mt.usage('$acme')"; }

# 250 counters in a table of 100: flushed and reused on the way
out=$(track_range 1 250) || fail "filling past the table size failed: $out"
[ "$(total)" = 250 ] || fail "total $(total), expected 250"
echo "ok: 250 counters through a table of 100 (flushed and reused), total exact"

# nothing can be flushed while writes to the rollup are locked out: a clear error
mt_psql -d $db -c "BEGIN" -c "LOCK TABLE mt.usage_rollup IN SHARE MODE" -c "SELECT pg_sleep(12)" >/dev/null 2>&1 &
locker=$!
wait_for 10 lock_granted $db mt.usage_rollup ShareLock || fail "the rollup lock was not taken"
before=$(date +%s)
out=$(track_range 1001 1200 || true)
grep -q "ERROR:  53400: too many usage counters" <<<"$out" || fail "no 53400 while full: $out"
grep -q "HINT:  Raise multitenant.max_counters" <<<"$out" || fail "the hint does not name the GUC: $out"
[ $(( $(date +%s) - before )) -le 11 ] || fail "the full table waited too long"
echo "ok: full and nothing flushable: 53400 naming multitenant.max_counters"
wait $locker || true
[ "$(mt_psql -d $db -c "SELECT 1")" = 1 ] || fail "server unusable"

# once the lock is gone the flush proceeds and counting works again
t0=$(total)
out=$(track_range 2001 2150) || fail "counting did not recover: $out"
[ "$(total)" = $((t0 + 150)) ] || fail "total $(total), expected $((t0 + 150))"
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
[ "$(mt_psql -d $db -c "SELECT sum(value) FROM mt.usage_rollup")" = "$(total)" ] || fail "rollup differs from usage"
echo "ok: counting recovered after the flush; rollup equals usage ($(total))"

mt_psql -d postgres -c "DROP DATABASE $db"
cluster_settings_restore restart
echo "all ok"
