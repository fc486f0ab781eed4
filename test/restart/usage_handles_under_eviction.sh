#!/usr/bin/env bash
# Counting through a handle takes no LWLock (util.h, MtRowHandle): a
# backend that counted for a tenant before adds to its usage counter and
# its statistics row under that row's spinlock alone, while other backends
# enter, evict and reuse rows under the table's lock.  mt.authenticate
# keeps such handles per key for as long as the backend lives, so a key
# used now and then counts through a handle on a row that went idle at the
# last flush: the oldest, the first an eviction takes.  Under constant
# eviction of both tables every count still lands exactly once, in its own
# tenant's row:
# - multitenant.max_counters = 100 for 150 tenants' api_calls and m
#   counters, flushed every 100 ms, so idle counters are evicted and their
#   rows reused all the time;
# - multitenant.max_tenant_stats = 100 for 150 tenants, so statistics rows
#   are evicted into the database's evicted totals all the time;
# - 4 clients, each transaction authenticating with a random tenant's key
#   and counting m 5 times in that tenant (the 2nd to 5th through the
#   handle the 1st left).
# The api_calls and m usage over all tenants, the rollup after a last
# flush, and the authentications and metered calls over all statistics
# rows (evicted totals included) each equal what pgbench counted.  (The
# eviction re-checks, under the row's spinlock, that a row is still idle:
# built without that re-check and with a 2 ms pause between the eviction's
# scan and its removals, this test lost 21 api_calls counts; without the
# pause the window is too narrow to hit on 2 cores.  It also failed with
# 55006 before new counters were left to their creators for a second.)
# Then: a table full of new counters that nothing is ever counted in still
# makes room for new ones a second later, without a flush (below).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_usage_handles
work=$(mktemp -d)
chmod 755 "$work"
cluster_settings_save
cleanup() {
    rm -rf "$work"
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    cluster_settings_restore restart
}
trap cleanup EXIT
cluster_conf multitenant.max_counters 100
cluster_conf multitenant.max_tenant_stats 100
cluster_conf multitenant.tenant_counter_share 100
cluster_conf multitenant.flush_interval 100ms
cluster_restart
[ "$(mt_psql -d postgres -c "SHOW multitenant.max_counters")" = 100 ] || fail "max_counters not applied"

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
mt_psql -d $db -c "CREATE TABLE toks AS
    SELECT g AS i, t AS id, mt.create_api_key(t, 'k') AS k
    FROM (SELECT g, mt.create_tenant('T' || g, 't' || g, 'enterprise') AS t FROM generate_series(1, 150) g) s" >/dev/null
mt_psql -d $db -c "SELECT mt.stat_tenants_reset()" >/dev/null

cat >"$work/count.sql" <<'SQL'
\set t random(1, 150)
BEGIN;
SELECT mt.authenticate(k) FROM toks WHERE i = :t;
SELECT count(mt.track('m')) FROM generate_series(1, 5);
COMMIT;
SQL
clients=4
per_client=3000
"$MT_PGBIN/pgbench" -n -c $clients -j $clients -t $per_client -f "$work/count.sql" $db >"$work/pgbench.log" 2>&1 ||
    { cat "$work/pgbench.log"; fail "pgbench failed"; }
xacts=$((clients * per_client))
expected=$((xacts * 5))

used=$(mt_psql -d $db -c "SELECT sum(u.used) FROM toks, mt.usage(toks.id, 'day') u WHERE u.metric = 'm'")
[ "$used" = "$expected" ] || fail "usage over all tenants: $used, expected $expected"
calls=$(mt_psql -d $db -c "SELECT sum(u.used) FROM toks, mt.usage(toks.id, 'day') u WHERE u.metric = 'api_calls'")
[ "$calls" = "$xacts" ] || fail "api_calls over all tenants: $calls, expected $xacts"
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
rollup=$(mt_psql -d $db -c "SELECT sum(value) FROM mt.usage_rollup WHERE metric = 'm'")
[ "$rollup" = "$expected" ] || fail "rollup: $rollup, expected $expected"
rcalls=$(mt_psql -d $db -c "SELECT sum(value) FROM mt.usage_rollup WHERE metric = 'api_calls'")
[ "$rcalls" = "$xacts" ] || fail "rollup of api_calls: $rcalls, expected $xacts"
read -r auth metered rows evicted < <(mt_psql -d $db -F ' ' -c "
    SELECT sum(auth_ok), sum(metered_calls), count(*) FILTER (WHERE scope = 'tenant'),
           coalesce(sum(metered_calls) FILTER (WHERE scope = 'evicted'), 0)
    FROM mt.stat_tenants")
[ "$auth" = "$xacts" ] || fail "authentications over all statistics rows: $auth, expected $xacts"
[ "$metered" = "$expected" ] || fail "metered calls over all statistics rows: $metered, expected $expected"
[ "$rows" -le 100 ] || fail "$rows statistics rows of tenants (max 100)"
[ "$evicted" -gt 0 ] || fail "no statistics row was evicted: the test did not exercise eviction"
# every tenant's counts are its own: no tenant was counted more than the
# calls pgbench made for it could give (each call counts 5)
odd=$(mt_psql -d $db -c "SELECT count(*) FROM toks, mt.usage(toks.id, 'day') u WHERE u.metric = 'm' AND u.used % 5 <> 0")
[ "$odd" = 0 ] || fail "$odd counters hold a count that is not a multiple of 5: counts landed in another row"
echo "ok: $xacts authentications and $expected counts through handles under eviction: api_calls $calls (rollup $rcalls), m $used (rollup $rollup), statistics $auth and $metered ($evicted metered in evicted totals, $rows tenant rows)"

# New counters that nothing is ever counted in (every mt.consume refused by
# a hard limit of 0) fill the table; nothing is pending, so no flush comes
# to make room.  A new counter waits until the oldest of them is a second
# old and takes its row: the 150 tenants' refused calls and a new metric
# after them all get through (before, the first scan that found only new
# counters marked the table fruitless until a flush that never came: 53400
# after 5 s, for every new counter of anyone).
mt_psql -d $db -c "SELECT count(mt.set_quota(id, 'c', 0)) FROM toks" >/dev/null
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
start=$(date +%s)
mt_psql -d $db >/dev/null <<'SQL'
CREATE FUNCTION refused_calls() RETURNS int LANGUAGE plpgsql AS $$
DECLARE r record; refused int := 0;
BEGIN
    FOR r IN SELECT id FROM toks ORDER BY i LOOP
        PERFORM mt.set_tenant(r.id);
        BEGIN
            PERFORM mt.consume('c');
        EXCEPTION WHEN program_limit_exceeded THEN
            refused := refused + 1;
        END;
    END LOOP;
    PERFORM mt.track('after');
    RETURN refused;
END $$;
SQL
out=$(mt_psql -d $db -c "SELECT 'refused ' || refused_calls()" 2>&1) ||
    fail "new counters did not get rows while the table was full of new counters: $out"
grep -q "refused 150" <<<"$out" || fail "expected 150 refused calls: $out"
[ $(( $(date +%s) - start )) -le 30 ] || fail "the refused calls took $(( $(date +%s) - start )) s"
echo "ok: 150 refused calls on new counters and a new metric after them, with no flush to make room ($(( $(date +%s) - start )) s)"
