#!/usr/bin/env bash
# Issue 15: a point read through a schema-per-tenant table (forced RLS, the
# generated policies bound to the schema's tenant) costs what the same read
# in a plain unprotected schema costs (ratio >= 0.95).  Both transactions
# enter the tenant's context the same way (SET LOCAL of its token), so the
# ratio is the cost of the protection of the schema level; a second line
# compares with the plain read under an unverified GUC (what an application
# without the extension would run).  10 tenants, 100,000 rows each, one
# pgbench script per tenant, picked at random.  Runs as a non-superuser
# role (superusers bypass RLS).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
db=bench_isolation_schema
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -f "$here/setup.sql" >/dev/null

schema_args=(); plain_args=(); guc_args=()
for i in $(seq 10); do
    cat >"$work/schema_$i.sql" <<SQL
\set id random(1, 100000)
BEGIN;
SELECT set_config('multitenant.token', token, true) FROM bench_tenants WHERE i = $i;
SELECT amount, payload FROM tenant_s$i.items WHERE id = :id;
END;
SQL
    cat >"$work/plain_$i.sql" <<SQL
\set id random(1, 100000)
BEGIN;
SELECT set_config('multitenant.token', token, true) FROM bench_tenants WHERE i = $i;
SELECT amount, payload FROM plain_$i.items WHERE id = :id;
END;
SQL
    cat >"$work/guc_$i.sql" <<SQL
\set id random(1, 100000)
BEGIN;
SELECT set_config('app.tenant_id', tid::text, true) FROM bench_tenants WHERE i = $i;
SELECT amount, payload FROM plain_$i.items WHERE id = :id;
END;
SQL
    [ "$i" = 1 ] && continue     # the first script is tps's own argument
    schema_args+=(-f "$work/schema_$i.sql@1"); plain_args+=(-f "$work/plain_$i.sql@1"); guc_args+=(-f "$work/guc_$i.sql@1")
done

# sanity: in its context the tenant reads its row through the primary key;
# another tenant's context reads nothing
q() { mt_psql -U mt_bench_app -d $db -c "BEGIN" -c "SELECT set_config('multitenant.token', token, true) IS NOT NULL FROM bench_tenants WHERE i = $1" \
        -c "$2" -c "END" | sed -n 2p; }
[ "$(q 3 "SELECT count(*) FROM tenant_s3.items WHERE id = 42")" = 1 ] || { echo "the tenant does not read its row"; exit 1; }
[ "$(q 4 "SELECT count(*) FROM tenant_s3.items WHERE id = 42")" = 0 ] || { echo "another tenant reads the row"; exit 1; }
plan=$(mt_psql -U mt_bench_app -d $db -c "BEGIN" -c "SELECT set_config('multitenant.token', token, true) IS NOT NULL FROM bench_tenants WHERE i = 3" \
        -c "EXPLAIN (COSTS OFF) SELECT amount, payload FROM tenant_s3.items WHERE id = 42" -c "END")
grep -q "Index Scan using items_pkey" <<<"$plan" || { echo "no primary-key index scan: $plan"; exit 1; }

schema=0; plain=0
for _ in $(seq "$BENCH_ROUNDS"); do
    p=$(tps $db "$work/plain_1.sql@1" "${plain_args[@]}" -U mt_bench_app)
    s=$(tps $db "$work/schema_1.sql@1" "${schema_args[@]}" -U mt_bench_app)
    plain=$(awk -v a="$plain" -v b="$p" 'BEGIN { print (b > a) ? b : a }')
    schema=$(awk -v a="$schema" -v b="$s" 'BEGIN { print (b > a) ? b : a }')
done
guc=$(tps $db "$work/guc_1.sql@1" "${guc_args[@]}" -U mt_bench_app)
ratio_line "isolation_schema: tenant schema vs plain schema, point read" "$schema" "$plain" 0.95
ratio_line "isolation_schema: tenant schema vs plain read, unverified GUC" "$schema" "$guc" -
