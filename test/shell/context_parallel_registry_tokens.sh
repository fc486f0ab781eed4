#!/usr/bin/env bash
# Parallel query under a token whose check reads the registry: a token of a
# rotated server key (its kid names a version of mt.secret_versions) and a
# token naming its tenant by slug.  Each parallel worker restores the
# leader's multitenant.token, and its check hook runs before PostgreSQL
# restores the leader's transaction_deferrable; a registry read there that
# took the transaction's first snapshot made every worker fail with 25001
# ("SET TRANSACTION [NOT] DEFERRABLE must be called before any query"), so
# no query of such a session could run in parallel.  Both must count
# exactly the tenant's rows with workers launched, the cached check (the
# token set a second time) included; a token of the server's first key
# version (no kid) is the control.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

work=$(mktemp -d)
chmod 755 "$work"
db=mt_parallel_registry
cluster_settings_save
trap 'rm -rf "$work"; mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS mt_par_app" >/dev/null 2>&1 || true; cluster_settings_restore reload' EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS mt_par_app" \
    -c "CREATE ROLE mt_par_app" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme-par')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex-par')")
mt_psql -d $db >/dev/null <<SQL
CREATE TABLE public.par_items (id int, tenant_id uuid NOT NULL, payload text);
SELECT mt.enable_isolation('public.par_items');
INSERT INTO public.par_items
SELECT g, CASE WHEN g % 4 = 0 THEN '$globex'::uuid ELSE '$acme'::uuid END, 'row ' || g
FROM generate_series(1, 200000) g;
ANALYZE public.par_items;
GRANT SELECT ON public.par_items TO mt_par_app;
SQL

# one session: enter the token (twice: the second check is the cached one),
# then a parallel count as a role under RLS; prints "<workers> <count>"
# per entry
count_with() {   # count_with <token>
    cat >"$work/q.sql" <<'SQL'
\set ON_ERROR_STOP 1
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
\i sql/include/workers_launched.psql
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS e \gset
SET ROLE mt_par_app;
SELECT pg_temp.workers_launched('SELECT count(*) FROM public.par_items') || ' ' ||
       (SELECT count(*) FROM public.par_items);
RESET ROLE;
SELECT set_config('multitenant.token', '', false) IS NOT NULL AS e \gset
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS e \gset
SET ROLE mt_par_app;
SELECT pg_temp.workers_launched('SELECT count(*) FROM public.par_items') || ' ' ||
       (SELECT count(*) FROM public.par_items);
SQL
    PGOPTIONS="-c test.tok=$1" mt_psql -d $db -f "$work/q.sql" 2>&1 || true
}
expect_tenant_rows() {   # expect_tenant_rows <what> <output>
    local n
    n=$(grep -cE '^[1-9][0-9]* 150000$' <<<"$2" || true)
    [ "$n" = 2 ] || fail "$1: expected a parallel count of the tenant's 150000 rows twice, got: $2"
    echo "ok: $1: parallel workers count exactly the tenant's rows (fresh and cached check)"
}

# control: version 1 of the server's token key (no kid)
tok=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min')")
expect_tenant_rows "token of the first key version" "$(count_with "$tok")"

# a rotated server key: the token's kid names version 2 of mt.secret_versions
mt_psql -d $db -c "SELECT mt.rotate_secret('token')" >/dev/null
tok=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min')")
kid=$(cut -d. -f1 <<<"$tok" | tr '_-' '/+' | base64 -d 2>/dev/null || true)
grep -c '"kid":"mt2\.' <<<"$kid" >/dev/null || fail "the rotated key's token has no kid of version 2: $kid"
expect_tenant_rows "token of a rotated key version (kid)" "$(count_with "$tok")"

# a token naming its tenant by slug (signed with multitenant.jwt_secret)
secret='parallel-registry-secret-0123456789abcdef'
printf %s "$secret" >"$work/secret"
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwt_secret = '$secret'" >/dev/null
cluster_reload_wait
tok=$(/usr/bin/python3 test/jwt_mint.py hs256 "$work/secret" \
      "{\"tid\":\"acme-par\",\"sub\":\"ann\",\"exp\":$(( $(date +%s) + 600 ))}")
expect_tenant_rows "token naming its tenant by slug" "$(count_with "$tok")"
