#!/usr/bin/env bash
# COPY against schema-per-tenant tables, through a real client (psql's
# \copy: COPY ... TO STDOUT / FROM STDIN over the wire), as the application
# role and as the tables' owner:
#  - COPY TO in another tenant's context, or without one, exports nothing;
#    in the tenant's own context exactly its rows;
#  - COPY FROM is refused (PostgreSQL refuses COPY FROM into a table whose
#    row-level security applies to the role: 0A000), also for the owner
#    (FORCE), so nothing can be loaded past the policies; nothing is written.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_tenant_schema_copy
cleanup() {
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS mt_sc_app" \
        -c "DROP ROLE IF EXISTS mt_sc_owner" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

mt_psql -d postgres -c "CREATE DATABASE $db" -c "CREATE ROLE mt_sc_app" -c "CREATE ROLE mt_sc_owner" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme', 'pro')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex', 'pro')")
mt_psql -d $db >/dev/null <<SQL
GRANT CREATE ON DATABASE $db TO mt_sc_owner;
GRANT EXECUTE ON FUNCTION mt.provision_schema(uuid, name, name) TO mt_sc_owner;
CREATE SCHEMA tmpl AUTHORIZATION mt_sc_owner;
SET ROLE mt_sc_owner;
CREATE TABLE tmpl.secrets (id int PRIMARY KEY, secret text NOT NULL);
GRANT USAGE ON SCHEMA tmpl TO mt_sc_app;
GRANT SELECT, INSERT ON tmpl.secrets TO mt_sc_app;
SELECT mt.provision_schema('$acme', 'tmpl');
SELECT mt.provision_schema('$globex', 'tmpl');
RESET ROLE;
BEGIN;
SELECT mt.set_tenant('$acme');
SET LOCAL ROLE mt_sc_app;
INSERT INTO tenant_acme.secrets SELECT g, 'acme-secret-' || g FROM generate_series(1, 25) g;
COMMIT;
SQL

# enter <tenant or empty>: the context (mt.set_tenant, session-wide) is
# entered by the superuser before SET ROLE, as a back office would
enter() { [ -z "$1" ] && echo "SELECT 1;" || echo "SELECT mt.set_tenant('$1', false);"; }

# copy_out <role> <tenant or empty>: rows \copy exports from Acme's table
copy_out() {
    local out
    out=$(printf '%s\n' "$(enter "$2")" "SET ROLE $1;" '\copy tenant_acme.secrets TO STDOUT' |
        mt_psql -d $db) || fail "copy_out $1 $2 failed: $out"
    echo "$out" | grep -c 'acme-secret' || true
}
[ "$(copy_out mt_sc_app '')" = 0 ] || fail "COPY TO without a context exported Acme's rows"
[ "$(copy_out mt_sc_app "$globex")" = 0 ] || fail "COPY TO in Globex's context exported Acme's rows"
[ "$(copy_out mt_sc_owner "$globex")" = 0 ] || fail "COPY TO by the owner in Globex's context exported Acme's rows"
[ "$(copy_out mt_sc_owner '')" = 0 ] || fail "COPY TO by the owner without a context exported Acme's rows"
[ "$(copy_out mt_sc_app "$acme")" = 25 ] || fail "COPY TO in Acme's context: expected its 25 rows"
echo "ok: COPY TO exports only the context's own rows (app role and owner)"

# copy_in <role> <tenant or empty>: the error of loading a row into Acme's table
copy_in() {
    printf '%s\n' "$(enter "$2")" "SET ROLE $1;" '\copy tenant_acme.secrets FROM STDIN' $'900\tplanted' '\.' |
        mt_psql -d $db -v VERBOSITY=verbose 2>&1 >/dev/null || true
}
for who in "mt_sc_app|" "mt_sc_app|$globex" "mt_sc_owner|$globex" "mt_sc_owner|"; do
    out=$(copy_in "${who%%|*}" "${who#*|}")
    grep -q '0A000' <<<"$out" || fail "COPY FROM as ${who%%|*} was not refused with 0A000: $out"
done
out=$(copy_in mt_sc_app "$acme")
grep -q '0A000' <<<"$out" || fail "COPY FROM in Acme's own context was not refused with 0A000: $out"
[ "$(mt_psql -d $db -c "SELECT count(*) FROM tenant_acme.secrets WHERE id = 900")" = 0 ] ||
    fail "a row was loaded by COPY FROM"
echo "ok: COPY FROM into a tenant schema table is refused (0A000) for every role subject to its policies; nothing loaded"
