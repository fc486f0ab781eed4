#!/usr/bin/env bash
# The Citus suite's cluster is the documented setup (doc/citus.md): every
# node preloads citus before multitenant, CREATE EXTENSION multitenant on
# the coordinator reaches both workers at the coordinator's version, and a
# table distributed by its tenant column has placements on both workers.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

cleanup() {
    citus_psql 0 -c "DROP TABLE IF EXISTS cs_items" >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

version=$(citus_psql 0 -c "SELECT extversion FROM pg_extension WHERE extname = 'multitenant'")
[ -n "$version" ] || fail "multitenant is not installed on the coordinator"
for i in 0 1 2; do
    [ "$(citus_psql $i -c "SHOW shared_preload_libraries")" = "citus,multitenant" ] ||
        fail "${CITUS_NAMES[$i]} does not preload 'citus,multitenant'"
    [ "$(citus_psql $i -c "SELECT extversion FROM pg_extension WHERE extname = 'multitenant'")" = "$version" ] ||
        fail "${CITUS_NAMES[$i]} does not have multitenant $version"
done
[ "$(citus_psql 0 -c "SELECT count(*) FROM citus_get_active_worker_nodes()")" = 2 ] ||
    fail "the coordinator does not see two workers"

citus_psql 0 >/dev/null <<'SQL'
DROP TABLE IF EXISTS cs_items;
CREATE TABLE cs_items (id bigint, tenant_id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('cs_items', 'tenant_id');
SQL
[ "$(citus_psql 0 -c "SELECT count(DISTINCT nodeport) FROM citus_shards WHERE table_name = 'cs_items'::regclass")" = 2 ] ||
    fail "cs_items is not spread over both workers"
echo "all ok"
