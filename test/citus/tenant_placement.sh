#!/usr/bin/env bash
# A big tenant gets its own shard and its own node (doc/citus.md, "Giving
# a tenant its own shard"): isolate_tenant_to_new_shard(..., 'CASCADE')
# splits its rows out of the shard it shared, for every co-located table;
# citus_move_shard_placement (logical replication, writes go on) moves that
# shard group to the chosen worker, and the other shards of the group move
# off it.  Afterwards:
#   - the chosen worker holds the tenant's shard group and nothing else of
#     these tables, and a rebalance strategy that pins it keeps it so
#     (Citus's default strategy would move other shards onto it);
#   - isolation is intact: the generated policy is restrictive on every
#     placement, mt.isolation_status() sees no issue, and on the tenant's
#     node another tenant's context reads none of its rows of the shard,
#     even with a second permissive policy on the table;
#   - the tenant's queries through the coordinator route to that node only;
#   - no row was lost or duplicated.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

ROLE=tp_app
cleanup() {
    for i in 1 2; do
        citus_psql $i -c "SET citus.enable_ddl_propagation = off" -c "ALTER ROLE $ROLE NOBYPASSRLS" >/dev/null 2>&1 || true
    done
    citus_psql 0 -c "DELETE FROM pg_dist_rebalance_strategy WHERE name = 'tp_tenant_nodes'" \
        -c "DROP TABLE IF EXISTS tp_items, tp_orders, tp_pinned" \
        -c "DROP FUNCTION IF EXISTS tp_shard_allowed(bigint, int)" >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

citus_psql 0 >/dev/null <<SQL
DELETE FROM pg_dist_rebalance_strategy WHERE name = 'tp_tenant_nodes';
DROP TABLE IF EXISTS tp_items, tp_orders, tp_pinned;
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN CREATE ROLE $ROLE LOGIN; END IF;
END \$\$;
GRANT EXECUTE ON FUNCTION mt.set_tenant(uuid, boolean) TO $ROLE;
CREATE TABLE tp_orders (id bigint, tenant_id uuid NOT NULL, total numeric, PRIMARY KEY (tenant_id, id));
CREATE TABLE tp_items (id bigint, tenant_id uuid NOT NULL, order_id bigint, PRIMARY KEY (tenant_id, id));
SELECT mt.enable_isolation('tp_orders');
SELECT mt.enable_isolation('tp_items');
SELECT create_distributed_table('tp_orders', 'tenant_id');
SELECT create_distributed_table('tp_items', 'tenant_id', colocate_with => 'tp_orders');
CREATE POLICY support_can_read ON tp_orders FOR SELECT USING (true);
GRANT SELECT ON tp_orders, tp_items TO $ROLE;
SQL
BIG=$(citus_psql 0 -c "SELECT mt.create_tenant('Placement big', 'tp-big-' || substr(md5(random()::text), 1, 8))")
S1=$(citus_psql 0 -c "SELECT mt.create_tenant('Placement small', 'tp-s1-' || substr(md5(random()::text), 1, 8))")
citus_psql 0 >/dev/null <<SQL
INSERT INTO tp_orders SELECT g, '$BIG', g FROM generate_series(1, 200) g;
INSERT INTO tp_items SELECT g, '$BIG', g FROM generate_series(1, 400) g;
INSERT INTO tp_orders SELECT g, '$S1', g FROM generate_series(1, 10) g;
-- other tenants everywhere, some sharing BIG's shard
INSERT INTO tp_orders SELECT g, gen_random_uuid(), g FROM generate_series(1, 300) g;
INSERT INTO tp_items SELECT id, tenant_id, id FROM tp_orders WHERE tenant_id NOT IN ('$BIG', '$S1');
SQL
rows=$(citus_psql 0 -c "SELECT string_agg(format('(%L, %L, %L, %L, %L)', id, name, slug, plan, status), ', ')
    FROM mt.tenants WHERE id IN ('$BIG', '$S1')")
for i in 1 2; do
    citus_psql $i -c "INSERT INTO mt.tenants (id, name, slug, plan, status) VALUES $rows ON CONFLICT (id) DO NOTHING" \
        -c "GRANT EXECUTE ON FUNCTION mt.set_tenant(uuid, boolean) TO $ROLE" >/dev/null
done
totals() { citus_psql 0 -c "SELECT (SELECT count(*) || '/' || count(DISTINCT tenant_id) FROM tp_orders) || ' ' ||
    (SELECT count(*) FROM tp_items) || ' ' || (SELECT count(*) FROM tp_orders WHERE tenant_id = '$BIG')"; }
before=$(totals)
big_shard() { citus_psql 0 -c "SELECT get_shard_id_for_distribution_column('$1', '$BIG'::uuid)"; }
port_of() { citus_psql 0 -c "SELECT nodeport FROM citus_shards WHERE shardid = $1"; }
old=$(big_shard tp_orders)
[ "$(citus_psql 0 -c "SELECT count(DISTINCT tenant_id) > 1 FROM tp_orders WHERE tenant_id IN
    (SELECT tenant_id FROM tp_orders WHERE get_shard_id_for_distribution_column('tp_orders', tenant_id) = $old)")" = t ] ||
    fail "BIG does not share its shard before the split"

# 1. its own shard, for every co-located table
S=$(citus_psql 0 -c "SELECT isolate_tenant_to_new_shard('tp_orders', '$BIG'::uuid, 'CASCADE',
    shard_transfer_mode => 'block_writes')")
[ "$S" = "$(big_shard tp_orders)" ] || fail "BIG's rows are not in the new shard $S"
[ "$(citus_psql 0 -c "SELECT shardminvalue = shardmaxvalue FROM pg_dist_shard WHERE shardid = $S")" = t ] ||
    fail "the new shard $S covers more than one hash value"
SI=$(big_shard tp_items)
[ "$(citus_psql 0 -c "SELECT shardminvalue = shardmaxvalue FROM pg_dist_shard WHERE shardid = $SI")" = t ] ||
    fail "tp_items' shard of BIG ($SI) was not split with it"
echo "ok: BIG has its own shard ($S, co-located $SI)"

# 2. its own node: BIG's group moves to the other worker (logical
# replication: writes continue), everything else of the group moves off it
O=$(port_of "$S")
TN=1
[ "$O" = "${CITUS_PORTS[1]}" ] && TN=2
T=${CITUS_PORTS[$TN]}
citus_psql 0 -c "SELECT citus_move_shard_placement($S, '127.0.0.1', $O, '127.0.0.1', $T,
    shard_transfer_mode => 'force_logical')" >/dev/null
[ "$(port_of "$S")" = "$T" ] && [ "$(port_of "$SI")" = "$T" ] || fail "BIG's shard group did not move to ${CITUS_NAMES[$TN]}"
for s in $(citus_psql 0 -c "SELECT shardid FROM citus_shards WHERE table_name = 'tp_orders'::regclass
        AND nodeport = $T AND shardid <> $S"); do
    citus_psql 0 -c "SELECT citus_move_shard_placement($s, '127.0.0.1', $T, '127.0.0.1', $O,
        shard_transfer_mode => 'block_writes')" >/dev/null
done
on_t=$(citus_psql 0 -c "SELECT string_agg(shardid::text, ',' ORDER BY shardid) FROM citus_shards
    WHERE table_name IN ('tp_orders'::regclass, 'tp_items'::regclass) AND nodeport = $T")
[ "$on_t" = "$(echo -e "$S\n$SI" | sort -n | paste -sd,)" ] || fail "${CITUS_NAMES[$TN]} holds $on_t, not only $S,$SI"
[ "$(totals)" = "$before" ] || fail "rows changed: $before before, $(totals) after"
echo "ok: ${CITUS_NAMES[$TN]} holds BIG's shard group only, no row lost or duplicated"

# a rebalance strategy that pins BIG's group to its node and keeps the rest off it
citus_psql 0 >/dev/null <<SQL
CREATE TABLE tp_pinned (shardid bigint PRIMARY KEY, nodeport int NOT NULL);
INSERT INTO tp_pinned VALUES ($S, $T), ($SI, $T);
CREATE FUNCTION tp_shard_allowed(shardid bigint, nodeid int) RETURNS boolean LANGUAGE sql STABLE AS \$\$
    SELECT CASE WHEN EXISTS (SELECT FROM tp_pinned p WHERE p.shardid = \$1)
                THEN EXISTS (SELECT FROM tp_pinned p JOIN pg_dist_node n ON n.nodeport = p.nodeport
                             WHERE p.shardid = \$1 AND n.nodeid = \$2)
                ELSE NOT EXISTS (SELECT FROM tp_pinned p JOIN pg_dist_node n ON n.nodeport = p.nodeport
                                 WHERE n.nodeid = \$2) END
\$\$;
SELECT citus_add_rebalance_strategy('tp_tenant_nodes', 'citus_shard_cost_1', 'citus_node_capacity_1',
                                    'tp_shard_allowed', 0);
SQL
[ "$(citus_psql 0 -c "SELECT count(*) FROM get_rebalance_table_shards_plan('tp_orders') WHERE targetport = $T")" -gt 0 ] ||
    fail "the default strategy would not move shards onto ${CITUS_NAMES[$TN]} (nothing for the pinning to prevent)"
plan=$(citus_psql 0 -c "SELECT count(*) FROM get_rebalance_table_shards_plan('tp_orders', rebalance_strategy := 'tp_tenant_nodes')
    WHERE targetport = $T OR shardid IN ($S, $SI)")
[ "$plan" = 0 ] || fail "the pinning strategy would still move $plan shards onto or off ${CITUS_NAMES[$TN]}"
echo "ok: a pinning rebalance strategy keeps ${CITUS_NAMES[$TN]} for BIG"

# 3. isolation intact
for tbl in tp_orders tp_items; do
    bad=$(citus_psql 0 -c "SELECT string_agg(format('%s:%s %s', nodename, nodeport, result), '; ')
        FROM run_command_on_placements('$tbl',
            \$\$SELECT coalesce(string_agg(CASE WHEN polpermissive THEN 'permissive' ELSE 'restrictive' END, ','), 'none')
              FROM pg_policy WHERE polrelid = '%s'::regclass AND polname = 'mt_tenant_isolation'\$\$)
        WHERE result IS DISTINCT FROM 'restrictive'")
    [ -z "$bad" ] || fail "placements of $tbl without a restrictive mt_tenant_isolation: $bad"
    citus_true 0 "SELECT policies_ok AND issues = '{}' FROM mt.isolation_status() WHERE tbl = '$tbl'::regclass" ||
        fail "isolation_status reports issues for $tbl: $(citus_psql 0 -c "SELECT issues FROM mt.isolation_status() WHERE tbl = '$tbl'::regclass")"
done
shard=$(citus_psql 0 -c "SELECT shard_name FROM citus_shards WHERE shardid = $S")
on_worker() {   # on_worker <tenant or -> <sql>: as the role on BIG's node
    if [ "$1" = - ]; then
        citus_psql $TN -U $ROLE -c "$2"
    else
        citus_psql $TN -U $ROLE -c "BEGIN" -c "SELECT mt.set_tenant('$1') IS NULL" -c "$2" -c "COMMIT" | sed 1d
    fi
}
[ "$(on_worker "$S1" "SELECT count(*) FROM $shard")" = 0 ] || fail "S1 reads BIG's shard on ${CITUS_NAMES[$TN]}"
[ "$(on_worker - "SELECT count(*) FROM $shard")" = 0 ] || fail "no context reads BIG's shard on ${CITUS_NAMES[$TN]}"
[ "$(on_worker "$BIG" "SELECT count(*) FROM $shard")" = 200 ] || fail "BIG does not read its 200 rows on ${CITUS_NAMES[$TN]}"
echo "ok: restrictive on every placement, isolation_status clean, another tenant reads nothing on BIG's node"

# 4. BIG's queries through the coordinator run on its node only
n=$(citus_psql 0 -U $ROLE -c "BEGIN" -c "SELECT mt.set_tenant('$BIG') IS NULL" -c "SELECT count(*) FROM tp_orders WHERE tenant_id = '$BIG'" -c "COMMIT" | sed -n 2p)
if [ "$n" != 200 ]; then   # the context does not reach the workers yet (issue 14 item 2)
    for i in 1 2; do
        citus_psql $i -c "SET citus.enable_ddl_propagation = off" -c "ALTER ROLE $ROLE BYPASSRLS" >/dev/null
    done
fi
for q in "SELECT count(*) FROM tp_orders" "SELECT count(*) FROM tp_items" "SELECT total FROM tp_orders WHERE id = 42"; do
    out=$(citus_psql 0 -U $ROLE -c "BEGIN" -c "SELECT mt.set_tenant('$BIG') IS NULL" -c "EXPLAIN (COSTS OFF) $q" -c "$q" -c "COMMIT")
    grep -q "Task Count: 1" <<<"$out" && grep -q "port=$T " <<<"$out" || fail "'$q' of BIG is not routed to ${CITUS_NAMES[$TN]} only: $out"
done
[ "$(citus_psql 0 -U $ROLE -c "BEGIN" -c "SELECT mt.set_tenant('$BIG') IS NULL" -c "SELECT count(*) FROM tp_items" -c "COMMIT" | sed -n 2p)" = 400 ] ||
    fail "BIG does not read its 400 items through the coordinator"
echo "ok: BIG's queries through the coordinator run on ${CITUS_NAMES[$TN]} only"
echo "all ok"
