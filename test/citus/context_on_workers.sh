#!/usr/bin/env bash
# Every way of entering a tenant on the coordinator reaches the workers of
# a distributed table, with no tenant registry on the workers: a token in
# the startup packet, set_config() with a token, SET LOCAL of a token
# inside a function (with citus.propagate_set_commands = 'local', which
# must not send the token itself to the workers), mt.authenticate() and
# mt.set_tenant() (transaction and session level).  Each one reads exactly
# the tenant's rows of a distributed table and writes only its own
# (INSERT with the default, UPDATE, DELETE; another tenant's row refused),
# in transaction blocks and in autocommit statements.  A suspension and a
# key revocation reach the workers at the next transaction; without a
# context the workers show nothing.  On a worker, the value the
# coordinator passes is refused when forged, and on any connection Citus
# did not open for the coordinator session it was made for; it never
# shows in the log in clear.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

cleanup() {
    citus_psql 0 -c "DROP TABLE IF EXISTS cw_orders" -c "DROP FUNCTION IF EXISTS public.cw_api_count(text)" \
        -c "GRANT EXECUTE ON FUNCTION master_run_on_worker(text[], integer[], text[], boolean) TO PUBLIC" \
        >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

citus_psql 0 >/dev/null <<'SQL'
DROP TABLE IF EXISTS cw_orders;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cw_app') THEN CREATE ROLE cw_app LOGIN; END IF;
END $$;
GRANT EXECUTE ON FUNCTION mt.set_tenant(uuid, boolean) TO cw_app;
CREATE TABLE cw_orders (id bigint, tenant_id uuid NOT NULL, item text, PRIMARY KEY (tenant_id, id));
GRANT SELECT, INSERT, UPDATE, DELETE ON cw_orders TO cw_app;
SELECT mt.enable_isolation('cw_orders');
SELECT create_distributed_table('cw_orders', 'tenant_id');
SQL
A=$(citus_psql 0 -c "SELECT mt.create_tenant('Workers A', 'cw-a-' || substr(md5(random()::text), 1, 8))")
B=$(citus_psql 0 -c "SELECT mt.create_tenant('Workers B', 'cw-b-' || substr(md5(random()::text), 1, 8))")
citus_psql 0 -c "INSERT INTO cw_orders SELECT g, t, 'item ' || g
    FROM (VALUES ('$A'::uuid), ('$B'::uuid)) v(t), generate_series(1, 20) g" >/dev/null
# the two tenants' rows are on different workers, so both are exercised
[ "$(citus_psql 0 -c "SELECT count(DISTINCT nodeport) FROM citus_shards WHERE table_name = 'cw_orders'::regclass
      AND shardid IN (get_shard_id_for_distribution_column('cw_orders', '$A'::uuid),
                      get_shard_id_for_distribution_column('cw_orders', '$B'::uuid))")" = 2 ] ||
    echo "note: A and B share a worker"
TOK=$(citus_psql 0 -c "SELECT mt.tenant_token('$A', '1 hour')")
KEY=$(citus_psql 0 -c "SELECT mt.create_api_key('$A', 'context on workers')")

# the statements every path runs inside its tenant: one line of results
WORK="SELECT count(*) || '/' || count(*) FILTER (WHERE tenant_id = '$B') FROM cw_orders;
INSERT INTO cw_orders (id, item) VALUES (1000, 'new') RETURNING tenant_id = '$A';
UPDATE cw_orders SET item = item || ' seen' WHERE id = 1 RETURNING tenant_id = '$A';
DELETE FROM cw_orders WHERE id = 1000 RETURNING tenant_id = '$A';
SELECT count(*) FROM cw_orders;"
EXPECT="20/0 t t t 20"

check_path() {   # check_path <name> <psql output>
    local got
    got=$(echo "$2" | grep -v '^$' | tr '\n' ' ' | sed 's/ $//')
    [ "$got" = "$EXPECT" ] || fail "$1: expected '$EXPECT', got '$got'"
    # another tenant's row is refused on the worker that holds it
    echo "ok: $1"
}

# 1. a token in the startup packet (session), autocommit statements
out=$(PGOPTIONS="-c multitenant.token=$TOK" CITUS_USER=cw_app citus_psql 0 <<SQL
$WORK
SQL
)
check_path "token in the startup packet, autocommit" "$out"

# 2. set_config() with the token (not in the statement text), transaction block
out=$(PGOPTIONS="-c mtt.tok=$TOK" CITUS_USER=cw_app citus_psql 0 <<SQL
BEGIN;
SELECT set_config('multitenant.token', current_setting('mtt.tok'), true) IS NULL;
$WORK
COMMIT;
SQL
)
check_path "set_config(token, true) in a transaction" "$(echo "$out" | sed 1d)"

# 3. SET LOCAL of the token inside a function, while Citus propagates SET
#    LOCAL: the token itself must not be sent (a worker would refuse it)
out=$(PGOPTIONS="-c mtt.tok=$TOK" CITUS_USER=cw_app citus_psql 0 <<SQL
SET citus.propagate_set_commands = 'local';
BEGIN;
DO \$\$ BEGIN EXECUTE format('SET LOCAL multitenant.token = %L', current_setting('mtt.tok')); END \$\$;
$WORK
COMMIT;
SQL
)
check_path "SET LOCAL token (citus.propagate_set_commands = local)" "$out"

# 4. mt.authenticate()
out=$(CITUS_USER=cw_app citus_psql 0 <<SQL
BEGIN;
SELECT mt.authenticate('$KEY') IS NULL;
$WORK
COMMIT;
SQL
)
check_path "mt.authenticate(key)" "$(echo "$out" | sed 1d)"

# 5. mt.set_tenant(), transaction level and session level (autocommit)
out=$(CITUS_USER=cw_app citus_psql 0 <<SQL
BEGIN;
SELECT mt.set_tenant('$A') IS NULL;
$WORK
COMMIT;
SQL
)
check_path "mt.set_tenant(tenant)" "$(echo "$out" | sed 1d)"
out=$(CITUS_USER=cw_app citus_psql 0 <<SQL
SELECT mt.set_tenant('$A', false) IS NULL;
$WORK
SQL
)
check_path "mt.set_tenant(tenant, false), autocommit" "$(echo "$out" | sed 1d)"

# 6. inside one function call: authenticate, then read through Citus
citus_psql 0 >/dev/null <<'SQL'
CREATE OR REPLACE FUNCTION public.cw_api_count(key text) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mt.authenticate(key);
    RETURN (SELECT count(*) FROM cw_orders);
END $$;
GRANT EXECUTE ON FUNCTION public.cw_api_count(text) TO cw_app;
SQL
KEY2=$(citus_psql 0 -c "SELECT mt.create_api_key('$A', 'context on workers 2')")
out=$(CITUS_USER=cw_app citus_psql 0 -c "BEGIN" -c "SELECT public.cw_api_count('$KEY2')" -c "COMMIT")
[ "$out" = 20 ] || fail "a function that authenticates and reads saw '$out' rows (expected 20)"
echo "ok: mt.authenticate and a distributed read inside one function"

# another tenant's row is refused by the worker's policy (WITH CHECK)
out=$(CITUS_USER=cw_app citus_psql 0 -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" \
    -c "INSERT INTO cw_orders VALUES (2000, '$B', 'planted')" 2>&1 || true)
grep -q "row-level security" <<<"$out" || fail "a row of tenant B was not refused: $out"
[ "$(citus_psql 0 -c "SELECT count(*) FROM cw_orders WHERE id = 2000")" = 0 ] || fail "tenant B's row was planted"
echo "ok: a row of another tenant is refused on the worker"

# the context ends with its transaction, on the workers too; none means nothing
out=$(CITUS_USER=cw_app citus_psql 0 <<SQL
BEGIN;
SELECT mt.set_tenant('$A') IS NULL;
SELECT count(*) FROM cw_orders;
COMMIT;
SELECT count(*) FROM cw_orders;
SQL
)
[ "$(echo "$out" | tr '\n' ' ')" = "f 20 0 " ] || fail "a context outlived its transaction on the workers: $out"
echo "ok: no context after the transaction, on the workers too"

# suspension reaches the workers at the next transaction (session-level context)
suspend=$(printf '%q ' "$MT_PGBIN/psql" -X -q -At -h "$CITUS_ROOT/sock" -p "${CITUS_PORTS[0]}" -U postgres -d "$CITUS_DB")
out=$(CITUS_USER=cw_app citus_psql 0 <<SQL
SELECT mt.set_tenant('$A', false) IS NULL;
SELECT count(*) FROM cw_orders;
\! $suspend -c "SELECT mt.suspend_tenant('$A')" >/dev/null
SELECT count(*) FROM cw_orders;
\! $suspend -c "SELECT mt.resume_tenant('$A')" >/dev/null
SELECT count(*) FROM cw_orders;
SQL
)
[ "$(echo "$out" | tr '\n' ' ')" = "f 20 0 20 " ] || fail "suspension did not reach the workers: $out"
echo "ok: a suspension reaches the workers at the next transaction"

# key revocation: the next transaction cannot enter the tenant any more
out=$(CITUS_USER=cw_app citus_psql 0 -v ON_ERROR_STOP=0 2>&1 <<SQL
BEGIN;
SELECT mt.authenticate('$KEY') IS NULL;
SELECT count(*) FROM cw_orders;
COMMIT;
\! $suspend -c "SELECT mt.revoke_api_key('$KEY')" >/dev/null
BEGIN;
SELECT mt.authenticate('$KEY') IS NULL;
ROLLBACK;
SELECT count(*) FROM cw_orders;
SQL
)
grep -q "invalid API key" <<<"$out" || fail "a revoked key still authenticated: $out"
[ "$(echo "$out" | grep -v ERROR | tr '\n' ' ')" = "f 20 0 " ] || fail "key revocation: unexpected results: $out"
echo "ok: a revoked key enters no tenant, on the workers neither"

# the value passed to the workers is never in the server log in clear
before=$(wc -l <"$(citus_log 0)")
citus_psql 0 >/dev/null 2>&1 <<SQL
SET citus.log_remote_commands = on;
SET log_min_messages = notice;
BEGIN;
SELECT mt.set_tenant('$A') IS NULL;
SELECT count(*) FROM cw_orders;
COMMIT;
SQL
log=$(tail -n +$((before + 1)) "$(citus_log 0)")
grep -q "multitenant.node_context TO 'mt-node|\*" <<<"$log" ||
    fail "the server log shows no (redacted) context being passed: $(echo "$log" | head -5)"
grep -Eq "mt-node\|1\|[0-9]" <<<"$log" && fail "the passed context appears in clear in the server log"
echo "ok: the passed context is redacted in the server log"

# on a worker: a forged value, and a valid one on a connection Citus did not open
secret=$(head -1 "$(citus_pgdata 1)/multitenant.secret")
value=$(python3 - "$secret" "$B" <<'PY'
import hashlib, hmac, sys, time
master, tenant = bytes.fromhex(sys.argv[1].strip()), sys.argv[2]
key = hmac.new(master, b"multitenant node context v1", hashlib.sha256).digest()
body = "mt-node|1|10000012345|%s|%d|||0" % (tenant, int(time.time()) + 120)
print(body + "|" + hmac.new(key, body.encode(), hashlib.sha256).hexdigest())
PY
)
forged=${value%|*}"|$(printf '0%.0s' $(seq 64))"
out=$(CITUS_USER=cw_app citus_psql 1 -c "SELECT set_config('multitenant.node_context', '$forged', false)" 2>&1 || true)
grep -q "does not verify" <<<"$out" || fail "a forged node context was not refused on a worker: $out"
out=$(CITUS_USER=cw_app citus_psql 1 -c "SELECT set_config('multitenant.node_context', '$value', false)" 2>&1 || true)
grep -q "accepted only on a connection Citus opened" <<<"$out" ||
    fail "a node context was accepted on a direct connection to a worker: $out"
echo "ok: a worker refuses forged node contexts and node contexts on direct connections"

# the hardening doc/citus.md asks for: application roles cannot run their
# own SQL on the workers through Citus; tenant queries still work
citus_psql 0 -c "REVOKE EXECUTE ON FUNCTION master_run_on_worker(text[], integer[], text[], boolean) FROM PUBLIC" >/dev/null
out=$(CITUS_USER=cw_app citus_psql 0 -c "SELECT count(*) FROM run_command_on_workers('SELECT 1')" 2>&1 || true)
grep -q "permission denied" <<<"$out" || fail "run_command_on_workers still works for an application role: $out"
out=$(CITUS_USER=cw_app citus_psql 0 <<SQL
BEGIN;
SELECT mt.set_tenant('$A') IS NULL;
$WORK
COMMIT;
SQL
)
check_path "mt.set_tenant(tenant) without master_run_on_worker for PUBLIC" "$(echo "$out" | sed 1d)"
citus_psql 0 -c "GRANT EXECUTE ON FUNCTION master_run_on_worker(text[], integer[], text[], boolean) TO PUBLIC" >/dev/null
echo "all ok"
