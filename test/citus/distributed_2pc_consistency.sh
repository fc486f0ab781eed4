#!/usr/bin/env bash
# The registry, API keys, usage and the audit chain (all on the coordinator)
# stay consistent with a distributed transaction that writes shards on both
# workers (two-phase commit) and across coordinator restarts:
#   1. committed: the new tenant and key exist, the usage is counted once,
#      the audit row is in a chain that verifies, the rows are on both
#      workers (PREPARE TRANSACTION was issued to both);
#   2. a worker fails at PREPARE (a deferred constraint trigger on its
#      shard): nothing of the transaction stays on the coordinator (tenant,
#      key, audit row) nor on the workers (rows, prepared transactions);
#      usage counting is not transactional (doc/usage.md) and keeps its
#      count, exactly once;
#   3. the coordinator crashes (immediate stop) while a worker is still in
#      PREPARE: after the restart and Citus's recovery, nothing of that
#      transaction is anywhere, and everything committed before is intact;
#   4. a clean restart of the coordinator keeps usage exact, keys working,
#      the registry and every audit chain verifiable.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

bg=
cleanup() {
    [ -n "$bg" ] && kill "$bg" 2>/dev/null
    citus_cluster_start >/dev/null 2>&1 || true
    citus_psql 0 -c "SELECT recover_prepared_transactions()" >/dev/null 2>&1 || true
    citus_psql 0 -c "SET citus.enable_unsafe_triggers = on" -c "DROP TABLE IF EXISTS tx_items" \
        -c "DROP FUNCTION IF EXISTS tx_items_at_commit()" >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

tag=$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
A=$(citus_psql 0 -c "SELECT mt.create_tenant('2PC A', 'tx-a-$tag')")
citus_psql 0 >/dev/null <<'SQL'
SET citus.enable_unsafe_triggers = on;
DROP TABLE IF EXISTS tx_items;
DROP FUNCTION IF EXISTS tx_items_at_commit();
CREATE TABLE tx_items (id bigint, tenant_id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
SELECT mt.enable_isolation('tx_items');
SELECT create_distributed_table('tx_items', 'tenant_id');
-- at PREPARE TRANSACTION on a worker: row -1 fails it, row -2 makes it slow
CREATE FUNCTION tx_items_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = -1 THEN RAISE EXCEPTION 'tx_items: refused at commit'; END IF;
    IF NEW.id = -2 THEN PERFORM pg_sleep(4); END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER tx_items_at_commit AFTER INSERT ON tx_items
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tx_items_at_commit();
SQL

# one distributed transaction: a tenant and a key in the registry, rows of
# 16 random tenants (every shard, both workers), usage and audit of A
# tx_script <label> <first id> <extra row id or empty> <amount tracked>
tx_script() {
    local extra=
    [ -n "$3" ] && extra="INSERT INTO tx_items VALUES ($3, gen_random_uuid());"
    cat <<SQL
SET citus.log_remote_commands = on;
SET client_min_messages = notice;
BEGIN;
SELECT mt.create_tenant('2PC $1', 'tx-$1-$tag') AS c \gset
SELECT mt.create_api_key(:'c', '$1 key') AS k \gset
SELECT mt.set_tenant('$A') AS ignored \gset
INSERT INTO tx_items SELECT g, gen_random_uuid() FROM generate_series($2, $2 + 15) g;
$extra
SELECT mt.track('tx.$1', $4) AS ignored \gset
SELECT mt.audit('tx.$1') AS ignored \gset
COMMIT;
\echo KEY :k
SQL
}
rows_of() { citus_psql 0 -c "SELECT count(*) FROM tx_items WHERE id BETWEEN $1 AND $1 + 15"; }
tenant_of() { citus_psql 0 -c "SELECT coalesce((SELECT status FROM mt.tenants WHERE slug = 'tx-$1-$tag'), 'none')"; }
key_tenant() { citus_psql 0 -c "SELECT coalesce((SELECT tenant_id::text FROM mt.verify_api_key('$1')), 'none')"; }
used() { citus_psql 0 -c "SELECT coalesce((SELECT used FROM mt.usage('$A') WHERE metric = 'tx.$1'), 0)"; }
audited() { citus_psql 0 -c "SELECT count(*) FROM mt.audit_log WHERE tenant_id = '$A' AND action = 'tx.$1'"; }
chains_ok() { citus_true 0 "SELECT bool_and(ok) FROM mt.audit_verify()"; }
prepared() { citus_psql 0 -c "SELECT coalesce(sum(result::int), 0) FROM run_command_on_workers('SELECT count(*) FROM pg_prepared_xacts')"; }
no_prepared() { citus_psql 0 -c "SELECT recover_prepared_transactions()" >/dev/null 2>&1; [ "$(prepared)" = 0 ]; }

# 1. committed
out=$(tx_script commit 1000 "" 7 | citus_psql 0 2>&1)
for p in "${CITUS_PORTS[1]}" "${CITUS_PORTS[2]}"; do
    echo "$out" | grep -A1 "issuing PREPARE TRANSACTION" | grep -c "127.0.0.1:$p " >/dev/null ||
        fail "the committed transaction did not PREPARE on port $p: $out"
done
key_c=$(echo "$out" | sed -n 's/^KEY //p')
C=$(citus_psql 0 -c "SELECT id FROM mt.tenants WHERE slug = 'tx-commit-$tag'")
[ "$(tenant_of commit)" = active ] || fail "committed: the new tenant is $(tenant_of commit)"
[ "$(key_tenant "$key_c")" = "$C" ] || fail "committed: the new key verifies as $(key_tenant "$key_c")"
[ "$(used commit)" = 7 ] || fail "committed: tx.commit used $(used commit), expected 7"
[ "$(audited commit)" = 1 ] || fail "committed: $(audited commit) audit rows for tx.commit"
chains_ok || fail "committed: an audit chain does not verify"
[ "$(rows_of 1000)" = 16 ] || fail "committed: $(rows_of 1000) of 16 rows"
echo "ok: a committed 2PC transaction: tenant, key, usage, audit and rows on both workers"

# 2. a worker fails at PREPARE
out=$(tx_script abort 2000 -1 5 | citus_psql 0 -v ON_ERROR_STOP=0 2>&1)
grep -q "tx_items: refused at commit" <<<"$out" || fail "the failing transaction did not fail at commit: $out"
key_d=$(echo "$out" | sed -n 's/^KEY //p')
[ -n "$key_d" ] || fail "no key was minted in the failing transaction: $out"
[ "$(tenant_of abort)" = none ] || fail "aborted: the tenant stayed ($(tenant_of abort))"
[ "$(key_tenant "$key_d")" = none ] || fail "aborted: the key verifies"
[ "$(audited abort)" = 0 ] || fail "aborted: the audit row stayed"
chains_ok || fail "aborted: an audit chain does not verify"
[ "$(rows_of 2000)" = 0 ] || fail "aborted: $(rows_of 2000) rows stayed"
[ "$(used abort)" = 5 ] || fail "aborted: tx.abort used $(used abort), expected 5 (counted once, not transactional)"
wait_for 20 no_prepared || fail "aborted: $(prepared) prepared transactions left on the workers"
echo "ok: a worker failing at PREPARE leaves no tenant, key, audit row, row or prepared transaction"

# 3. the coordinator crashes while a worker is still in PREPARE
not() { ! "$@"; }
sleeping() { [ "$(citus_psql 0 -c "SELECT coalesce(sum(result::int), 0) FROM run_command_on_workers(
    \$\$SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'PREPARE TRANSACTION%'\$\$)")" != 0 ]; }
tx_script crash 3000 -2 3 | citus_psql 0 -v ON_ERROR_STOP=0 >/dev/null 2>&1 &
bg=$!
wait_for 30 sleeping || fail "no worker is in PREPARE"
citus_node_stop 0 immediate
wait "$bg" 2>/dev/null || true
bg=
citus_node_start 0
# the slow worker finishes its PREPARE after the coordinator is gone: a
# prepared transaction that only Citus's recovery can end
wait_for 30 not sleeping || fail "a worker is still in PREPARE"
wait_for 30 no_prepared || fail "after the crash: $(prepared) prepared transactions left on the workers"
[ "$(tenant_of crash)" = none ] || fail "crashed: the tenant exists ($(tenant_of crash))"
[ "$(audited crash)" = 0 ] || fail "crashed: the audit row exists"
[ "$(rows_of 3000)" = 0 ] || fail "crashed: $(rows_of 3000) rows exist"
chains_ok || fail "crashed: an audit chain does not verify"
[ "$(tenant_of commit)" = active ] && [ "$(key_tenant "$key_c")" = "$C" ] && [ "$(rows_of 1000)" = 16 ] &&
    [ "$(audited commit)" = 1 ] || fail "crashed: the committed transaction's state changed"
[ "$(used commit)" = 7 ] && [ "$(used abort)" = 5 ] && [ "$(used crash)" = 3 ] ||
    fail "crashed: usage commit/abort/crash is $(used commit)/$(used abort)/$(used crash), expected 7/5/3"
echo "ok: a coordinator crash during PREPARE: nothing of the transaction anywhere after recovery"

# 4. a clean restart of the coordinator
audit_rows=$(citus_psql 0 -c "SELECT count(*) FROM mt.audit_log")
citus_node_stop 0 fast
citus_node_start 0
[ "$(used commit)" = 7 ] && [ "$(used abort)" = 5 ] && [ "$(used crash)" = 3 ] ||
    fail "restarted: usage commit/abort/crash is $(used commit)/$(used abort)/$(used crash), expected 7/5/3"
[ "$(tenant_of commit)" = active ] || fail "restarted: the tenant is $(tenant_of commit)"
[ "$(key_tenant "$key_c")" = "$C" ] || fail "restarted: the key verifies as $(key_tenant "$key_c")"
[ "$(citus_psql 0 -c "SELECT count(*) FROM mt.audit_log")" = "$audit_rows" ] || fail "restarted: audit rows changed"
chains_ok || fail "restarted: an audit chain does not verify"
[ "$(rows_of 1000)" = 16 ] || fail "restarted: $(rows_of 1000) of 16 rows"
echo "ok: a clean coordinator restart keeps usage, keys, registry and audit"
echo "all ok"
