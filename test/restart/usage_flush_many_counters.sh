#!/usr/bin/env bash
# The flush writes every pending counter however many the table holds.
# Until the twenty-seventh session it took its item array at once for
# every entry of the table times its four hour slots (about 480 bytes per
# entry): past 2,236,962 counters (multitenant.max_counters allows
# 10,000,000) that is over PostgreSQL's 1 GB allocation limit, so every
# flush failed ("invalid memory alloc request size") and the counts stayed
# pending for good.  The array now holds only the pending slots and grows
# as needed, and the rows go out in statements of 65,536.  mt.usage()
# merged a tenant's live counters into its rollup rows comparing each with
# each (hours for this many), and it and the pending-count readers took
# arrays sized for the whole table for one tenant.  This test fills
# 2,300,000 counters (about 760 MB of shared memory), flushes them, and
# checks the rollup row by row against the counts, then does it again to
# take the update path of the upsert.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_usage_flush_many
n=2300000
cluster_settings_save
trap 'cluster_settings_restore restart' EXIT
cluster_conf multitenant.max_counters 2400000
cluster_conf multitenant.flush_interval 1h
cluster_conf multitenant.tenant_counter_share 100
cluster_restart
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme', 'enterprise')")
[ "$(mt_psql -d $db -c "SHOW multitenant.max_counters")" = 2400000 ] || fail "max_counters not applied"

track_all() {   # track_all <amount>: metrics m1 .. m$n, <amount> each (two sessions)
    local half=$((n / 2)) p1 p2
    mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" \
        -c "SELECT count(mt.track('m' || g, $1)) FROM generate_series(1, $half) g" >/dev/null & p1=$!
    mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" \
        -c "SELECT count(mt.track('m' || g, $1)) FROM generate_series($((half + 1)), $n) g" >/dev/null & p2=$!
    wait $p1 || fail "tracking failed"
    wait $p2 || fail "tracking failed"
}
# rows of the rollup whose value is not <v>, and the rollup's row count
rollup_check() {
    mt_psql -d $db -c "SELECT count(*) FILTER (WHERE value <> $1) || ' ' || count(*) || ' ' || count(DISTINCT metric)
                       FROM mt.usage_rollup WHERE tenant_id = '$acme'"
}

# flush <total of m1 after it>: mt.flush_usage() waits 30 s for the flush;
# writing this many rows may take longer (the flush goes on in its worker,
# in one transaction), so then wait until its rows are committed
flush() {
    local out
    out=$(mt_psql -d $db -v VERBOSITY=verbose -c "SELECT mt.flush_usage()" 2>&1) ||
        grep -q "did not finish within 30 seconds" <<<"$out" ||
        fail "the flush of $n counters failed: $out"
    wait_for 600 mt_true $db "SELECT sum(value) = $1 FROM mt.usage_rollup
                               WHERE tenant_id = '$acme' AND metric = 'm1'" ||
        fail "the flush of $n counters did not commit within 10 minutes: $(tail -5 "$MT_LOG")"
}

track_all 1
[ "$(mt_psql -d $db -c "SELECT count(*) FROM mt.usage_rollup")" = 0 ] || fail "flushed before the test's flush"
flush 1
[ "$(rollup_check 1)" = "0 $n $n" ] || fail "rollup after the first flush: $(rollup_check 1) (expected 0 $n $n)"
echo "ok: $n counters flushed in one flush, one rollup row each with its count (${SECONDS} s into the test)"
# mt.usage() merges the tenant's live counters into the rollup's rows by
# metric: it used to compare every counter with every row (quadratic: it
# did not finish in 10 minutes here)
started=$(date +%s)
# (the plan's limited metrics have rows too, with nothing used)
[ "$(mt_psql -d $db -c "SELECT count(*) || ' ' || sum(used) FROM mt.usage('$acme') WHERE metric ~ '^m[0-9]+$'")" = "$n $n" ] ||
    fail "mt.usage() does not show $n counters of 1"
[ $(( $(date +%s) - started )) -le 60 ] || fail "mt.usage() over $n counters took over a minute"
echo "ok: mt.usage() shows the $n counters ($(( $(date +%s) - started )) s)"

# again: every row takes the ON CONFLICT update path (same hour; a flush
# that crosses an hour writes new rows for the new hour instead)
hour=$(mt_psql -d $db -c "SELECT date_trunc('hour', now())")
track_all 2
flush 3
if [ "$(mt_psql -d $db -c "SELECT date_trunc('hour', now())")" = "$hour" ]; then
    [ "$(rollup_check 3)" = "0 $n $n" ] || fail "rollup after the second flush: $(rollup_check 3) (expected 0 $n $n)"
    echo "ok: the second flush added to every row (value 3 each; ${SECONDS} s into the test)"
fi
[ "$(mt_psql -d $db -c "SELECT sum(value) FROM mt.usage_rollup WHERE tenant_id = '$acme'")" = $((3 * n)) ] ||
    fail "rollup total differs from the counts"
[ "$(mt_psql -d $db -c "SELECT coalesce(sum(used), 0) FROM mt.usage('$acme')")" = $((3 * n)) ] ||
    fail "usage total differs from the counts"
echo "ok: rollup total equals the counts ($((3 * n)))"

mt_psql -d postgres -c "DROP DATABASE $db"
cluster_settings_restore restart
echo "all ok"
