#!/usr/bin/env bash
# COPY out of a distributed isolated table carries the tenant context to
# the workers, also as the first statement of a session (COPY is a utility
# statement: no executor start on the coordinator hands the context over):
# COPY TO returns exactly the tenant's rows, without a context nothing.
# COPY FROM is refused for a role under row-level security, as PostgreSQL
# refuses it on a plain table (0A000), with or without a context.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

cleanup() {
    citus_psql 0 -c "DROP TABLE IF EXISTS cc_orders" >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

citus_psql 0 >/dev/null <<'SQL'
DROP TABLE IF EXISTS cc_orders;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cc_app') THEN CREATE ROLE cc_app LOGIN; END IF;
END $$;
CREATE TABLE cc_orders (id bigint, tenant_id uuid NOT NULL, item text, PRIMARY KEY (tenant_id, id));
GRANT SELECT, INSERT, UPDATE, DELETE ON cc_orders TO cc_app;
SELECT mt.enable_isolation('cc_orders');
SELECT create_distributed_table('cc_orders', 'tenant_id');
SQL
A=$(citus_psql 0 -c "SELECT mt.create_tenant('Copy A', 'cc-a-' || substr(md5(random()::text), 1, 8))")
B=$(citus_psql 0 -c "SELECT mt.create_tenant('Copy B', 'cc-b-' || substr(md5(random()::text), 1, 8))")
citus_psql 0 -c "INSERT INTO cc_orders SELECT g, t, 'item ' || g
    FROM (VALUES ('$A'::uuid), ('$B'::uuid)) v(t), generate_series(1, 10) g" >/dev/null
TOK=$(citus_psql 0 -c "SELECT mt.tenant_token('$A', '1 hour')")
count_a() { citus_psql 0 -c "SELECT count(*) FROM cc_orders WHERE tenant_id = '$A'"; }

# 1. COPY FROM into a table with row-level security is not supported by
#    PostgreSQL for a role under RLS (0A000, as on a plain table): refused,
#    nothing lands, with or without a context
for opts in "-c multitenant.token=$TOK" ""; do
    if out=$(printf "101\tcopied\n" | PGOPTIONS="$opts" CITUS_USER=cc_app citus_psql 0 \
        -c "COPY cc_orders (id, item) FROM STDIN" 2>&1); then
        fail "COPY FROM into an isolated distributed table was accepted (${opts:-no context})"
    fi
    # (without a context the tenant column's default is NULL: refused first)
    grep -Eq "COPY FROM not supported with row-level security|partition column .* cannot be NULL" <<<"$out" ||
        fail "COPY FROM (${opts:-no context}): unexpected error: $out"
done
[ "$(count_a)" = 10 ] || fail "a refused COPY FROM left rows: A has $(count_a)"
echo "ok: COPY FROM is refused as on a plain table with row-level security"

# 4. COPY TO (first statement): exactly A's rows
out=$(PGOPTIONS="-c multitenant.token=$TOK" CITUS_USER=cc_app citus_psql 0 \
    -c "COPY cc_orders (tenant_id) TO STDOUT" | sort | uniq -c | awk '{print $1 " " $2}')
[ "$out" = "10 $A" ] || fail "COPY TO returned '$out', expected '10 $A'"
out=$(PGOPTIONS="-c multitenant.token=$TOK" CITUS_USER=cc_app citus_psql 0 \
    -c "COPY (SELECT tenant_id FROM cc_orders) TO STDOUT" | sort | uniq -c | awk '{print $1 " " $2}')
[ "$out" = "10 $A" ] || fail "COPY (SELECT ...) TO returned '$out', expected '10 $A'"
echo "ok: COPY TO returns exactly the tenant's rows"

# 5. without a context COPY TO shows nothing
out=$(CITUS_USER=cc_app citus_psql 0 -c "COPY cc_orders TO STDOUT" | wc -l)
[ "$out" = 0 ] || fail "COPY TO without a context returned $out rows"
echo "ok: without a context COPY TO shows nothing"
echo "all ok"
