#!/usr/bin/env bash
# The generated mt_tenant_isolation policy stays RESTRICTIVE on every
# placement of a distributed table: after create_distributed_table, after
# mt.enable_isolation on an already distributed table, and after a shard
# move and a tenant isolation (split).  Citus copies policies to shards
# without AS RESTRICTIVE; were it permissive there, any other permissive
# policy (here support_can_read USING (true)) would show tenant A the rows
# of tenant B, through the coordinator and directly on a worker's shard.
# mt.isolation_status() checks the placements, not only the coordinator's
# table, and reports a placement that lost its policy.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

cleanup() {
    citus_psql 0 -c "DROP TABLE IF EXISTS rp_orders, rp_late" >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

citus_psql 0 >/dev/null <<'SQL'
DROP TABLE IF EXISTS rp_orders, rp_late;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rp_app') THEN CREATE ROLE rp_app LOGIN; END IF;
END $$;
GRANT EXECUTE ON FUNCTION mt.set_tenant(uuid, boolean) TO rp_app;
CREATE TABLE rp_orders (id bigint, tenant_id uuid NOT NULL, item text, PRIMARY KEY (tenant_id, id));
GRANT SELECT, INSERT, UPDATE, DELETE ON rp_orders TO rp_app;
SELECT mt.enable_isolation('rp_orders');
SELECT create_distributed_table('rp_orders', 'tenant_id');
-- a second, harmless-looking permissive policy
CREATE POLICY support_can_read ON rp_orders FOR SELECT USING (true);
SQL
A=$(citus_psql 0 -c "SELECT mt.create_tenant('Placements A', 'rp-a-' || substr(md5(random()::text), 1, 8))")
B=$(citus_psql 0 -c "SELECT mt.create_tenant('Placements B', 'rp-b-' || substr(md5(random()::text), 1, 8))")
citus_psql 0 -c "INSERT INTO rp_orders SELECT g, t, 'item ' || g
    FROM (VALUES ('$A'::uuid), ('$B'::uuid)) v(t), generate_series(1, 20) g" >/dev/null

# every placement and every worker's copy of the table: the generated
# policy is restrictive
check_placements() {   # check_placements <table> <when>
    local bad
    bad=$(citus_psql 0 -c "SELECT string_agg(format('%s:%s %s', nodename, nodeport, result), '; ')
        FROM run_command_on_placements('$1',
            \$\$SELECT coalesce(string_agg(polname || '=' || CASE WHEN polpermissive THEN 'permissive' ELSE 'restrictive' END, ','), 'none')
              FROM pg_policy WHERE polrelid = '%s'::regclass AND polname = 'mt_tenant_isolation'\$\$)
        WHERE result IS DISTINCT FROM 'mt_tenant_isolation=restrictive'")
    [ -z "$bad" ] || fail "$2: placements of $1 without a restrictive mt_tenant_isolation: $bad"
    bad=$(citus_psql 0 -c "SELECT string_agg(format('%s:%s %s', nodename, nodeport, result), '; ')
        FROM run_command_on_workers(\$\$SELECT coalesce(string_agg(CASE WHEN polpermissive THEN 'permissive' ELSE 'restrictive' END, ','), 'none')
              FROM pg_policy WHERE polrelid = '$1'::regclass AND polname = 'mt_tenant_isolation'\$\$)
        WHERE result IS DISTINCT FROM 'restrictive'")
    [ -z "$bad" ] || fail "$2: workers' copies of $1 without a restrictive mt_tenant_isolation: $bad"
}

# tenant A, through the coordinator and directly on the worker holding B's
# shard, sees none of B's rows
check_no_leak() {   # check_no_leak <when>
    local n shard port node
    n=$(citus_psql 0 -U rp_app -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" \
        -c "SELECT count(*) FROM rp_orders WHERE tenant_id = '$B'" -c "COMMIT" | sed -n 2p)
    [ "$n" = 0 ] || fail "$1: tenant A read $n rows of tenant B through the coordinator"
    n=$(citus_psql 0 -U rp_app -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" \
        -c "SELECT count(*) FROM rp_orders" -c "COMMIT" | sed -n 2p)
    [ "$n" = 20 ] || fail "$1: tenant A read $n rows (it has 20) through the coordinator"
    read -r shard port < <(citus_psql 0 -F ' ' -c "SELECT s.shard_name, s.nodeport FROM citus_shards s
        WHERE s.table_name = 'rp_orders'::regclass
          AND s.shardid = get_shard_id_for_distribution_column('rp_orders', '$B'::uuid)")
    node=$(citus_node_of_port "$port")
    [ "$(citus_psql "$node" -c "SELECT count(*) FROM $shard WHERE tenant_id = '$B'")" = 20 ] ||
        fail "$1: B's rows are not on $shard"
    n=$(citus_psql "$node" -U rp_app -c "SELECT count(*) FROM $shard")
    [ "$n" = 0 ] || fail "$1: rp_app read $n rows of shard $shard directly on ${CITUS_NAMES[$node]}"
    n=$(citus_psql "$node" -U rp_app -c "SELECT count(*) FROM rp_orders")
    [ "$n" = 0 ] || fail "$1: rp_app read $n rows through ${CITUS_NAMES[$node]}'s copy of the table"
}

status_ok() {   # status_ok <table>: isolation_status sees no issue
    citus_true 0 "SELECT policies_ok AND issues = '{}' FROM mt.isolation_status() WHERE tbl = '$1'::regclass"
}

check_placements rp_orders "after create_distributed_table"
check_no_leak "after create_distributed_table"
status_ok rp_orders || fail "isolation_status reports issues for rp_orders: $(citus_psql 0 -c "SELECT issues FROM mt.isolation_status() WHERE tbl = 'rp_orders'::regclass")"
echo "ok: restrictive on every placement after distribution, no leak"

# a shard move: the new placement is restrictive too
read -r shardid port < <(citus_psql 0 -F ' ' -c "SELECT shardid, nodeport FROM citus_shards
    WHERE table_name = 'rp_orders'::regclass
      AND shardid = get_shard_id_for_distribution_column('rp_orders', '$B'::uuid)")
to=${CITUS_PORTS[1]}
[ "$port" = "$to" ] && to=${CITUS_PORTS[2]}
citus_psql 0 -c "SELECT citus_move_shard_placement($shardid, '127.0.0.1', $port, '127.0.0.1', $to,
    shard_transfer_mode => 'force_logical')" >/dev/null
check_placements rp_orders "after citus_move_shard_placement"
check_no_leak "after citus_move_shard_placement"
status_ok rp_orders || fail "isolation_status reports issues after the move"
echo "ok: restrictive after a shard move (logical replication)"

# a tenant of its own shard (a split)
citus_psql 0 -c "SELECT isolate_tenant_to_new_shard('rp_orders', '$B'::uuid, 'CASCADE',
    shard_transfer_mode => 'block_writes')" >/dev/null
check_placements rp_orders "after isolate_tenant_to_new_shard"
check_no_leak "after isolate_tenant_to_new_shard"
status_ok rp_orders || fail "isolation_status reports issues after isolate_tenant_to_new_shard"
echo "ok: restrictive after isolate_tenant_to_new_shard"

# isolation_status looks at the placements: one that lost its policy is reported
read -r shard port < <(citus_psql 0 -F ' ' -c "SELECT shard_name, nodeport FROM citus_shards
    WHERE table_name = 'rp_orders'::regclass AND nodeport <> ${CITUS_PORTS[0]} ORDER BY shardid LIMIT 1")
node=$(citus_node_of_port "$port")
citus_psql "$node" -c "SET citus.enable_manual_changes_to_shards = on" \
    -c "SET multitenant.allow_unsafe_ddl = on" \
    -c "DROP POLICY mt_tenant_isolation ON $shard" >/dev/null
status_ok rp_orders && fail "isolation_status does not notice placement $shard without its policy"
citus_psql 0 -c "SELECT array_to_string(issues, '; ') FROM mt.isolation_status() WHERE tbl = 'rp_orders'::regclass" |
    grep -q "$shard" || fail "isolation_status does not name the placement: $(citus_psql 0 -c "SELECT issues FROM mt.isolation_status() WHERE tbl = 'rp_orders'::regclass")"
# mt.enable_isolation repairs it
citus_psql 0 -c "SELECT mt.enable_isolation('rp_orders')" >/dev/null
check_placements rp_orders "after the repair"
status_ok rp_orders || fail "mt.enable_isolation did not repair the placement"
echo "ok: isolation_status reports a placement without its policy; enable_isolation repairs it"

# mt.enable_isolation after create_distributed_table
citus_psql 0 >/dev/null <<'SQL'
CREATE TABLE rp_late (id bigint, tenant_id uuid NOT NULL, item text, PRIMARY KEY (tenant_id, id));
GRANT SELECT, INSERT, UPDATE, DELETE ON rp_late TO rp_app;
SELECT create_distributed_table('rp_late', 'tenant_id');
SELECT mt.enable_isolation('rp_late');
CREATE POLICY support_can_read ON rp_late FOR SELECT USING (true);
SQL
check_placements rp_late "enable_isolation after create_distributed_table"
status_ok rp_late || fail "isolation_status reports issues for rp_late: $(citus_psql 0 -c "SELECT issues FROM mt.isolation_status() WHERE tbl = 'rp_late'::regclass")"
# the default is evaluated on the coordinator: a row inserted in A's context is A's
t=$(citus_psql 0 -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" \
    -c "INSERT INTO rp_late (id, item) VALUES (1, 'x') RETURNING tenant_id" -c "COMMIT" | sed -n 2p)
[ "$t" = "$A" ] || fail "the tenant column default of rp_late did not give A's id (got '$t')"
citus_psql 0 -c "INSERT INTO rp_late VALUES (2, '$B', 'y')" >/dev/null
n=$(citus_psql 0 -U rp_app -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" \
    -c "SELECT count(*) FROM rp_late WHERE tenant_id = '$B'" -c "COMMIT" | sed -n 2p)
[ "$n" = 0 ] || fail "tenant A read $n rows of tenant B in rp_late"
echo "ok: enable_isolation after create_distributed_table"
echo "all ok"
