#!/usr/bin/env bash
# Tenant-scoped queries on a distributed table route to the tenant's shard
# (src/citus_route.c, doc/citus.md "Routing and cost"): with the tenant
# context set, a single-table SELECT, UPDATE or DELETE confined by the isolation policy alone
# (RLS) or by "tenant_id = mt.current_tenant()" (or "mt.current_tenant() =
# tenant_id") runs as one task on the node
# of the tenant's shard, and returns what the hand-written "WHERE tenant_id
# = <tenant>" returns.  Plans cached across tenants (PREPARE, generic plans,
# PL/pgSQL, SQL functions, a table distributed after its first query) route
# to the current tenant's shard; without a context no row comes back;
# queries outside the fast path (joins, subqueries, another tenant named)
# are left alone and still run; multitenant.citus_route_tenant = off
# restores the fan-out to every shard.
#
# The verified context reaches the workers (a coordinator's mt.set_tenant()
# confines the workers' shard queries with the real policies there); the
# test fails if it does not.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

ROLE=rt_app
cleanup() {
    citus_psql 0 -c "DROP TABLE IF EXISTS rt_orders, rt_late, rt_local" \
        -c "DROP FUNCTION IF EXISTS rt_count_plpgsql(), rt_count_sql()" >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

citus_psql 0 >/dev/null <<SQL
DROP TABLE IF EXISTS rt_orders, rt_late, rt_local;
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN CREATE ROLE $ROLE LOGIN; END IF;
END \$\$;
GRANT EXECUTE ON FUNCTION mt.set_tenant(uuid, boolean) TO $ROLE;
CREATE TABLE rt_orders (id bigint, tenant_id uuid NOT NULL, amount numeric NOT NULL,
                        PRIMARY KEY (tenant_id, id));
SELECT mt.enable_isolation('rt_orders');
SELECT create_distributed_table('rt_orders', 'tenant_id');
CREATE POLICY support_can_read ON rt_orders FOR SELECT USING (true);
GRANT SELECT, UPDATE, DELETE ON rt_orders TO $ROLE;
SQL
T=()
for i in 1 2 3 4 5 6; do
    T+=("$(citus_psql 0 -c "SELECT mt.create_tenant('Routing $i', 'rt-$i-' || substr(md5(random()::text), 1, 8))")")
done
A=${T[0]}
B=${T[1]}
for i in 0 1 2 3 4 5; do
    citus_psql 0 -c "INSERT INTO rt_orders SELECT g, '${T[$i]}', g * $((i + 1)) FROM generate_series(1, $((10 + i))) g" >/dev/null
done
# the registry rows on the workers (a worker enters these tenants)
rows=$(citus_psql 0 -c "SELECT string_agg(format('(%L, %L, %L, %L, %L)', id, name, slug, plan, status), ', ')
    FROM mt.tenants WHERE slug LIKE 'rt-%'")
for i in 1 2; do
    citus_psql $i -c "INSERT INTO mt.tenants (id, name, slug, plan, status) VALUES $rows
        ON CONFLICT (id) DO NOTHING" >/dev/null
done

# as the role, in tenant <t>'s context: the statements' last output
as_tenant() {   # as_tenant <tenant or -> <sql>...
    local t=$1 args=()
    shift
    [ "$t" = - ] || args+=(-c "SELECT mt.set_tenant('$t') IS NULL")
    for s in "$@"; do args+=(-c "$s"); done
    citus_psql 0 -U $ROLE -c "BEGIN" "${args[@]}" -c "COMMIT" | { [ "$t" = - ] && cat || sed 1d; }
}
tasks() { grep -o 'Task Count: [0-9]*' | awk '{ print $3 }'; }
node_of() { grep -o 'Node: host=[^ ]* port=[0-9]*' | head -1 | sed 's/.*port=//'; }
port_of_tenant() {
    citus_psql 0 -c "SELECT nodeport FROM citus_shards WHERE table_name = '$1'::regclass
        AND shardid = get_shard_id_for_distribution_column('$1', '$2'::uuid)"
}

n=$(as_tenant "$A" "SELECT count(*) FROM rt_orders WHERE tenant_id = '$A'")
[ "$n" = 10 ] || fail "the tenant context does not reach the workers: $n of A's 10 rows"
echo "the context reaches the workers: real policies on the shards"

# 1. the point read and the aggregate route to A's shard and return A's rows
# (the hand-written filter, run by a superuser, is the reference)
check_routed() {   # check_routed <query in A's context> <hand-written query>
    local got want plan
    plan=$(as_tenant "$A" "EXPLAIN (COSTS OFF) $1")
    [ "$(echo "$plan" | tasks)" = 1 ] || fail "'$1' is not routed to one shard: $plan"
    [ "$(echo "$plan" | node_of)" = "$(port_of_tenant rt_orders "$A")" ] || fail "'$1' runs on the wrong node: $plan"
    want=$(citus_psql 0 -c "$2")
    got=$(as_tenant "$A" "$1")
    [ "$got" = "$want" ] || fail "'$1' in A's context returned '$got', the hand-written filter '$want'"
}
check_routed "SELECT amount FROM rt_orders WHERE id = 7" \
    "SELECT amount FROM rt_orders WHERE tenant_id = '$A' AND id = 7"
check_routed "SELECT count(*), sum(amount) FROM rt_orders" \
    "SELECT count(*), sum(amount) FROM rt_orders WHERE tenant_id = '$A'"
check_routed "SELECT id FROM rt_orders WHERE amount > 3 ORDER BY id DESC LIMIT 3" \
    "SELECT id FROM rt_orders WHERE tenant_id = '$A' AND amount > 3 ORDER BY id DESC LIMIT 3"
check_routed "SELECT count(*), sum(amount) FROM rt_orders WHERE tenant_id = mt.current_tenant()" \
    "SELECT count(*), sum(amount) FROM rt_orders WHERE tenant_id = '$A'"
check_routed "SELECT count(*), sum(amount) FROM rt_orders WHERE mt.current_tenant() = tenant_id" \
    "SELECT count(*), sum(amount) FROM rt_orders WHERE tenant_id = '$A'"
check_routed "SELECT id FROM rt_orders WHERE amount > 3 AND mt.current_tenant() = tenant_id ORDER BY id LIMIT 2" \
    "SELECT id FROM rt_orders WHERE tenant_id = '$A' AND amount > 3 ORDER BY id LIMIT 2"
echo "ok: point read, aggregate, ORDER BY/LIMIT and mt.current_tenant() in WHERE (either side of =) route to A's shard, results as hand-written"

# off: every shard
plan=$(as_tenant "$A" "SET LOCAL multitenant.citus_route_tenant = off" "EXPLAIN (COSTS OFF) SELECT count(*) FROM rt_orders")
[ "$(echo "$plan" | tasks)" = 4 ] || fail "with citus_route_tenant off the query does not run on every shard: $plan"
# no context: no shard, no row
[ "$(as_tenant - "SELECT count(*) FROM rt_orders")" = 0 ] || fail "rows without a tenant context"
plan=$(as_tenant - "EXPLAIN (COSTS OFF) SELECT count(*) FROM rt_orders")
[ "$(echo "$plan" | tasks)" -le 1 ] || fail "without a context the query still asks every shard: $plan"
echo "ok: off runs every shard; no context returns nothing"

# 2. plans kept across tenants in one session
out=$(citus_psql 0 -U $ROLE <<SQL
PREPARE agg AS SELECT count(*) FROM rt_orders;
PREPARE pt(bigint) AS SELECT amount FROM rt_orders WHERE id = \$1;
SET plan_cache_mode = force_generic_plan;
BEGIN; SELECT mt.set_tenant('$A') IS NULL AS entered \gset
EXECUTE agg; EXECUTE agg; EXECUTE agg; EXECUTE agg; EXECUTE agg; EXECUTE agg; EXECUTE pt(7); EXECUTE pt(7);
COMMIT;
BEGIN; SELECT mt.set_tenant('$B') IS NULL AS entered \gset
\echo B
EXECUTE agg; EXECUTE pt(7);
EXPLAIN (COSTS OFF) EXECUTE agg;
COMMIT;
SQL
)
b=$(echo "$out" | sed -n '/^B$/,$p')
[ "$(echo "$b" | sed -n 2p)" = 11 ] || fail "the prepared aggregate in B's context after A's: $out"
[ "$(echo "$b" | sed -n 3p)" = 14 ] || fail "the prepared point read in B's context after A's: $out"
[ "$(echo "$b" | tasks)" = 1 ] && [ "$(echo "$b" | node_of)" = "$(port_of_tenant rt_orders "$B")" ] ||
    fail "the generic plan in B's context is not routed to B's shard: $out"
citus_psql 0 >/dev/null <<'SQL'
CREATE FUNCTION rt_count_plpgsql() RETURNS bigint LANGUAGE plpgsql AS
$$ DECLARE n bigint; BEGIN SELECT count(*) INTO n FROM rt_orders; RETURN n; END $$;
CREATE FUNCTION rt_count_sql() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM rt_orders';
SQL
out=$(citus_psql 0 -U $ROLE <<SQL
BEGIN; SELECT mt.set_tenant('${T[2]}') IS NULL AS entered \gset
SELECT rt_count_plpgsql(), rt_count_sql(); SELECT rt_count_plpgsql(), rt_count_sql();
COMMIT;
BEGIN; SELECT mt.set_tenant('${T[3]}') IS NULL AS entered \gset
SELECT rt_count_plpgsql(), rt_count_sql();
COMMIT;
SQL
)
[ "$out" = "$(printf '12|12\n12|12\n13|13')" ] || fail "PL/pgSQL and SQL functions across tenants: $out"
echo "ok: generic plans, PL/pgSQL and SQL functions follow the tenant of each transaction"

# 3. left alone: other shapes still run, and are not confined by the routing
plan=$(as_tenant "$A" "EXPLAIN (COSTS OFF) SELECT count(*) FROM rt_orders o JOIN rt_orders p USING (tenant_id, id)")
[ "$(echo "$plan" | tasks)" = 4 ] || fail "a join was routed: $plan"
as_tenant "$A" "SELECT count(*) FROM (SELECT * FROM rt_orders) s" >/dev/null
as_tenant "$A" "SELECT count(*) FROM rt_orders o JOIN rt_orders p USING (tenant_id, id)" >/dev/null
plan=$(as_tenant "$A" "EXPLAIN (COSTS OFF) SELECT count(*) FROM rt_orders WHERE tenant_id = '$B'")
[ "$(echo "$plan" | node_of)" = "$(port_of_tenant rt_orders "$B")" ] || fail "a query naming B was routed elsewhere: $plan"
[ "$(as_tenant "$A" "SELECT count(*) FROM rt_orders WHERE tenant_id = '$B'")" = 0 ] || fail "A read B's rows"
[ "$(as_tenant "$A" "SELECT count(*) FROM rt_orders o JOIN rt_orders p USING (tenant_id, id)")" = 10 ] ||
    fail "the join in A's context does not return A's 10 rows"
# a superuser is not confined by the policy: every shard, every row
[ "$(citus_psql 0 -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" -c "SELECT count(*) FROM rt_orders" -c "COMMIT" | sed -n 2p)" = 75 ] ||
    fail "the routing confined a role the policy does not confine"
echo "ok: joins, subqueries, a named tenant and roles outside the policy are left alone"

# 4. a table distributed after its first query; a local isolated table
citus_psql 0 >/dev/null <<SQL
CREATE TABLE rt_late (id bigint, tenant_id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
SELECT mt.enable_isolation('rt_late');
GRANT SELECT ON rt_late TO $ROLE;
CREATE TABLE rt_local (id bigint, tenant_id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
SELECT mt.enable_isolation('rt_local');
GRANT SELECT ON rt_local TO $ROLE;
INSERT INTO rt_late SELECT g, '$A' FROM generate_series(1, 3) g;
INSERT INTO rt_local SELECT g, t FROM generate_series(1, 3) g, (VALUES ('$A'::uuid), ('$B'::uuid)) v(t);
SQL
[ "$(as_tenant "$A" "SELECT count(*) FROM rt_late")" = 3 ] || fail "rt_late before distribution"
citus_psql 0 -c "SELECT create_distributed_table('rt_late', 'tenant_id')" >/dev/null
plan=$(as_tenant "$A" "EXPLAIN (COSTS OFF) SELECT count(*) FROM rt_late")
[ "$(echo "$plan" | tasks)" = 1 ] || fail "rt_late is not routed after create_distributed_table: $plan"
[ "$(as_tenant "$A" "SELECT count(*) FROM rt_late")" = 3 ] || fail "rt_late after distribution"
[ "$(as_tenant "$A" "SELECT count(*) FROM rt_local")" = 3 ] || fail "a local isolated table"
echo "ok: routed once distributed; local tables unchanged"

# 5. writes: UPDATE and DELETE of the tenant's rows run on its shard only
for q in "UPDATE rt_orders SET amount = amount + 1000 WHERE id <= 3" "DELETE FROM rt_orders WHERE id = 10"; do
    plan=$(as_tenant "$A" "EXPLAIN (COSTS OFF) $q")
    [ "$(echo "$plan" | tasks)" = 1 ] && [ "$(echo "$plan" | node_of)" = "$(port_of_tenant rt_orders "$A")" ] ||
        fail "'$q' is not routed to A's shard: $plan"
    as_tenant "$A" "$q" >/dev/null
done
[ "$(citus_psql 0 -c "SELECT count(*) || ' ' || count(*) FILTER (WHERE amount > 1000) || ' ' ||
        count(*) FILTER (WHERE amount > 1000 AND tenant_id = '$A') || ' ' || count(*) FILTER (WHERE tenant_id = '$A')
    FROM rt_orders")" = "74 3 3 9" ] || fail "the routed writes changed other rows than A's 1..3 and 10"
out=$(citus_psql 0 -U $ROLE -v ON_ERROR_STOP=0 -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" \
    -c "UPDATE rt_orders SET tenant_id = '$B' WHERE id = 1" -c "ROLLBACK" 2>&1)
grep -q "ERROR" <<<"$out" || fail "moving a row to another tenant was not refused: $out"
echo "ok: UPDATE and DELETE route to A's shard and change A's rows only"
echo "all ok"
