#!/usr/bin/env bash
# A tenant token cannot become a role's or database's default:
#   ALTER ROLE app [IN DATABASE db] SET multitenant.token = '<A token>'
# is refused, so every new connection of the application role (shared by
# all tenants) starts without a tenant context and fails closed (no rows,
# no inserts into isolated tables), and no token is stored in
# pg_db_role_setting.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_context_role_default
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d postgres -c "DROP ROLE IF EXISTS mt_rd_app" -c "CREATE ROLE mt_rd_app LOGIN"
trap 'mt_psql -d postgres -c "ALTER ROLE mt_rd_app RESET ALL" >/dev/null 2>&1 || true' EXIT
mt_psql -d $db -c "CREATE EXTENSION multitenant"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
tok_acme=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min')")
mt_psql -d $db -c "CREATE TABLE orders (id int, tenant_id uuid NOT NULL, what text)" \
    -c "SELECT mt.enable_isolation('orders')" -c "GRANT SELECT, INSERT ON orders TO mt_rd_app"

# the attacker, as the application role, stores its token as the role default
mt_psql -d $db -U mt_rd_app -c "ALTER ROLE mt_rd_app SET multitenant.token = '$tok_acme'" 2>&1 || true
mt_psql -d $db -U mt_rd_app -c "ALTER ROLE mt_rd_app IN DATABASE $db SET multitenant.token = '$tok_acme'" 2>&1 || true

# a later, unrelated request of another tenant that sets no context
t=$(mt_psql -d $db -U mt_rd_app -c "SELECT coalesce(mt.current_tenant()::text, 'none')" 2>/dev/null)
[ "$t" = none ] || fail "a new session of the role starts in tenant $t without setting a context"
echo "ok: a new session starts without a tenant context"
if mt_psql -d $db -U mt_rd_app -c "INSERT INTO orders (id, what) VALUES (1, 'other customer data')" >/dev/null 2>&1; then
    fail "a session without context inserted into an isolated table (fail open)"
fi
echo "ok: a session without context cannot insert"
n=$(mt_psql -d $db -c "SELECT count(*) FROM pg_db_role_setting WHERE array_to_string(setconfig, ' ') LIKE '%multitenant.token=ey%'")
[ "$n" = 0 ] || fail "a tenant token is stored in pg_db_role_setting"
echo "ok: no token stored as a role default"
mt_psql -d postgres -c "DROP DATABASE $db"
echo "all ok"
