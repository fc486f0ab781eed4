#!/usr/bin/env bash
# mt.authenticate keeps, per key, a handle on its tenant's statistics row
# (and api_calls counter) in shared memory and skips the hash lookup while
# the row is still the one it found.  A row evicted and reused for another
# tenant no longer matches: the next authentication counts in its own
# tenant's new row, never in the row that took its place.  With
# multitenant.max_tenant_stats = 100, backend A authenticates tenant 1's key
# twice (the second time it finds the row, so the handle is set), then 149
# other tenants count one metered call each: tenant 1 is the least recently
# active, its row is evicted and its memory goes to a newer tenant; then A
# authenticates again (its flush finds the new row and hands it to the
# key's handle), and once more through the renewed handle.  The api_calls
# usage of tenant 1 stays exact (4).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_stats_handle
cleanup() {
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    cluster_settings_restore restart
}
cluster_settings_save
trap cleanup EXIT

cluster_conf multitenant.max_tenant_stats 100
cluster_restart
[ "$(mt_psql -d postgres -c "SHOW multitenant.max_tenant_stats")" = 100 ] || fail "max_tenant_stats not applied"

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" -c "CREATE EXTENSION dblink" >/dev/null
mt_psql -d $db -c "CREATE TABLE ids AS SELECT g, mt.create_tenant('T' || g, 't' || g) AS id FROM generate_series(1, 150) g" >/dev/null

out=$(mt_psql -d $db -v ON_ERROR_STOP=1 <<'SQL'
\set QUIET 1
SELECT mt.create_api_key(id, 'k') AS key FROM ids WHERE g = 1 \gset
SELECT format('host=127.0.0.1 port=%s dbname=%s user=%s', current_setting('port'), current_database(), current_user) AS tcp \gset
SELECT dblink_connect('a', :'tcp') AS ok \gset
SELECT t FROM dblink('a', format('SELECT mt.authenticate(%L)', :'key')) AS r (t uuid) \gset
SELECT t FROM dblink('a', format('SELECT mt.authenticate(%L)', :'key')) AS r (t uuid) \gset
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT id FROM ids WHERE g > 1 ORDER BY g LOOP
        PERFORM mt.set_tenant(r.id);
        PERFORM mt.track('evict_calls');
    END LOOP;
END $$;
SELECT t FROM dblink('a', format('SELECT mt.authenticate(%L)', :'key')) AS r (t uuid) \gset
SELECT t FROM dblink('a', format('SELECT mt.authenticate(%L)', :'key')) AS r (t uuid) \gset
SELECT dblink_disconnect('a') AS ok \gset
\set QUIET 0
SELECT (SELECT count(*) FROM mt.stat_tenants s JOIN ids ON ids.id = s.tenant_id WHERE g = 1 AND s.auth_ok = 2)
    || ' ' || (SELECT sum(auth_ok) FROM mt.stat_tenants)
    || ' ' || (SELECT count(*) FROM mt.stat_tenants s JOIN ids ON ids.id = s.tenant_id WHERE g > 1 AND s.auth_ok > 0)
    || ' ' || (SELECT sum(metered_calls) FROM mt.stat_tenants)
    || ' ' || (SELECT count(*) FROM mt.stat_tenants WHERE scope = 'tenant');
SQL
)
read -r own sum others metered rows <<<"$out"
[ "$rows" -le 100 ] || fail "the table holds $rows tenant rows (max 100): nothing was evicted"
[ "$metered" = 149 ] || fail "metered calls: $metered, expected 149"
[ "$others" = 0 ] || fail "an authentication of tenant 1 was counted in another tenant's row ($others rows)"
[ "$own" = 1 ] || fail "tenant 1's new row does not hold its third and fourth authentications"
[ "$sum" = 4 ] || fail "authentications over all rows: $sum, expected 4 (two folded into the evicted row)"
calls=$(mt_psql -d $db -c "SELECT used FROM ids, mt.usage(ids.id, 'day') u WHERE g = 1 AND u.metric = 'api_calls'")
[ "$calls" = 4 ] || fail "tenant 1's api_calls: $calls, expected 4"
echo "stats handle: own row $own, sum $sum, other rows with authentications $others, $rows tenant rows"
