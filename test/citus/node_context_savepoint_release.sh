#!/usr/bin/env bash
# A tenant context that ends inside a subtransaction (SAVEPOINT ... RESET
# ... RELEASE, or a PL/pgSQL block with an EXCEPTION clause) must end on
# the workers too.  Citus keeps SET LOCAL commands per subtransaction and,
# when one ends (commit or abort), goes back to its parent's list: the
# parent's "SET LOCAL multitenant.node_context TO '<tenant A>'" is sent
# again with the BEGIN of every worker connection opened later in the
# transaction, while the coordinator has no context.  Those connections
# must get the empty value.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

cleanup() {
    citus_psql 0 -c "DROP TABLE IF EXISTS ncs_orders" >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

citus_psql 0 >/dev/null <<'SQL'
DROP TABLE IF EXISTS ncs_orders;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ncs_app') THEN CREATE ROLE ncs_app LOGIN; END IF;
END $$;
GRANT EXECUTE ON FUNCTION mt.set_tenant(uuid, boolean) TO ncs_app;
CREATE TABLE ncs_orders (id bigint, tenant_id uuid NOT NULL, item text, PRIMARY KEY (tenant_id, id));
GRANT SELECT ON ncs_orders TO ncs_app;
SELECT mt.enable_isolation('ncs_orders');
SELECT create_distributed_table('ncs_orders', 'tenant_id');
SQL
A=$(citus_psql 0 -c "SELECT mt.create_tenant('Savepoint A', 'ncs-a-' || substr(md5(random()::text), 1, 8))")
citus_psql 0 -c "INSERT INTO ncs_orders SELECT g, '$A', 'item ' || g FROM generate_series(1, 20) g" >/dev/null
# a tenant id whose shard is on the other worker than A's: reading it opens
# a connection to that worker only
other=$(citus_psql 0 -c "SELECT u FROM (SELECT gen_random_uuid() u FROM generate_series(1, 200)) s
    JOIN citus_shards c ON c.shardid = get_shard_id_for_distribution_column('ncs_orders', u)
    WHERE c.table_name = 'ncs_orders'::regclass AND c.nodeport <> (SELECT nodeport FROM citus_shards
        WHERE shardid = get_shard_id_for_distribution_column('ncs_orders', '$A'::uuid)) LIMIT 1")
[ -n "$other" ] || fail "no tenant id on the other worker"

for how in "SAVEPOINT s; SELECT set_config('multitenant.token', '', true) IS NULL;
SELECT count(*) FROM ncs_orders WHERE tenant_id = '$other'; RELEASE s;" \
    "DO \$\$ BEGIN PERFORM set_config('multitenant.token', '', true);
PERFORM count(*) FROM ncs_orders WHERE tenant_id = '$other';
EXCEPTION WHEN division_by_zero THEN NULL; END \$\$;"; do
    out=$(CITUS_USER=ncs_app citus_psql 0 <<SQL
BEGIN;
SELECT mt.set_tenant('$A') IS NULL;
SELECT count(*) FROM ncs_orders WHERE tenant_id = '$other';
$how
SELECT 'ctx=' || (mt.current_tenant() IS NOT NULL);
SELECT 'rows=' || count(*) FROM ncs_orders;
COMMIT;
SQL
)
    [ "$(echo "$out" | grep '^ctx=')" = "ctx=false" ] || fail "the context did not end on the coordinator: $out"
    [ "$(echo "$out" | grep '^rows=')" = "rows=0" ] ||
        fail "a context ended in a subtransaction still confines a new worker connection to tenant A ($(echo "$out" | grep '^rows=') of 20): $how"
done
echo "ok: a context ended in a released savepoint or an exception block ends on every worker connection"

# a context that changes in a subtransaction still follows
out=$(CITUS_USER=ncs_app citus_psql 0 <<SQL
BEGIN;
SELECT count(*) FROM ncs_orders WHERE tenant_id = '$other';
SAVEPOINT s;
SELECT mt.set_tenant('$A') IS NULL;
SELECT count(*) FROM ncs_orders WHERE tenant_id = '$other';
RELEASE s;
SELECT 'rows=' || count(*) FROM ncs_orders;
COMMIT;
SQL
)
[ "$(echo "$out" | grep '^rows=')" = "rows=20" ] || fail "a context entered in a released savepoint did not reach a new connection: $out"
echo "ok: a context entered in a released savepoint reaches new connections"
echo "all ok"
