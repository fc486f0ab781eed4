#!/usr/bin/env bash
# A multitenant.node_context value is bound to a Citus global pid (node id
# * 10^10 + pid) and accepted on a connection whose startup
# application_name is 'citus_internal gpid=<that gpid>', which any client
# chooses.  On the node that MADE the value (its gpid's node id is this
# node's: the coordinator, or a worker that ran a distributed query) the
# application_name proves nothing, so there the value is accepted only
# while the backend with that pid is alive and passing exactly that value
# (in its current transaction).  A value stolen from a worker
# (pg_stat_statements keeps it) and replayed on the coordinator by a
# client that names itself after its gpid must not give the coordinator's
# own isolated (non-distributed) table's rows to that client:
#   - the session that made it has ended (stale pid);
#   - the session is alive and in a transaction that passes another value
#     (another tenant);
#   - the same session once that transaction ended.
# Citus' own loopback connections to the coordinator (a coordinator with
# shards, local execution off) still carry the tenant context.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

VICTIM_PID=
cleanup() {
    [ -n "$VICTIM_PID" ] && kill "$VICTIM_PID" 2>/dev/null
    citus_psql 0 -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sn_victim'" \
        -c "DROP TABLE IF EXISTS sn_notes, sn_dist, sn_loop" \
        -c "SELECT citus_set_node_property('127.0.0.1', ${CITUS_PORTS[0]}, 'shouldhaveshards', false)" \
        >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

citus_psql 0 >/dev/null <<'SQL'
DROP TABLE IF EXISTS sn_notes, sn_dist, sn_loop;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sn_app') THEN CREATE ROLE sn_app LOGIN; END IF;
END $$;
GRANT EXECUTE ON FUNCTION mt.set_tenant(uuid, boolean) TO sn_app;
-- the coordinator's own table: never distributed
CREATE TABLE sn_notes (id bigint, tenant_id uuid NOT NULL, note text, PRIMARY KEY (tenant_id, id));
GRANT SELECT ON sn_notes TO sn_app;
SELECT mt.enable_isolation('sn_notes');
CREATE TABLE sn_dist (id bigint, tenant_id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
GRANT SELECT ON sn_dist TO sn_app;
SELECT mt.enable_isolation('sn_dist');
SELECT create_distributed_table('sn_dist', 'tenant_id');
SQL
A=$(citus_psql 0 -c "SELECT mt.create_tenant('Same A', 'sn-a-' || substr(md5(random()::text), 1, 8))")
B=$(citus_psql 0 -c "SELECT mt.create_tenant('Same B', 'sn-b-' || substr(md5(random()::text), 1, 8))")
citus_psql 0 -c "INSERT INTO sn_notes SELECT g, t, 'note ' || g FROM (VALUES ('$A'::uuid), ('$B'::uuid)) v(t), generate_series(1, 10) g" \
    -c "INSERT INTO sn_dist SELECT g, t FROM (VALUES ('$A'::uuid), ('$B'::uuid)) v(t), generate_series(1, 10) g" >/dev/null
COORD_NODE=$(citus_psql 0 -c "SELECT nodeid FROM pg_dist_node WHERE groupid = 0 AND isactive")
[ -n "$COORD_NODE" ] || fail "the coordinator is not in pg_dist_node"
secret=$(head -1 "$(citus_pgdata 0)/multitenant.secret")

# forge <gpid> <tenant>: a genuine value (what an attacker reads on a worker)
forge() {
    python3 - "$secret" "$2" "$1" <<'PY'
import hashlib, hmac, sys, time
master, tenant, gpid = bytes.fromhex(sys.argv[1].strip()), sys.argv[2], sys.argv[3]
key = hmac.new(master, b"multitenant node context v1", hashlib.sha256).digest()
body = "mt-node|1|%s|%s|%d|||0" % (gpid, tenant, int(time.time()) + 240)
print(body + "|" + hmac.new(key, body.encode(), hashlib.sha256).hexdigest())
PY
}
gpid_of() { echo $((COORD_NODE * 10000000000 + $1)); }

# replay <gpid> <value>: a client of the coordinator with no tenant names
# itself after the gpid, sets the value, reads the coordinator's own table
replay() {
    PGAPPNAME="citus_internal gpid=$1" CITUS_USER=sn_app citus_psql 0 -v ON_ERROR_STOP=0 2>&1 <<SQL
BEGIN;
SET LOCAL multitenant.node_context TO '$2';
SELECT 'rows=' || count(*) FROM sn_notes;
COMMIT;
SQL
}
expect_refused() {   # expect_refused <what> <replay output>
    if grep -q '^rows=[1-9]' <<<"$2"; then
        fail "$1: a replayed node context gave the coordinator's table to the client: $(echo "$2" | grep '^rows=') of tenant B's 10 rows"
    fi
    grep -q 'invalid tenant context from the Citus coordinator' <<<"$2" ||
        fail "$1: expected the value to be refused, got: $2"
    echo "ok: $1"
}

# 1. the session that made it has ended: its pid is free (or reused)
old_pid=$(citus_psql 0 -c "SELECT pg_backend_pid()")
out=$(replay "$(gpid_of "$old_pid")" "$(forge "$(gpid_of "$old_pid")" "$B")")
expect_refused "a value of a session that has ended" "$out"

# 2. a live session of the coordinator that is passing another tenant's
#    value right now (an open transaction on tenant A)
fifo=$MT_ROOT/sn_victim.fifo
rm -f "$fifo"; mkfifo "$fifo"
PGAPPNAME=sn_victim CITUS_USER=sn_app citus_psql 0 <"$fifo" >"$MT_ROOT/sn_victim.out" 2>&1 &
VICTIM_PID=$!
exec 7>"$fifo"
cat >&7 <<SQL
BEGIN;
SELECT mt.set_tenant('$A') IS NULL;
SELECT 'victim=' || count(*) FROM sn_dist;
SQL
for _ in $(seq 1 100); do
    grep -q '^victim=' "$MT_ROOT/sn_victim.out" && break
    sleep 0.1
done
grep -q '^victim=10$' "$MT_ROOT/sn_victim.out" || fail "the victim session did not read its 10 rows: $(cat "$MT_ROOT/sn_victim.out")"
vpid=$(citus_psql 0 -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'sn_victim'")
[ -n "$vpid" ] || fail "the victim session is not there"
out=$(replay "$(gpid_of "$vpid")" "$(forge "$(gpid_of "$vpid")" "$B")")
expect_refused "a live session passing another value" "$out"

# 3. the same session once its transaction ended: alive, passing nothing
echo "COMMIT;" >&7
for _ in $(seq 1 100); do
    [ "$(citus_psql 0 -c "SELECT state FROM pg_stat_activity WHERE application_name = 'sn_victim'")" = idle ] && break
    sleep 0.1
done
out=$(replay "$(gpid_of "$vpid")" "$(forge "$(gpid_of "$vpid")" "$A")")
expect_refused "a live session whose transaction ended" "$out"
exec 7>&-
wait "$VICTIM_PID" || true
VICTIM_PID=

# 4. a value made on a worker's node id is still accepted on the
#    coordinator's side of the check (only the node that made a value
#    checks its maker): on worker1, the coordinator's gpid is accepted
W1_NODE=$(citus_psql 0 -c "SELECT nodeid FROM pg_dist_node WHERE nodeport = ${CITUS_PORTS[1]}")
g=$((COORD_NODE * 10000000000 + 4242))
out=$(PGAPPNAME="citus_internal gpid=$g" citus_psql 1 -v ON_ERROR_STOP=0 2>&1 <<SQL
BEGIN;
SET LOCAL multitenant.node_context TO '$(forge "$g" "$B")';
SELECT 'tenant=' || mt.current_tenant();
COMMIT;
SQL
)
grep -q "^tenant=$B" <<<"$out" || fail "a worker no longer accepts the coordinator's value (worker node $W1_NODE): $out"
echo "ok: a worker still accepts a value made on the coordinator"

# 5. Citus' loopback connections: the coordinator holds shards, local
#    execution is off, so Citus connects to the coordinator itself with the
#    session's value; the tenant sees all its rows, on every node
citus_psql 0 >/dev/null <<SQL
SELECT citus_set_node_property('127.0.0.1', ${CITUS_PORTS[0]}, 'shouldhaveshards', true);
CREATE TABLE sn_loop (id bigint, tenant_id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
GRANT SELECT ON sn_loop TO sn_app;
SELECT mt.enable_isolation('sn_loop');
SELECT create_distributed_table('sn_loop', 'tenant_id', shard_count := 8);
SQL
citus_psql 0 -c "INSERT INTO sn_loop SELECT g, t FROM (SELECT mt.create_tenant('Loop ' || i, 'sn-l-' || i || '-' || substr(md5(random()::text), 1, 8)) t FROM generate_series(1, 12) i) v, generate_series(1, 5) g" >/dev/null
local_tenant=$(citus_psql 0 -c "SELECT DISTINCT l.tenant_id FROM sn_loop l, citus_shards s
    WHERE s.table_name = 'sn_loop'::regclass AND s.nodeport = ${CITUS_PORTS[0]}
      AND s.shardid = get_shard_id_for_distribution_column('sn_loop', l.tenant_id) LIMIT 1")
[ -n "$local_tenant" ] || fail "no tenant of sn_loop has its shard on the coordinator"
out=$(CITUS_USER=sn_app citus_psql 0 -v ON_ERROR_STOP=0 2>&1 <<SQL
SET citus.enable_local_execution = off;
BEGIN;
SELECT mt.set_tenant('$local_tenant') IS NULL;
SELECT 'one=' || count(*) FROM sn_loop WHERE tenant_id = '$local_tenant';
SELECT 'all=' || count(*) FROM sn_loop;
SELECT 'loopback=' || count(*) FROM pg_stat_activity WHERE application_name LIKE 'citus_internal gpid=%' AND backend_type = 'client backend';
COMMIT;
SQL
)
grep -q '^one=5$' <<<"$out" || fail "a loopback connection lost the tenant context (one shard): $out"
grep -q '^all=5$' <<<"$out" || fail "a loopback connection lost the tenant context (all shards): $out"
grep -q '^loopback=[1-9]' <<<"$out" || fail "Citus opened no connection to the coordinator itself: $out"
echo "ok: Citus' loopback connections to the coordinator carry the tenant context"

# 6. the same with a context that changes inside the transaction (two values
#    replayed to a connection opened after the second)
out=$(CITUS_USER=sn_app citus_psql 0 -v ON_ERROR_STOP=0 2>&1 <<SQL
SET citus.enable_local_execution = off;
BEGIN;
SELECT mt.set_tenant('$A') IS NULL;
SELECT 'a=' || count(*) FROM sn_dist;
SELECT mt.set_tenant('$local_tenant') IS NULL;
SELECT 'all=' || count(*) FROM sn_loop;
COMMIT;
SQL
)
grep -q '^a=10$' <<<"$out" && grep -q '^all=5$' <<<"$out" ||
    fail "a context changed inside the transaction broke the loopback connections: $out"
echo "ok: a transaction that passed two values still reaches the coordinator's shards"
echo "all ok"
