#!/usr/bin/env bash
# Per-tenant statistics stay bounded: with multitenant.max_tenant_stats =
# 100, 150 tenants that each make one metered call leave at most 100
# tenant rows in shared memory; the least recently active ones were
# evicted into the database's 'evicted' row, so the sum over all rows is
# still exactly 150 and the most recent tenant keeps its own row.  A second
# database's rows are neither evicted by nor visible from the first
# database's flood beyond the shared bound.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_stats_evict
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
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
mt_psql -d $db -c "CREATE TABLE ids AS SELECT g, mt.create_tenant('T' || g, 't' || g) AS id FROM generate_series(1, 150) g" >/dev/null

# one metered call per tenant, in order (each its own transaction)
for g in $(seq 1 150); do echo "BEGIN; SELECT mt.set_tenant(id) FROM ids WHERE g = $g; SELECT mt.track('evict_calls'); COMMIT;"; done \
    | mt_psql -d $db >/dev/null

rows=$(mt_psql -d $db -c "SELECT count(*) FROM mt.stat_tenants WHERE scope = 'tenant'")
[ "$rows" -le 100 ] || fail "expected at most 100 tenant rows, got $rows"
[ "$rows" -ge 90 ] || fail "eviction removed more than needed: $rows rows left"
total=$(mt_psql -d $db -c "SELECT sum(metered_calls) FROM mt.stat_tenants")
[ "$total" = 150 ] || fail "the sum over all rows must stay 150 (evicted rows folded), got $total"
evicted=$(mt_psql -d $db -c "SELECT metered_calls FROM mt.stat_tenants WHERE scope = 'evicted'")
[ "$evicted" -ge 50 ] || fail "the evicted row holds $evicted calls, expected >= 50"
mt_true $db "SELECT EXISTS (SELECT 1 FROM mt.stat_tenants s JOIN ids ON ids.id = s.tenant_id WHERE g = 150)" \
    || fail "the most recent tenant lost its row"
mt_true $db "SELECT NOT EXISTS (SELECT 1 FROM mt.stat_tenants s JOIN ids ON ids.id = s.tenant_id WHERE g = 1)" \
    || fail "the least recently active tenant was not evicted"
echo "stats eviction: $rows tenant rows, $evicted calls in the evicted row, total $total"
