#!/usr/bin/env bash
# A real PgBouncer in transaction pooling mode on loopback, many clients
# switching tenants under load: with SET LOCAL no client ever sees a row of
# another tenant, and a transaction without context sees nothing.  A
# negative control with session-level SET shows the detector catches the
# classic pooled-connection leak.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_pool
bport=$((MT_PORT + 7))
bdir=$MT_ROOT/pgbouncer
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d postgres -c "DROP ROLE IF EXISTS mt_pool_app" -c "CREATE ROLE mt_pool_app LOGIN"
mt_psql -d $db <<'SQL'
CREATE EXTENSION multitenant;
CREATE TABLE pool_tokens (i int PRIMARY KEY, tid uuid NOT NULL, token text NOT NULL);
INSERT INTO pool_tokens SELECT i, t, mt.tenant_token(t, '1 hour')
FROM (SELECT i, mt.create_tenant('Pool ' || i, 'pool-' || i) AS t FROM generate_series(1, 20) i) s;
CREATE TABLE orders (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, amount int);
SELECT mt.enable_isolation('orders');
INSERT INTO orders (tenant_id, amount) SELECT tid, g FROM pool_tokens, generate_series(1, 100) g;
GRANT SELECT ON orders, pool_tokens TO mt_pool_app;
SQL

mkdir -p "$bdir"
cat >"$bdir/pgbouncer.ini" <<INI
[databases]
$db = host=$PGHOST port=$PGPORT dbname=$db
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $bdir/users.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
logfile = $bdir/pgbouncer.log
pidfile = $bdir/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
INI
echo '"mt_pool_app" ""' >"$bdir/users.txt"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$bdir"
as_pg pgbouncer -d "$bdir/pgbouncer.ini"
trap 'kill "$(cat "$bdir/pgbouncer.pid" 2>/dev/null)" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    "$MT_PGBIN/psql" -X -h 127.0.0.1 -p $bport -U mt_pool_app -d $db -Atc "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.1
done

# one transaction: either enter a random tenant with SET LOCAL and check that
# exactly its 100 rows are visible, or use no context and check nothing is
cat >"$bdir/switch_local.sql" <<'PGB'
\set t random(1, 20)
\set mode random(0, 2)
BEGIN;
\if :mode = 0
SELECT 1 / (CASE WHEN count(*) = 0 THEN 1 ELSE 0 END) AS no_context_sees_nothing FROM orders;
\else
SELECT set_config('multitenant.token', token, true) FROM pool_tokens WHERE i = :t;
SELECT 1 / (CASE WHEN count(*) = 100 AND count(*) FILTER (WHERE tenant_id <> p.tid) = 0 THEN 1 ELSE 0 END) AS only_own_rows
FROM orders, (SELECT tid FROM pool_tokens WHERE i = :t) p;
\endif
END;
PGB
sed 's/set_config(\(.*\), true)/set_config(\1, false)/' "$bdir/switch_local.sql" >"$bdir/switch_session.sql"
grep -q "false)" "$bdir/switch_session.sql" || fail "negative control script not built"

run_pgbench() {
    "$MT_PGBIN/pgbench" -n -h 127.0.0.1 -p $bport -U mt_pool_app -c 40 -j 2 -T "$1" -f "$2" $db >"$3" 2>&1
}

if run_pgbench 15 "$bdir/switch_local.sql" "$bdir/local.out"; then
    txs=$(awk '/number of transactions actually processed/ { print $6 }' "$bdir/local.out")
    grep -q "aborted" "$bdir/local.out" && fail "clients aborted: $(grep -i abort "$bdir/local.out")"
    [ "${txs:-0}" -gt 1000 ] || fail "too few transactions: ${txs:-0}"
    echo "ok: $txs transactions through PgBouncer (transaction pooling, 40 clients), zero cross-tenant rows"
else
    cat "$bdir/local.out"; fail "a client saw rows of another tenant or of no tenant (SET LOCAL)"
fi

if run_pgbench 5 "$bdir/switch_session.sql" "$bdir/session.out"; then
    cat "$bdir/session.out"; fail "negative control: session-level SET did not leak, so the detector proves nothing"
else
    grep -q "division by zero" "$bdir/session.out" || { cat "$bdir/session.out"; fail "negative control failed for another reason"; }
    echo "ok: negative control: session-level SET leaks across pooled clients and is detected"
fi

mt_psql -d postgres -c "DROP DATABASE $db WITH (FORCE)" -c "DROP ROLE mt_pool_app"
echo "all ok"
