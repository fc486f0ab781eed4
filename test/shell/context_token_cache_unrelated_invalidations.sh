#!/usr/bin/env bash
# A relcache invalidation of a relation that is not a registry table
# (another session creating and dropping temporary tables in the same
# database, autovacuum updating the catalogs' statistics) does not empty a
# session's verified-token cache, not even while that session verifies its
# very first token: the backend learns which tables it watches when it
# starts counting their invalidations (tenant_status.c).  Before that fix
# about half of these sessions found their first token forgotten by the
# time they set a second one (the cache's memory held one token, not two);
# here all twenty sessions must hold two.  A registry change (a new API
# key) in the same database still empties it.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_cache_unrelated
churn=
trap '[ -z "$churn" ] || kill "$churn" 2>/dev/null; wait 2>/dev/null
      mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme-unrelated')")
t1=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min', 'user-one', NULL)")
t2=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min', 'user-two', NULL)")

# another session: temporary tables created and dropped without pause
for i in $(seq 1 20000); do echo "CREATE TEMP TABLE churn_$i (a int); DROP TABLE churn_$i;"; done |
    mt_psql -d $db >/dev/null 2>&1 &
churn=$!
sleep 0.5

session() {   # the bytes the token cache uses after t1, then after t2
    PGOPTIONS="-c test.t1=$t1 -c test.t2=$t2" mt_psql -d $db <<'SQL'
CREATE TEMP VIEW cache_bytes AS
    SELECT coalesce(sum(used_bytes), 0) AS b FROM pg_backend_memory_contexts
    WHERE name = 'multitenant token cache';
SELECT set_config('multitenant.token', current_setting('test.t1'), false) IS NOT NULL AS a \gset
SELECT b FROM cache_bytes;
SELECT set_config('multitenant.token', current_setting('test.t2'), false) IS NOT NULL AS a \gset
SELECT b FROM cache_bytes;
SQL
}
forgot=0
for s in $(seq 1 20); do
    read -r one two <<<"$(session | tr '\n' ' ')"
    [ -n "$one" ] && [ -n "$two" ] && [ "$one" -gt 0 ] || fail "no cache sizes from session $s: '$one' '$two'"
    [ "$two" -gt "$one" ] || forgot=$((forgot + 1))
done
kill -0 "$churn" 2>/dev/null || fail "the churning session ended before the twenty sessions did"
[ "$forgot" = 0 ] || fail "$forgot of 20 sessions forgot their first token while another session churned temporary tables"
echo "ok: 20 sessions kept their tokens cached while another session created and dropped temporary tables"

# a registry change in the same database still empties the cache
out=$(PGOPTIONS="-c test.t1=$t1 -c test.t2=$t2" mt_psql -d $db <<SQL
CREATE TEMP VIEW cache_bytes AS
    SELECT coalesce(sum(used_bytes), 0) AS b FROM pg_backend_memory_contexts
    WHERE name = 'multitenant token cache';
SELECT set_config('multitenant.token', current_setting('test.t1'), false) IS NOT NULL AS a \gset
RESET multitenant.token;
SELECT set_config('multitenant.token', current_setting('test.t2'), false) IS NOT NULL AS a \gset
SELECT 'two ' || b FROM cache_bytes;
RESET multitenant.token;
SELECT mt.create_api_key('$acme', 'new', '{read}') IS NOT NULL AS a \gset
SELECT set_config('multitenant.token', current_setting('test.t1'), false) IS NOT NULL AS a \gset
SELECT 'after_change ' || b FROM cache_bytes;
SQL
)
two=$(awk '$1 == "two" { print $2 }' <<<"$out")
after=$(awk '$1 == "after_change" { print $2 }' <<<"$out")
[ -n "$two" ] && [ -n "$after" ] || fail "missing output: $out"
[ "$after" -lt "$two" ] || fail "a new API key did not empty the token cache ($two -> $after)"
echo "ok: a registry change still empties it ($two -> $after)"
