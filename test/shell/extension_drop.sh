#!/usr/bin/env bash
# Removing the extension (doc/operations.md, "Removing the extension"):
#   1. DROP EXTENSION multitenant [CASCADE], DROP SCHEMA mt CASCADE and
#      DROP OWNED BY the extension owner are refused (2BP01, the detail
#      counts what would be lost, the hint names the setting and the
#      backup) while tenants exist; other DDL and a database without
#      tenants are not affected; only a superuser's SET in the session
#      turns multitenant.allow_drop_extension on;
#   2. with the setting the drop happens, and leaves exactly what the
#      documentation lists: user tables and their rows, RLS enabled and
#      forced without policies (fail closed), the tenant column without
#      its default, its index, an empty schema mt, the secret file; no
#      event trigger, policy, trigger or function of the extension, no
#      usage counter of the old installation (counts made after the backup
#      do not come back);
#   3. CREATE EXTENSION multitenant works again, the extension's data comes
#      back from the dump taken before (pg_restore --data-only --schema=mt)
#      and mt.enable_isolation re-isolates the tables.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_extension_drop
fresh=mt_extension_drop_fresh
owner=mt_drop_owner
app=mt_drop_app
tmp=$(mktemp -d)
chmod 755 "$tmp"
drop_objects() {
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP DATABASE IF EXISTS $fresh" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP ROLE IF EXISTS $app" -c "DROP ROLE IF EXISTS $owner" >/dev/null 2>&1 || true
}
trap 'drop_objects; rm -rf "$tmp"' EXIT
drop_objects
q() { mt_psql -d $db "$@"; }
# refused <sql> <what>: the statement fails with 2BP01 and nothing changes
refused() {
    local out
    if out=$(PGOPTIONS="-c client_min_messages=warning" "$MT_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
        -d $db -c "$1" 2>&1); then
        fail "$2 was not refused: $out"
    fi
    grep -q "ERROR:  2BP01: cannot drop extension multitenant while it holds tenants" <<<"$out" || fail "$2: wrong error: $out"
    grep -q "DETAIL:  .*(tenants: 2, API keys: 1, audit events: [0-9]*, consent records: 1)" <<<"$out" ||
        fail "$2: the detail does not count what would be lost: $out"
    grep -q "HINT:  .*pg_dump.*multitenant.secret.*SET LOCAL multitenant.allow_drop_extension = on" <<<"$out" ||
        fail "$2: the hint names neither the backup nor the setting: $out"
    [ "$(q -c "SELECT count(*) FROM mt.tenants")" = 2 ] || fail "$2 changed the tenants"
    echo "ok: refused: $1"
}

mt_psql -d postgres -c "CREATE ROLE $owner SUPERUSER" -c "CREATE ROLE $app LOGIN" \
    -c "CREATE DATABASE $db" -c "CREATE DATABASE $fresh" >/dev/null
secret_sum=$(md5sum <"$MT_PGDATA/multitenant.secret")

# --- a database in use (the extension owned by a role other than the bootstrap superuser)
q >/dev/null <<SQL
SET ROLE $owner;
CREATE EXTENSION multitenant;
RESET ROLE;
CREATE TABLE public.orders (id int, tenant_id uuid NOT NULL, amount numeric, PRIMARY KEY (id, tenant_id));
SELECT mt.enable_isolation('public.orders');
SELECT mt.audit_table('public.orders');
GRANT SELECT, INSERT ON public.orders TO $app;
SQL
acme=$(q -c "SELECT mt.create_tenant('Acme', 'acme')")
globex=$(q -c "SELECT mt.create_tenant('Globex', 'globex')")
key=$(q -c "SELECT mt.create_api_key('$acme', 'ci')")
q >/dev/null <<SQL
BEGIN;
SELECT mt.set_tenant('$acme');
INSERT INTO public.orders VALUES (1, '$acme', 10), (2, '$acme', 20);
SELECT mt.audit('invoice.paid', 'invoice', '1', '{"amount": 10}', 'alice');
SELECT mt.record_consent('alice', 'marketing', true);
SELECT mt.track('calls', 5);
COMMIT;
BEGIN;
SELECT mt.set_tenant('$globex');
INSERT INTO public.orders VALUES (3, '$globex', 30);
COMMIT;
SQL
[ "$(q -c "SELECT count(*) FROM mt.usage('$acme') WHERE metric = 'calls' AND used = 5")" = 1 ] ||
    fail "setup: usage not counted"

