#!/usr/bin/env bash
# Database per tenant: mt.provision_database records the placement (bad
# input refused with its SQLSTATE, nothing recorded), and bin/mt-tenant
# move-to-database moves a tenant of the shared level from the central
# database into its own database (export, import, registry switch, removal
# from the shared tables) while one of its applications keeps writing
# through the central database: every write acknowledged before the cut-over
# is in the tenant database, none is left in (or lands later in) the
# central one.  After the move: the same rows (count and md5 per table),
# the audit chain verifies there, the API key and a token minted there
# work, mt.route() in the central database points at the tenant database.
# The central registry stays authoritative: suspending the tenant there
# makes mt.route() refuse it at once, and after `mt-tenant sync` its token
# is refused in its own database too (and works again after a resume and
# a sync); a plan change travels the same way.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/ops_lib.sh

central=mt_tdb_central
tdb=mt_tdb_acme
work=$MT_ROOT/tdbmove
export PSQL=$MT_PGBIN/psql
writer_pid=''

cleanup() {
    [ -z "$writer_pid" ] || kill "$writer_pid" 2>/dev/null || true
    ops_cleanup
    rm -rf "$work"
    for d in $central $tdb; do
        mt_psql -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
    done
    mt_psql -d postgres -c "DROP ROLE IF EXISTS mt_tdb_app" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
mkdir -p "$work"

schema() {
    cat <<'SQL'
CREATE EXTENSION multitenant;
CREATE TABLE customers (tenant_id uuid NOT NULL DEFAULT mt.current_tenant(), id int NOT NULL, name text,
                        PRIMARY KEY (tenant_id, id));
CREATE TABLE orders (tenant_id uuid NOT NULL DEFAULT mt.current_tenant(), id bigint GENERATED ALWAYS AS IDENTITY,
                     customer_id int NOT NULL, amount numeric(10,2),
                     PRIMARY KEY (tenant_id, id),
                     FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id));
SELECT mt.enable_isolation('customers');
SELECT mt.enable_isolation('orders');
GRANT SELECT, INSERT ON customers, orders TO mt_tdb_app;
SQL
}
fingerprint() {   # fingerprint <db> <tenant>
    mt_psql -d "$1" -v t="$2" <<'SQL'
SELECT 'customers ' || count(*) || ' ' || md5(coalesce(string_agg(format('%s|%s', id, name), ',' ORDER BY id), ''))
FROM customers WHERE tenant_id = :'t';
SELECT 'orders ' || count(*) || ' ' || md5(coalesce(string_agg(format('%s|%s|%s', id, customer_id, amount), ',' ORDER BY id), ''))
FROM orders WHERE tenant_id = :'t';
SQL
}
code_of() { sed -n 's/.*ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -1; }

mt_psql -d postgres -c "CREATE ROLE mt_tdb_app LOGIN" -c "CREATE DATABASE $central" -c "CREATE DATABASE $tdb" >/dev/null
schema | mt_psql -d $central >/dev/null
schema | mt_psql -d $tdb >/dev/null
acme=$(mt_psql -d $central -c "SELECT mt.create_tenant('Acme', 'acme', 'enterprise')")
globex=$(mt_psql -d $central -c "SELECT mt.create_tenant('Globex', 'globex')")
key=$(mt_psql -d $central -c "SELECT mt.create_api_key('$acme', 'ci', '{read}')")
mt_psql -d $central -v acme="$acme" -v globex="$globex" >/dev/null <<'SQL'
BEGIN;
SELECT mt.set_tenant(:'acme');
INSERT INTO customers (id, name) SELECT g, 'cust ' || g FROM generate_series(1, 200) g;
INSERT INTO orders (customer_id, amount) SELECT 1 + g % 200, g / 7.0 FROM generate_series(1, 2000) g;
SELECT mt.audit('order.created', 'order', '1', '{"amount": 10}');
COMMIT;
BEGIN;
SELECT mt.set_tenant(:'globex');
INSERT INTO customers (id, name) VALUES (1, 'globex one');
INSERT INTO orders (customer_id, amount) VALUES (1, 5);
COMMIT;
SQL
globex_before=$(fingerprint $central "$globex")

# --- mt.provision_database: bad input, nothing recorded ------------------------
placements() { mt_psql -d $central -c "SELECT count(*) FROM mt.tenant_placements"; }
refused() {   # refused <sqlstate> <label> <sql>
    local out
    if out=$(mt_psql -d $central -v VERBOSITY=verbose -c "$3" 2>&1); then fail "$2: accepted"; fi
    [ "$(echo "$out" | code_of)" = "$1" ] || fail "$2: not $1: $out"
    [ "$(placements)" = 0 ] || fail "$2: a placement was recorded"
    echo "ok: $2 refused ($1)"
}
refused 42704 "an unknown tenant" "SELECT mt.provision_database(gen_random_uuid(), NULL, NULL, 'x')"
refused 55000 "a plan without the database level" "SELECT mt.provision_database('$globex', NULL, NULL, 'x')"
refused 22023 "a host with a password in it" "SELECT mt.provision_database('$acme', 'db1 password=secret', NULL, 'x')"
refused 22023 "a port out of range" "SELECT mt.provision_database('$acme', 'db1', 70000, 'x')"
refused 22023 "the central database itself" "SELECT mt.provision_database('$acme', NULL, NULL, '$central')"
refused 22004 "no database name" "SELECT mt.provision_database('$acme', NULL, NULL, NULL)"
refused 42501 "the application role" "SET ROLE mt_tdb_app; SELECT mt.provision_database('$acme', NULL, NULL, 'x')"
out=$(bin/mt-tenant move-to-database "$globex" --target-db $tdb -d $central 2>&1) && fail "globex (free plan) was moved"
grep -q "does not allow the database level" <<<"$out" || fail "move of globex: unexpected error: $out"
[ "$(mt_psql -d $tdb -c "SELECT count(*) FROM mt.tenants")" = 0 ] || fail "move of globex left a tenant in the target"
echo "ok: mt-tenant move-to-database refuses a tenant whose plan does not allow it, nothing moved"

# --- the move, with a writer of the tenant running through the central database
want=$(fingerprint $central "$acme")
tok=$(mt_psql -d $central -c "SELECT mt.tenant_token('$acme', '10 min')")
# each iteration: one connection with the tenant's token, one customer
# inserted only while the central registry places the tenant in shared
# tables; an acknowledged id is appended to acked
(
    i=100000
    while [ ! -e "$work/stop" ]; do
        i=$((i + 1))
        got=$(PGOPTIONS="-c multitenant.token=$tok" mt_psql -U mt_tdb_app -d $central -c \
            "INSERT INTO customers (id, name) SELECT $i, 'live' WHERE (SELECT level FROM mt.route()) = 'shared' RETURNING id" 2>/dev/null) || true
        [ -z "$got" ] || echo "$got" >>"$work/acked"
    done
) &
writer_pid=$!
acked_some() { [ -s "$work/acked" ] && [ "$(wc -l <"$work/acked")" -ge 5 ]; }
wait_for 30 acked_some || fail "the writer does not write"
report=$(bin/mt-tenant move-to-database "$acme" --target-db $tdb --target-host "$MT_ROOT/sock" --target-port "$MT_PORT" -d $central)
echo "$report"
touch "$work/stop"
wait "$writer_pid" || true
writer_pid=''
acked=$(wc -l <"$work/acked")
echo "ok: the writer had $acked writes acknowledged"

# every acknowledged write is in the tenant database, none in the central one
missing=$(mt_psql -d $tdb -c "SELECT count(*) FROM unnest(string_to_array('$(tr '\n' ',' <"$work/acked" | sed 's/,$//')', ',')::int[]) a(id)
  WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = '$acme' AND c.id = a.id)")
[ "$missing" = 0 ] || fail "$missing acknowledged writes are missing in the tenant database"
[ "$(mt_psql -d $tdb -c "SELECT count(*) FROM customers WHERE tenant_id = '$acme' AND id > 100000")" = "$acked" ] \
    || fail "the tenant database holds writes that were never acknowledged"
left=$(mt_psql -d $central -c "SELECT (SELECT count(*) FROM customers WHERE tenant_id = '$acme') + (SELECT count(*) FROM orders WHERE tenant_id = '$acme')")
[ "$left" = 0 ] || fail "$left rows of the tenant are left in the central database"
echo "ok: every acknowledged write moved, nothing left in the central database"

# the same rows (the writer's customers aside), the other tenant untouched
mt_psql -d $tdb -c "SET session_replication_role = replica; DELETE FROM customers WHERE id > 100000" >/dev/null
got=$(fingerprint $tdb "$acme")
[ "$got" = "$want" ] || { diff <(echo "$want") <(echo "$got") || true; fail "the tenant's rows differ after the move"; }
[ "$(fingerprint $central "$globex")" = "$globex_before" ] || fail "the other tenant's rows changed"
[ "$(mt_psql -d $tdb -c "SELECT count(*) FROM customers WHERE tenant_id <> '$acme'")" = 0 ] || fail "another tenant's rows travelled"
echo "ok: same rows and ids in the tenant database, the other tenant untouched"

# registry, route, chain, key, token
got=$(mt_psql -d $central -c "SELECT level || '|' || host || '|' || port || '|' || dbname FROM mt.tenant_placement('$acme')")
[ "$got" = "database|$MT_ROOT/sock|$MT_PORT|$tdb" ] || fail "the central placement is not the tenant database: $got"
got=$(PGOPTIONS="-c multitenant.token=$tok" mt_psql -U mt_tdb_app -d $central -c "SELECT level || '|' || dbname FROM mt.route()")
[ "$got" = "database|$tdb" ] || fail "mt.route() does not route to the tenant database: $got"
[ "$(mt_psql -d $central -c "SELECT status FROM mt.tenants WHERE id = '$acme'")/$(mt_psql -d $tdb -c "SELECT status FROM mt.tenants WHERE id = '$acme'")" = active/active ] \
    || fail "the tenant is not active in both databases after the move"
[ "$(mt_psql -d $tdb -c "SELECT bool_and(ok) FROM mt.audit_verify('$acme')")" = t ] || fail "the audit chain does not verify in the tenant database"
[ "$(mt_psql -d $tdb -c "SELECT mt.authenticate('$key') = '$acme'")" = t ] || fail "the API key does not authenticate in the tenant database"
ttok=$(mt_psql -d $tdb -c "SELECT mt.tenant_token('$acme', '10 min')")
got=$(PGOPTIONS="-c multitenant.token=$ttok" mt_psql -U mt_tdb_app -d $tdb -c "SELECT count(*) FROM orders")
[ "$got" = 2000 ] || fail "a token of the tenant does not see its rows in the tenant database ($got)"
echo "ok: placement and route point at the tenant database; chain, key and token work there"
out=$(bin/mt-tenant move-to-database "$acme" --target-db $tdb -d $central 2>&1) && fail "a second move was accepted"
grep -q "already placed at level database" <<<"$out" || fail "second move: unexpected error: $out"
echo "ok: a tenant already at the database level is refused"

# --- the central registry is authoritative: suspension and sync ----------------
tdb_token_works() { [ "$(PGOPTIONS="-c multitenant.token=$ttok" mt_psql -U mt_tdb_app -d $tdb -c "SELECT count(*) FROM orders" 2>/dev/null)" = 2000 ]; }
mt_psql -d $central -c "SELECT mt.suspend_tenant('$acme')" >/dev/null
out=$(PGOPTIONS="-c multitenant.token=$tok" mt_psql -U mt_tdb_app -d $central -v VERBOSITY=verbose -c "SELECT * FROM mt.route()" 2>&1) \
    && fail "mt.route() routed a suspended tenant"
grep -q "invalid tenant token" <<<"$out" || fail "the router's refusal is not the token's: $out"
out=$(mt_psql -d $central -v VERBOSITY=verbose -c "SELECT mt.authenticate('$key')" -c "SELECT * FROM mt.route()" 2>&1) \
    && fail "mt.route() routed a suspended tenant's API key"
echo "ok: the router refuses the suspended tenant at once (token refused; key: $(echo "$out" | code_of))"
tdb_token_works || fail "before the sync, the tenant database already knew of the suspension (test premise)"
echo "ok: before the sync the tenant database still accepts the token (the documented window)"
sync_out=$(bin/mt-tenant sync -d $central)
grep -q "^$acme $tdb ok$" <<<"$sync_out" || fail "sync did not report the tenant: $sync_out"
tdb_token_works && fail "after the sync the suspended tenant's token still works in its database"
out=$(PGOPTIONS="-c multitenant.token=$ttok" mt_psql -U mt_tdb_app -d $tdb -c "SELECT 1" 2>&1) || true
grep -q "invalid tenant token" <<<"$out" || fail "the token was not refused as invalid: $out"
out=$(mt_psql -d $tdb -v VERBOSITY=verbose -c "SELECT mt.authenticate('$key')" 2>&1) \
    && fail "after the sync the suspended tenant's API key still authenticates in its database"
grep -q "invalid API key" <<<"$out" || fail "the key was not refused as invalid: $out"
echo "ok: after the sync the suspended tenant's token and key are refused in its database"
mt_psql -d $central -c "SELECT mt.resume_tenant('$acme')" -c "UPDATE mt.tenants SET plan = 'pro' WHERE id = '$acme'" >/dev/null
bin/mt-tenant sync -d $central >/dev/null
tdb_token_works || fail "after resume + sync the token does not work again"
[ "$(mt_psql -d $tdb -c "SELECT plan FROM mt.tenants WHERE id = '$acme'")" = pro ] || fail "sync did not push the plan"
[ "$(bin/mt-tenant sync -d $central)" = "$acme $tdb ok" ] || fail "a second sync is not a no-op"
echo "ok: resume and plan change reach the tenant database at the next sync"

# --- a second cluster with a copy of the secret file ----------------------------
initech=$(mt_psql -d $central -c "SELECT mt.create_tenant('Initech', 'initech', 'enterprise')")
ikey=$(mt_psql -d $central -c "SELECT mt.create_api_key('$initech', 'ci', '{read}')")
mt_psql -d $central -c "BEGIN" -c "SELECT mt.set_tenant('$initech')" \
    -c "INSERT INTO customers (id, name) SELECT g, 'i' || g FROM generate_series(1, 50) g" -c "COMMIT" >/dev/null
iwant=$(fingerprint $central "$initech")
ops_init dst $((MT_PORT + 5))
as_pg cp -p "$MT_PGDATA/multitenant.secret" "$OPS_ROOT/dst/data/multitenant.secret"
ops_start dst
ops_psql dst -d postgres -c "CREATE ROLE mt_tdb_app LOGIN" -c "CREATE DATABASE initech" >/dev/null
schema | ops_psql dst -d initech >/dev/null
bin/mt-tenant move-to-database "$initech" --target-db initech --target-host "$(ops_host dst)" \
    --target-port "$(ops_port dst)" --target-user postgres -d $central
got=$(PGHOST=$(ops_host dst) PGPORT=$(ops_port dst) fingerprint initech "$initech")
[ "$got" = "$iwant" ] || fail "(second cluster) the tenant's rows differ after the move"
[ "$(ops_psql dst -d initech -c "SELECT mt.authenticate('$ikey') = '$initech'")" = t ] \
    || fail "(second cluster) the API key does not authenticate"
itok=$(ops_psql dst -d initech -c "SELECT mt.tenant_token('$initech', '10 min')")
[ "$(PGOPTIONS="-c multitenant.token=$itok" ops_psql dst -U mt_tdb_app -d initech -c "SELECT count(*) FROM customers")" = 50 ] \
    || fail "(second cluster) a token minted there does not see the tenant's rows"
mt_psql -d $central -c "SELECT mt.suspend_tenant('$initech')" >/dev/null
bin/mt-tenant sync --target-user postgres -d $central | grep -c "^$initech initech ok$" >/dev/null || fail "(second cluster) sync failed"
[ "$(ops_psql dst -d initech -c "SELECT status FROM mt.tenants WHERE id = '$initech'")" = suspended ] \
    || fail "(second cluster) the suspension did not reach the tenant database"
echo "ok: second cluster: rows equal, key and token work, sync reaches it"
echo "PASS tenant_database_move"
