#!/usr/bin/env bash
# mt.move_tenant(tenant, 'shard', target => 'host:port'): the tenant gets
# its own shard in every co-located isolated table
# (isolate_tenant_to_new_shard ... 'CASCADE') and that shard group moves
# to the target worker (citus_move_shard_placement); the registry says
# level shard on that node, tenant.moved is in the chain (it verifies),
# no row is lost or duplicated, the tenant's rows are in the new shard
# alone, isolation is intact on every placement.  Bad input: a plan
# without the shard level (55000), a target that is not host:port
# (22023) or not a node (42704), a tenant already at the level (55000).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

cleanup() {
    citus_psql 0 -c "DROP TABLE IF EXISTS tm_items, tm_orders" >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

citus_psql 0 >/dev/null <<SQL
DROP TABLE IF EXISTS tm_items, tm_orders;
CREATE TABLE tm_orders (id bigint, tenant_id uuid NOT NULL, total numeric, PRIMARY KEY (tenant_id, id));
CREATE TABLE tm_items (id bigint, tenant_id uuid NOT NULL, order_id bigint, PRIMARY KEY (tenant_id, id));
SELECT mt.enable_isolation('tm_orders');
SELECT mt.enable_isolation('tm_items');
SELECT create_distributed_table('tm_orders', 'tenant_id');
SELECT create_distributed_table('tm_items', 'tenant_id', colocate_with => 'tm_orders');
SQL
BIG=$(citus_psql 0 -c "SELECT mt.create_tenant('Move big', 'tm-big-' || substr(md5(random()::text), 1, 8), 'enterprise')")
PRO=$(citus_psql 0 -c "SELECT mt.create_tenant('Move pro', 'tm-pro-' || substr(md5(random()::text), 1, 8), 'pro')")
citus_psql 0 >/dev/null <<SQL
INSERT INTO tm_orders SELECT g, '$BIG', g FROM generate_series(1, 200) g;
INSERT INTO tm_items SELECT g, '$BIG', g FROM generate_series(1, 400) g;
INSERT INTO tm_orders SELECT g, gen_random_uuid(), g FROM generate_series(1, 300) g;
INSERT INTO tm_items SELECT id, tenant_id, id FROM tm_orders WHERE tenant_id <> '$BIG';
SQL
totals() { citus_psql 0 -c "SELECT (SELECT count(*) || '/' || count(DISTINCT tenant_id) FROM tm_orders) || ' ' ||
    (SELECT count(*) FROM tm_items) || ' ' || (SELECT md5(string_agg(id || ':' || total, ',' ORDER BY id)) FROM tm_orders WHERE tenant_id = '$BIG')"; }
before=$(totals)
chain=$(citus_psql 0 -c "SELECT rows_checked FROM mt.audit_verify('$BIG')")
shard_of() { citus_psql 0 -c "SELECT get_shard_id_for_distribution_column('$1', '$BIG'::uuid)"; }
old=$(shard_of tm_orders)
O=$(citus_psql 0 -c "SELECT nodeport FROM citus_shards WHERE shardid = $old")
TN=1; [ "$O" = "${CITUS_PORTS[1]}" ] && TN=2
T=${CITUS_PORTS[$TN]}

sqlstate() {   # sqlstate <sql>: the SQLSTATE it fails with (empty if it succeeds)
    citus_psql 0 -v VERBOSITY=verbose -c "\\set VERBOSITY verbose" -c "$1" 2>&1 >/dev/null |
        sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -1
}
[ "$(sqlstate "SELECT * FROM mt.move_tenant('$PRO', 'shard')")" = 55000 ] || fail "a plan without the shard level was not refused with 55000"
[ "$(sqlstate "SELECT * FROM mt.move_tenant('$BIG', 'shard', 'no-port')")" = 22023 ] || fail "a target without a port was not refused with 22023"
[ "$(sqlstate "SELECT * FROM mt.move_tenant('$BIG', 'shard', '127.0.0.1:1')")" = 42704 ] || fail "a target that is no node was not refused with 42704"
[ "$(citus_psql 0 -c "SELECT level FROM mt.tenant_placement('$BIG')")" = shared ] || fail "a refused move changed the placement"
[ "$(shard_of tm_orders)" = "$old" ] || fail "a refused move split the shard"
echo "ok: bad input refused, nothing changed"

report=$(citus_psql 0 -c "SELECT item || ' ' || coalesce(detail, '') FROM mt.move_tenant('$BIG', 'shard', '127.0.0.1:$T')")
echo "$report" | sed 's/^/  /'
S=$(shard_of tm_orders); SI=$(shard_of tm_items)
[ "$S" != "$old" ] || fail "BIG still in its old shard $old"
[ "$(citus_psql 0 -c "SELECT bool_and(shardminvalue = shardmaxvalue) FROM pg_dist_shard WHERE shardid IN ($S, $SI)")" = t ] ||
    fail "BIG's new shards cover more than its hash value"
[ "$(citus_psql 0 -c "SELECT string_agg(DISTINCT nodeport::text, ',') FROM citus_shards WHERE shardid IN ($S, $SI)")" = "$T" ] ||
    fail "BIG's shard group is not on ${CITUS_NAMES[$TN]}"
[ "$(citus_psql 0 -c "SELECT level || ' ' || host || ':' || port FROM mt.tenant_placement('$BIG')")" = "shard 127.0.0.1:$T" ] ||
    fail "registry: $(citus_psql 0 -c "SELECT * FROM mt.tenant_placement('$BIG')")"
[ "$(totals)" = "$before" ] || fail "rows changed: $before before, $(totals) after"
[ "$(citus_psql 0 -c "SELECT ok AND rows_checked = $chain + 1 FROM mt.audit_verify('$BIG')")" = t ] || fail "the chain does not verify with tenant.moved"
[ "$(citus_psql 0 -c "SELECT details->>'to' || ' ' || (details->>'shards' IS NOT NULL) FROM mt.audit_log WHERE tenant_id = '$BIG' ORDER BY seq DESC LIMIT 1")" = "shard true" ] ||
    fail "tenant.moved does not name the level and shards"
for tbl in tm_orders tm_items; do
    citus_true 0 "SELECT policies_ok AND issues = '{}' FROM mt.isolation_status() WHERE tbl = '$tbl'::regclass" ||
        fail "isolation_status reports issues for $tbl"
done
echo "ok: BIG has its own shard group ($S, $SI) on ${CITUS_NAMES[$TN]}, recorded; rows and chain intact"
[ "$(sqlstate "SELECT * FROM mt.move_tenant('$BIG', 'shard')")" = 55000 ] || fail "a second move to the shard level was not refused with 55000"
echo "ok: already at the shard level: 55000"