# --- 1. refused while tenants exist ------------------------------------------
refused "DROP EXTENSION multitenant" "DROP EXTENSION"
refused "DROP EXTENSION multitenant CASCADE" "DROP EXTENSION CASCADE"
refused "DROP EXTENSION IF EXISTS plpgsql, multitenant CASCADE" "DROP EXTENSION of a list"
refused "DROP SCHEMA mt CASCADE" "DROP SCHEMA mt CASCADE"
refused "DROP SCHEMA IF EXISTS public, mt CASCADE" "DROP SCHEMA of a list"
refused "DROP OWNED BY $owner CASCADE" "DROP OWNED BY the extension owner"
refused "SET session_replication_role = replica; DROP EXTENSION multitenant CASCADE" "DROP EXTENSION as a replica"
refused "SET multitenant.allow_drop_extension = off; DROP EXTENSION multitenant CASCADE" "DROP EXTENSION with the setting off"

# only a superuser's SET in the session turns it on
out=$(q -c "SET ROLE $app" -c "SET multitenant.allow_drop_extension = on" 2>&1) && fail "a non-superuser set the setting: $out"
grep -q "permission denied" <<<"$out" || fail "non-superuser SET: wrong error: $out"
out=$(q -c "ALTER DATABASE $db SET multitenant.allow_drop_extension = on" 2>&1) && fail "ALTER DATABASE SET was accepted: $out"
grep -q "only in a session" <<<"$out" || fail "ALTER DATABASE SET: wrong error: $out"
out=$(q -c "ALTER SYSTEM SET multitenant.allow_drop_extension = on" 2>&1) && fail "ALTER SYSTEM SET was accepted: $out"
grep -q "only in a session" <<<"$out" || fail "ALTER SYSTEM SET: wrong error: $out"
echo "ok: only a superuser's SET in a session turns multitenant.allow_drop_extension on"

# other DDL goes through; a database without tenants drops freely
q -c "CREATE SCHEMA scratch" -c "CREATE TABLE scratch.t (id int)" -c "DROP SCHEMA scratch CASCADE" \
    -c "DROP OWNED BY $app" >/dev/null || fail "unrelated DROP SCHEMA / DROP OWNED was refused"
q -c "GRANT SELECT, INSERT ON public.orders TO $app" >/dev/null
mt_psql -d $fresh -c "CREATE EXTENSION multitenant" -c "DROP EXTENSION multitenant" -c "CREATE EXTENSION multitenant" \
    -c "DROP SCHEMA mt CASCADE" >/dev/null || fail "dropping the extension without tenants was refused"
echo "ok: other DDL and a database without tenants are not affected"

# --- 2. the permitted drop -----------------------------------------------------
q -c "SELECT mt.flush_usage()" >/dev/null
PGOPTIONS="-c client_min_messages=warning" "$MT_PGBIN/pg_dump" -Fc -d $db -f "$tmp/before-drop.dump" ||
    fail "pg_dump before the drop failed"
# counted after the dump, so in no backup: these must not come back
q -c "BEGIN" -c "SELECT mt.set_tenant('$acme')" -c "SELECT mt.track('calls', 3)" -c "COMMIT" >/dev/null
[ "$(q -c "SELECT used FROM mt.usage('$acme') WHERE metric = 'calls'")" = 8 ] || fail "setup: usage not counted after the dump"
out=$(q -c "BEGIN" -c "SET LOCAL multitenant.allow_drop_extension = on" -c "DROP EXTENSION multitenant CASCADE" -c "COMMIT" 2>&1) ||
    fail "the permitted drop failed: $out"
grep -q "WARNING:  dropping extension multitenant deletes for good what its tables hold (tenants: 2," <<<"$out" || fail "no warning at the permitted drop: $out"
grep -q "public.orders" <<<"$out" || fail "the warning does not name the tables left without policies: $out"
echo "$out"
[ "$(q -c "SELECT count(*) FROM pg_extension WHERE extname = 'multitenant'")" = 0 ] || fail "the extension is still there"
echo "ok: dropped with SET LOCAL multitenant.allow_drop_extension = on, with a warning"

# exactly the documented leftovers
[ "$(q -c "SELECT count(*) FROM public.orders")" = 3 ] || fail "rows of public.orders were lost"
[ "$(q -c "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = 'public.orders'::regclass")" = t ] ||
    fail "public.orders lost ENABLE/FORCE ROW LEVEL SECURITY"
