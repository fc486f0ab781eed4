#!/usr/bin/env bash
# A worker whose multitenant.secret differs from the coordinator's refuses
# the tenant context the coordinator passes: a distributed query in a
# tenant context fails with an error naming the secret (never silently
# returning no rows), and mt.secret_fingerprints() on every node shows the
# different master.  With the same secret again, the query works.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

saved=$MT_ROOT/citus-saved-secret
secret_file=
restore() {
    if [ -f "$saved" ] && [ -n "$secret_file" ]; then
        cp -p "$saved" "$secret_file"
        rm -f "$saved"
        citus_node_stop $W
        citus_node_start $W
    fi
    citus_psql 0 -c "DROP TABLE IF EXISTS sm_orders" >/dev/null 2>&1 || true
    citus_release_cluster
}
trap restore EXIT
citus_use_cluster

citus_psql 0 >/dev/null <<'SQL'
DROP TABLE IF EXISTS sm_orders;
CREATE TABLE sm_orders (id bigint, tenant_id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
SELECT mt.enable_isolation('sm_orders');
SELECT create_distributed_table('sm_orders', 'tenant_id');
SQL
A=$(citus_psql 0 -c "SELECT mt.create_tenant('Mismatch A', 'sm-a-' || substr(md5(random()::text), 1, 8))")
citus_psql 0 -c "INSERT INTO sm_orders SELECT g, '$A' FROM generate_series(1, 10) g" >/dev/null
# the worker that holds A's shard (tenant queries are routed to it alone)
W=$(citus_node_of_port "$(citus_psql 0 -c "SELECT nodeport FROM citus_shards WHERE table_name = 'sm_orders'::regclass
        AND shardid = get_shard_id_for_distribution_column('sm_orders', '$A'::uuid)")")
[ "$W" = 1 ] || [ "$W" = 2 ] || fail "A's shard is not on a worker: $W"
secret_file=$(citus_pgdata $W)/multitenant.secret
query() {
    citus_psql 0 -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" \
        -c "SET LOCAL ROLE sm_reader" -c "SELECT count(*) FROM sm_orders" -c "COMMIT" 2>&1
}
citus_psql 0 -c "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sm_reader') THEN CREATE ROLE sm_reader LOGIN; END IF;
END \$\$" -c "GRANT SELECT ON sm_orders TO sm_reader" >/dev/null
[ "$(query | tail -1)" = 10 ] || fail "the tenant's rows are not visible with the same secret: $(query)"

masters() {
    citus_psql 0 -c "SELECT string_agg(DISTINCT result, ',') FROM run_command_on_all_nodes(
        \$\$SELECT string_agg(DISTINCT master, ',') FROM mt.secret_fingerprints()\$\$)"
}
[ "$(masters | tr ',' '\n' | wc -l)" = 1 ] || fail "the nodes do not report one master secret: $(masters)"

# the worker gets a secret of its own
cp -p "$secret_file" "$saved"
citus_node_stop $W
od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$secret_file"
echo >>"$secret_file"
citus_node_start $W

out=$(query || true)
grep -q "does not verify with this node's multitenant.secret" <<<"$out" ||
    fail "a worker with another secret did not refuse the context clearly: $out"
grep -q "same multitenant.secret" <<<"$out" || fail "the error does not say how to fix it: $out"
[ "$(masters | tr ',' '\n' | wc -l)" = 2 ] || fail "mt.secret_fingerprints() does not show the mismatch: $(masters)"
echo "ok: a worker with another secret refuses the context with a clear error"

cp -p "$saved" "$secret_file"
rm -f "$saved"
citus_node_stop $W
citus_node_start $W
[ "$(query | tail -1)" = 10 ] || fail "the same secret again does not work: $(query)"
echo "ok: with the same secret again the query works"
echo "all ok"
