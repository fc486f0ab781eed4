#!/usr/bin/env bash
# Application role: a burned token stays burned, whatever other tenants do.
#
# A token whose text appeared in a statement is refused and burned for the
# rest of its lifetime (other sessions may have read it in
# pg_stat_activity).  The burned list in shared memory is bounded.  Tenant A
# -- who can get as many of its own tokens as its login endpoint hands out
# -- burns more than the list holds, all expiring later than tenant B's
# burned token.  B's burned token must still be refused afterwards: A's
# flood may only evict A's own entries.  Tokens are passed as bound
# parameters (pgbench -M extended binds :tok as $1).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_burned_flood
work=$(mktemp -d)
chmod 755 "$work"

cleanup() {
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS mt_bf_app" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
    -c "DROP ROLE IF EXISTS mt_bf_app" -c "CREATE ROLE mt_bf_app LOGIN" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
a=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
b=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex')")

cat >"$work/enter.sql" <<'SQL'
BEGIN;
SELECT set_config('multitenant.token', :tok, true);
SELECT mt.require_tenant();
COMMIT;
SQL
chmod 644 "$work/enter.sql"
# enter <token>: succeeds only when the token is accepted in the bound form
enter() {
    "$MT_PGBIN/pgbench" -n -M extended -t 1 -U mt_bf_app -D tok="$1" -f "$work/enter.sql" $db \
        >"$work/pgbench.log" 2>&1 && grep -q "actually processed: 1/1" "$work/pgbench.log"
}

# B's token, burned by a literal SET
tok_b=$(mt_psql -d $db -c "SELECT mt.tenant_token('$b', '10 min', 'victim')")
enter "$tok_b" || { cat "$work/pgbench.log"; fail "B's token is not accepted in the bound form"; }
out=$(mt_psql -d $db -U mt_bf_app -c "SET multitenant.token = '$tok_b'" 2>&1 || true)
grep -q "must not appear in the statement text" <<<"$out" || fail "the literal SET was not refused: $out"
! enter "$tok_b" || fail "B's token was not burned"

# A burns 1100 of its own tokens (distinct subjects), all expiring after B's
mt_psql -d $db -c "SELECT 'SET multitenant.token = ''' || mt.tenant_token('$a', '1 hour', 'flood' || g) || ''';'
                   FROM generate_series(1, 1100) g" >"$work/flood.sql"
chmod 644 "$work/flood.sql"
burned=$("$MT_PGBIN/psql" -X -U mt_bf_app -d $db -f "$work/flood.sql" 2>&1 | grep -c "must not appear in the statement text" || true)
[ "$burned" = 1100 ] || fail "expected 1100 of A's tokens refused and burned, got $burned"

! enter "$tok_b" || fail "A's flood of its own burned tokens made B's burned token valid again"
tok_b2=$(mt_psql -d $db -c "SELECT mt.tenant_token('$b', '10 min', 'fresh')")
enter "$tok_b2" || { cat "$work/pgbench.log"; fail "a fresh token of B is refused"; }
echo "ok"