[ "$(q -c "SELECT count(*) FROM pg_policy WHERE polrelid = 'public.orders'::regclass")" = 0 ] || fail "policies left"
[ "$(q -c "SELECT attnotnull AND NOT atthasdef FROM pg_attribute WHERE attrelid = 'public.orders'::regclass AND attname = 'tenant_id'")" = t ] ||
    fail "tenant_id: NOT NULL should stay, the default should be gone"
[ "$(q -c "SELECT count(*) FROM pg_index WHERE indrelid = 'public.orders'::regclass AND indkey[0] = 2")" = 1 ] ||
    fail "the tenant index was dropped"
[ "$(q -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.orders'::regclass AND NOT tgisinternal")" = 0 ] ||
    fail "audit triggers left on public.orders"
[ "$(q -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'mt'")" = 1 ] || fail "schema mt should stay"
[ "$(q -c "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'mt'::regnamespace) + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'mt'::regnamespace) + (SELECT count(*) FROM pg_type WHERE typnamespace = 'mt'::regnamespace)")" = 0 ] ||
    fail "schema mt is not empty"
[ "$(q -c "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'mt%'")" = 0 ] || fail "event triggers left"
[ "$(md5sum <"$MT_PGDATA/multitenant.secret")" = "$secret_sum" ] || fail "the secret file changed"
[ "$(q -c "SET ROLE $app" -c "SELECT count(*) FROM public.orders")" = 0 ] || fail "the application sees rows (not fail closed)"
q -c "SET ROLE $app" -c "INSERT INTO public.orders VALUES (4, '$acme', 40)" >/dev/null 2>&1 && fail "the application can insert"
echo "ok: leftovers as documented: rows kept, RLS on and forced without policies (the app sees and writes nothing), no default, index kept, empty schema mt, no event triggers, secret file unchanged"

# --- 3. CREATE EXTENSION again, data back from the dump, tables re-isolated ---
q -c "CREATE EXTENSION multitenant" >/dev/null || fail "CREATE EXTENSION after the drop failed"
[ "$(q -c "SELECT isolated FROM mt.isolation_status() WHERE tbl = 'public.orders'::regclass")" = f ] ||
    fail "isolation_status does not show public.orders as not isolated"
PGOPTIONS="-c client_min_messages=warning" "$MT_PGBIN/pg_restore" --data-only --schema=mt -d $db "$tmp/before-drop.dump" ||
    fail "pg_restore of the extension's data failed"
[ "$(q -c "SELECT count(*) FROM mt.tenants")" = 2 ] || fail "tenants not restored"
[ "$(q -c "SELECT used FROM mt.usage('$acme') WHERE metric = 'calls'")" = 5 ] ||
    fail "usage after the restore is not the backed-up 5: counters of the old installation survived in shared memory"
q -c "SELECT mt.enable_isolation(tbl, tenant_column) FROM mt.isolated_tables WHERE parent IS NULL" >/dev/null
[ "$(q -c "SELECT isolated AND rls_enabled AND rls_forced AND policies_ok AND cardinality(issues) = 0 FROM mt.isolation_status() WHERE tbl = 'public.orders'::regclass")" = t ] ||
    fail "public.orders is not fully isolated again"
got=$(q -c "BEGIN" -c "SELECT mt.set_tenant('$acme')" -c "SET LOCAL ROLE $app" -c "INSERT INTO public.orders (id, amount) VALUES (4, 40)" \
    -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM public.orders" -c "COMMIT" | tail -1)
[ "$got" = 1,2,4 ] || fail "acme sees $got after re-isolation"
[ "$(q -c "SELECT bool_and(ok) FROM mt.audit_verify()")" = t ] || fail "restored audit chains do not verify"
[ "$(q -c "SELECT mt.authenticate('$key')")" = "$acme" ] || fail "the restored API key does not authenticate"
[ "$(q -c "SELECT details_state FROM mt.audit_search_tenant('$acme', action => 'invoice.paid')")" = decrypted ] ||
    fail "restored audit details do not decrypt"
echo "ok: CREATE EXTENSION again, extension data restored from the dump, table re-isolated (default back), chains verify, key and details work"

# DROP SCHEMA mt CASCADE, permitted, removes the schema too
refused "DROP SCHEMA mt CASCADE" "DROP SCHEMA mt CASCADE after the restore"
q -c "BEGIN" -c "SET LOCAL multitenant.allow_drop_extension = on" -c "DROP SCHEMA mt CASCADE" -c "COMMIT" >/dev/null 2>&1 ||
    fail "permitted DROP SCHEMA mt CASCADE failed"
[ "$(q -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'mt'")" = 0 ] || fail "schema mt survived DROP SCHEMA"
echo "all ok"
