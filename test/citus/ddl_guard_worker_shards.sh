#!/usr/bin/env bash
# The DDL guard protects the placements (shards) of an isolated distributed
# table on the workers, and the workers' copies of the table, not only the
# coordinator's table.  A worker has no registry of isolated tables, so
# before, the table owner (who owns every shard) connected to a worker
# directly could disable or stop forcing row level security on a shard, or
# drop, alter or rename its generated policies, and every tenant query
# routed to that shard through the coordinator leaked.  Now each of these is
# refused there (42501, as on the coordinator), also on shards created
# later by a shard move or a split, while what the coordinator sanctions
# still reaches the shards: mt.disable_isolation / mt.enable_isolation, a
# superuser's multitenant.allow_unsafe_ddl on the coordinator (and on the
# worker itself), and what Citus does (distribution, moves, splits,
# rebalance, ADD COLUMN, CREATE INDEX, TRUNCATE, DROP TABLE,
# citus_schema_move).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

cleanup() {
    citus_psql 0 -c "DROP TABLE IF EXISTS cdg_orders, cdg_late, cdg_events" \
        -c "DROP SCHEMA IF EXISTS cdg_tenant CASCADE" >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

citus_psql 0 >/dev/null <<'SQL'
DROP TABLE IF EXISTS cdg_orders, cdg_late;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cdg_owner') THEN CREATE ROLE cdg_owner LOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cdg_app') THEN CREATE ROLE cdg_app LOGIN; END IF;
END $$;
GRANT CREATE ON SCHEMA public TO cdg_owner;
GRANT EXECUTE ON FUNCTION mt.set_tenant(uuid, boolean) TO cdg_app;
SQL
citus_psql 0 -U cdg_owner >/dev/null <<'SQL'
CREATE TABLE cdg_orders (id bigint, tenant_id uuid NOT NULL, item text, PRIMARY KEY (tenant_id, id));
GRANT SELECT, INSERT, UPDATE, DELETE ON cdg_orders TO cdg_app;
SQL
citus_psql 0 >/dev/null <<'SQL'
SELECT mt.enable_isolation('cdg_orders');
SELECT create_distributed_table('cdg_orders', 'tenant_id');
SQL
A=$(citus_psql 0 -c "SELECT mt.create_tenant('Guard A', 'cdg-a-' || substr(md5(random()::text), 1, 8))")
B=$(citus_psql 0 -c "SELECT mt.create_tenant('Guard B', 'cdg-b-' || substr(md5(random()::text), 1, 8))")
citus_psql 0 -c "INSERT INTO cdg_orders SELECT g, t, 'item ' || g
    FROM (VALUES ('$A'::uuid), ('$B'::uuid)) v(t), generate_series(1, 20) g" >/dev/null

# shard_of <table> <tenant>: "shard_name node" of the tenant's placement
shard_of() {
    local shard port
    read -r shard port < <(citus_psql 0 -F ' ' -c "SELECT s.shard_name, s.nodeport FROM citus_shards s
        WHERE s.table_name = '$1'::regclass
          AND s.shardid = get_shard_id_for_distribution_column('$1', '$2'::uuid)")
    echo "$shard $(citus_node_of_port "$port")"
}

# protections <node> <relation>: rls,forced,policies of a relation on a node
protections() {
    # Citus hides shards from pg_class queries unless told not to
    citus_psql "$1" -c "SET citus.override_table_visibility = off" -c "SELECT c.relrowsecurity || ',' || c.relforcerowsecurity || ',' ||
        coalesce((SELECT string_agg(polname || ':' || CASE WHEN polpermissive THEN 'p' ELSE 'r' END
                  || ':' || pg_get_expr(polqual, polrelid), ';' ORDER BY polname)
                  FROM pg_policy WHERE polrelid = c.oid), 'none')
        FROM pg_class c WHERE c.oid = '$2'::regclass"
}
intact() {   # intact <node> <relation>
    [ "$(protections "$1" "$2")" = "true,true,mt_tenant_access:p:(tenant_id = mt.current_tenant());mt_tenant_isolation:r:(tenant_id = mt.current_tenant())" ]
}

# tenant A through the coordinator reads its 20 rows and none of B's
check_no_leak() {   # check_no_leak <table> <when>
    local n
    n=$(citus_psql 0 -U cdg_app -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" \
        -c "SELECT count(*) FILTER (WHERE tenant_id = '$A') || ',' || count(*) FILTER (WHERE tenant_id <> '$A') FROM $1" \
        -c "COMMIT" | sed -n 2p)
    [ "$n" = "20,0" ] || fail "$2: tenant A read $n (own,other) rows of $1 through the coordinator (want 20,0)"
}

# attack <node> <relation> <what> <sql>: the table owner, connected to the
# node directly, weakens the relation: refused with 42501, nothing changed
attack() {
    local node=$1 rel=$2 what=$3 sql=$4 out
    out=$(citus_psql "$node" -U cdg_owner -v ON_ERROR_STOP=0 -v VERBOSITY=verbose 2>&1 <<SQL
SET citus.enable_manual_changes_to_shards = on;
SET citus.enable_ddl_propagation = off;
$sql;
SQL
)
    if ! grep -q "ERROR:  42501: cannot .* on .*: the table is isolated by multitenant" <<<"$out"; then
        fail "the table owner could $what on ${CITUS_NAMES[$node]}'s $rel: $(echo "$out" | head -3); now: $(protections "$node" "$rel")"
    fi
    intact "$node" "$rel" || fail "$what on ${CITUS_NAMES[$node]}'s $rel was refused but changed it: $(protections "$node" "$rel")"
}

# every weakening DDL on a shard of B, on a shard of A, and on the worker's
# copy of the table
attack_all() {   # attack_all <node> <relation>
    attack "$1" "$2" "disable row level security" "ALTER TABLE $2 DISABLE ROW LEVEL SECURITY"
    attack "$1" "$2" "stop forcing row level security" "ALTER TABLE $2 NO FORCE ROW LEVEL SECURITY"
    attack "$1" "$2" "drop the restrictive policy" "DROP POLICY mt_tenant_isolation ON $2"
    attack "$1" "$2" "drop the permissive policy" "DROP POLICY IF EXISTS mt_tenant_access ON $2"
    attack "$1" "$2" "alter the restrictive policy" "ALTER POLICY mt_tenant_isolation ON $2 USING (true)"
    attack "$1" "$2" "rename the restrictive policy" "ALTER POLICY mt_tenant_isolation ON $2 RENAME TO gone"
    # (Citus itself refuses this on its table, the worker's copy)
    [ "$2" = cdg_orders ] ||
        attack "$1" "$2" "drop the tenant column with its policies" "ALTER TABLE $2 DROP COLUMN tenant_id CASCADE"
}

read -r shardB nodeB < <(shard_of cdg_orders "$B")
# a shard on the other worker
otherNode=$((3 - nodeB))
shardO=$(citus_psql 0 -c "SELECT shard_name FROM citus_shards WHERE table_name = 'cdg_orders'::regclass
    AND nodeport = ${CITUS_PORTS[$otherNode]} ORDER BY shardid LIMIT 1")
[ -n "$shardO" ] || fail "${CITUS_NAMES[$otherNode]} holds no shard of cdg_orders"
intact "$nodeB" "$shardB" || fail "shard $shardB is not isolated to begin with: $(protections "$nodeB" "$shardB")"
attack_all "$nodeB" "$shardB"
attack_all "$otherNode" "$shardO"
attack_all "$otherNode" cdg_orders
# ... nor read every tenant's rows of a shard through a parent of its own
for sql in "CREATE TABLE cdg_leak (id bigint, tenant_id uuid NOT NULL, item text); ALTER TABLE $shardB INHERIT cdg_leak" \
    "CREATE TABLE cdg_leak (id bigint, tenant_id uuid NOT NULL, item text) PARTITION BY LIST (id); ALTER TABLE cdg_leak ATTACH PARTITION $shardB DEFAULT"; do
    out=$(CITUS_USER=cdg_owner citus_psql "$nodeB" -v ON_ERROR_STOP=0 -v VERBOSITY=verbose 2>&1 <<SQL
SET citus.enable_manual_changes_to_shards = on;
BEGIN;
$sql;
SELECT 'rows=' || count(*) FROM cdg_leak;
ROLLBACK;
SQL
)
    grep -q "ERROR:  42501: cannot place an isolated table below a table that is not isolated" <<<"$out" ||
        fail "the table owner could put $shardB below a table of its own: $(echo "$out" | grep -E 'rows=|ERROR')"
done
check_no_leak cdg_orders "after the attacks on the shards"
echo "ok: the table owner cannot weaken a shard or a worker's copy of an isolated table on a worker"

# placements_state <table>: the distinct lints of every placement and every
# worker's copy (mt.placement_isolation_issues: '' when intact)
placements_state() {
    citus_psql 0 -c "SELECT string_agg(DISTINCT coalesce(result, 'error'), ' / ') FROM (
        SELECT result FROM run_command_on_placements('$1',
            \$\$SELECT pg_catalog.array_to_string(mt.placement_isolation_issues('%s', 'tenant_id'), ';')\$\$)
        UNION ALL
        SELECT result FROM run_command_on_workers(
            \$\$SELECT pg_catalog.array_to_string(mt.placement_isolation_issues('$1', 'tenant_id'), ';')\$\$)) r"
}
all_intact() {   # all_intact <table> <when>
    local st
    st=$(placements_state "$1")
    [ -z "$st" ] || fail "$2: placements or worker copies of $1 are not isolated: $st"
    citus_true 0 "SELECT policies_ok AND issues = '{}' FROM mt.isolation_status() WHERE tbl = '$1'::regclass" ||
        fail "$2: isolation_status reports $(citus_psql 0 -c "SELECT issues FROM mt.isolation_status() WHERE tbl = '$1'::regclass")"
}
ALL_OFF="row level security is disabled;row level security is not forced (the owner bypasses it);generated tenant policies are missing or altered"

# --- what the coordinator sanctions reaches every placement -------------
citus_psql 0 -c "SELECT mt.disable_isolation('cdg_orders')" >/dev/null
[ "$(placements_state cdg_orders)" = "$ALL_OFF" ] ||
    fail "mt.disable_isolation did not reach every placement: $(placements_state cdg_orders)"
citus_psql 0 -c "SELECT mt.enable_isolation('cdg_orders')" >/dev/null
all_intact cdg_orders "mt.enable_isolation after mt.disable_isolation"
# again, in a transaction block: the restrictive policy is dropped and
# recreated on every placement (the repair)
citus_psql 0 -c "BEGIN" -c "SELECT mt.enable_isolation('cdg_orders')" -c "SELECT mt.disable_isolation('cdg_orders')" \
    -c "SELECT mt.enable_isolation('cdg_orders')" -c "SELECT mt.enable_isolation('cdg_orders')" -c "COMMIT" >/dev/null
all_intact cdg_orders "mt.disable_isolation and mt.enable_isolation in one transaction"
check_no_leak cdg_orders "after mt.disable_isolation / mt.enable_isolation"
echo "ok: mt.disable_isolation and mt.enable_isolation reach every placement"

# a superuser's multitenant.allow_unsafe_ddl on the coordinator
citus_psql 0 -c "BEGIN" -c "SET LOCAL multitenant.allow_unsafe_ddl = on" \
    -c "ALTER TABLE cdg_orders NO FORCE ROW LEVEL SECURITY" -c "DROP POLICY mt_tenant_access ON cdg_orders" \
    -c "COMMIT" >/dev/null
[ "$(placements_state cdg_orders)" = "row level security is not forced (the owner bypasses it);generated tenant policies are missing or altered" ] ||
    fail "allow_unsafe_ddl on the coordinator did not reach every placement: $(placements_state cdg_orders)"
citus_psql 0 -c "SELECT mt.enable_isolation('cdg_orders')" >/dev/null
all_intact cdg_orders "the repair after allow_unsafe_ddl"
# ... and a superuser's on the worker itself
citus_psql "$nodeB" -c "SET citus.enable_manual_changes_to_shards = on" -c "SET multitenant.allow_unsafe_ddl = on" \
    -c "ALTER TABLE $shardB NO FORCE ROW LEVEL SECURITY" >/dev/null
[ "$(protections "$nodeB" "$shardB" | cut -d, -f2)" = false ] || fail "allow_unsafe_ddl on the worker did not apply"
citus_psql 0 -c "SELECT mt.enable_isolation('cdg_orders')" >/dev/null
all_intact cdg_orders "the repair after allow_unsafe_ddl on a worker"
echo "ok: a superuser's multitenant.allow_unsafe_ddl, on the coordinator or on a worker"

# --- what Citus does ------------------------------------------------------
citus_psql 0 -U cdg_owner -c "ALTER TABLE cdg_orders ADD COLUMN note text" \
    -c "CREATE INDEX ON cdg_orders (item)" >/dev/null
citus_psql 0 -c "INSERT INTO cdg_orders (id, tenant_id, item) VALUES (100, '$A', 'x')" \
    -c "TRUNCATE cdg_orders" >/dev/null
citus_psql 0 -c "INSERT INTO cdg_orders SELECT g, t, 'item ' || g
    FROM (VALUES ('$A'::uuid), ('$B'::uuid)) v(t), generate_series(1, 20) g" >/dev/null
all_intact cdg_orders "ADD COLUMN, CREATE INDEX, TRUNCATE"
read -r shardid port < <(citus_psql 0 -F ' ' -c "SELECT shardid, nodeport FROM citus_shards
    WHERE table_name = 'cdg_orders'::regclass
      AND shardid = get_shard_id_for_distribution_column('cdg_orders', '$B'::uuid)")
to=${CITUS_PORTS[1]}
[ "$port" = "$to" ] && to=${CITUS_PORTS[2]}
citus_psql 0 -c "SELECT citus_move_shard_placement($shardid, '127.0.0.1', $port, '127.0.0.1', $to,
    shard_transfer_mode => 'force_logical')" >/dev/null
all_intact cdg_orders "citus_move_shard_placement"
citus_psql 0 -c "SELECT isolate_tenant_to_new_shard('cdg_orders', '$B'::uuid, 'CASCADE',
    shard_transfer_mode => 'block_writes')" >/dev/null
all_intact cdg_orders "isolate_tenant_to_new_shard"
citus_psql 0 -c "SELECT rebalance_table_shards('cdg_orders', shard_transfer_mode => 'block_writes')" >/dev/null
all_intact cdg_orders "rebalance_table_shards"
check_no_leak cdg_orders "after a move, a split and a rebalance"
# the shards these made are guarded too
read -r shardB nodeB < <(shard_of cdg_orders "$B")
attack_all "$nodeB" "$shardB"
check_no_leak cdg_orders "after the attacks on B's new shard"
echo "ok: ADD COLUMN, CREATE INDEX, TRUNCATE, a move, a split, a rebalance; the new shards are guarded"

# schema-based sharding: a tenant schema moved to the other worker
citus_psql 0 >/dev/null <<'SQL'
SET citus.enable_schema_based_sharding = on;
CREATE SCHEMA cdg_tenant AUTHORIZATION cdg_owner;
SQL
citus_psql 0 -U cdg_owner -c "CREATE TABLE cdg_tenant.notes (id bigint, tenant_id uuid NOT NULL, body text,
    PRIMARY KEY (tenant_id, id))" >/dev/null
citus_psql 0 >/dev/null <<'SQL'
SELECT mt.enable_isolation('cdg_tenant.notes');
SQL
citus_psql 0 -c "INSERT INTO cdg_tenant.notes VALUES (1, '$A', 'a'), (2, '$B', 'b')" >/dev/null
all_intact cdg_tenant.notes "a table of a distributed schema"
port=$(citus_psql 0 -c "SELECT nodeport FROM citus_shards WHERE table_name = 'cdg_tenant.notes'::regclass")
to=${CITUS_PORTS[1]}
[ "$port" = "$to" ] && to=${CITUS_PORTS[2]}
citus_psql 0 -c "SELECT citus_schema_move('cdg_tenant', '127.0.0.1', $to, shard_transfer_mode => 'block_writes')" >/dev/null
all_intact cdg_tenant.notes "citus_schema_move"
shard=$(citus_psql 0 -c "SELECT shard_name FROM citus_shards WHERE table_name = 'cdg_tenant.notes'::regclass")
attack "$(citus_node_of_port "$to")" "$shard" "disable row level security" "ALTER TABLE $shard DISABLE ROW LEVEL SECURITY"
echo "ok: citus_schema_move; the moved placement is guarded"

# a distributed partitioned table: Citus attaches the placements of a new
# partition to those of the isolated parent
citus_psql 0 -U cdg_owner >/dev/null <<'SQL'
CREATE TABLE cdg_events (id bigint, tenant_id uuid NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE cdg_events_2026 PARTITION OF cdg_events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
GRANT SELECT ON cdg_events TO cdg_app;
SQL
citus_psql 0 -c "SELECT mt.enable_isolation('cdg_events')" \
    -c "SELECT create_distributed_table('cdg_events', 'tenant_id')" >/dev/null
citus_psql 0 -U cdg_owner -c "CREATE TABLE cdg_events_2027 PARTITION OF cdg_events
    FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')" >/dev/null
for t in cdg_events cdg_events_2026 cdg_events_2027; do all_intact $t "a distributed partitioned table"; done
citus_psql 0 -c "INSERT INTO cdg_events SELECT g, t, DATE '2026-06-01' + g * 20
    FROM (VALUES ('$A'::uuid), ('$B'::uuid)) v(t), generate_series(1, 20) g" >/dev/null
check_no_leak cdg_events "a distributed partitioned table"
echo "ok: partitions of a distributed partitioned table"

# DROP TABLE of an isolated distributed table drops its placements
citus_psql 0 -U cdg_owner >/dev/null <<'SQL'
CREATE TABLE cdg_late (id bigint, tenant_id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
SQL
citus_psql 0 -c "SELECT mt.enable_isolation('cdg_late')" -c "SELECT create_distributed_table('cdg_late', 'tenant_id')" >/dev/null
all_intact cdg_late "create_distributed_table after mt.enable_isolation"
citus_psql 0 -U cdg_owner -c "DROP TABLE cdg_late, cdg_events" >/dev/null
citus_psql 0 -c "DROP TABLE cdg_tenant.notes" >/dev/null
echo "ok: DROP TABLE"

# --- an approval cannot be replayed ------------------------------------------
# One as the coordinator makes it for a session with gpid $gpid, as an
# attacker might read it in a worker's pg_stat_statements.
gpid=10000054321
secret=$(head -1 "$(citus_pgdata 0)/multitenant.secret")
approval() {
    python3 - "$secret" "$gpid" <<'PY'
import hashlib, hmac, os, sys, time
master, gpid = bytes.fromhex(sys.argv[1].strip()), sys.argv[2]
key = hmac.new(master, b"multitenant node ddl approval v1", hashlib.sha256).digest()
body = "mt-node|dd|%s|%d|%s" % (gpid, int(time.time()) + 300, os.urandom(16).hex())
print(body + "|" + hmac.new(key, body.encode(), hashlib.sha256).hexdigest())
PY
}
value=$(approval)
# weaken <node> <relation> <approval> [SET LOCAL|SET]: in a connection named
# like Citus's for the gpid; rolled back
weaken() {
    PGAPPNAME="citus_internal gpid=$gpid" CITUS_USER=cdg_owner citus_psql "$1" -v ON_ERROR_STOP=0 -v VERBOSITY=verbose 2>&1 <<SQL
SET citus.enable_manual_changes_to_shards = on;
BEGIN;
${4:-SET LOCAL} multitenant.node_ddl_approval TO '$3';
ALTER TABLE $2 NO FORCE ROW LEVEL SECURITY;
SELECT 'forced=' || relforcerowsecurity FROM pg_class WHERE oid = '$2'::regclass;
ROLLBACK;
SQL
}
# its first use, in the transaction that received it, is the coordinator's
out=$(weaken "$nodeB" "$shardB" "$value")
grep -q '^forced=false' <<<"$out" || fail "an approval was not honored in its own transaction: $out"
# replayed by another session (same application_name), or later by the same
out=$(weaken "$nodeB" "$shardB" "$value")
grep -q "ERROR:  42501: cannot stop forcing row level security on .*$shardB" <<<"$out" ||
    fail "a used approval was accepted again by another session: $out"
intact "$nodeB" "$shardB" || fail "the replay changed $shardB"
# a session-level SET, used in a later transaction
value=$(approval)
out=$(PGAPPNAME="citus_internal gpid=$gpid" CITUS_USER=cdg_owner citus_psql "$nodeB" -v ON_ERROR_STOP=0 -v VERBOSITY=verbose 2>&1 <<SQL
SET citus.enable_manual_changes_to_shards = on;
SET multitenant.node_ddl_approval TO '$value';
ALTER TABLE $shardB NO FORCE ROW LEVEL SECURITY;
SQL
)
grep -q "ERROR:  42501: cannot stop forcing" <<<"$out" ||
    fail "an approval set for the session was honored in a later transaction: $out"
intact "$nodeB" "$shardB" || fail "the session-level approval changed $shardB"
# on a connection not named for its gpid, or tampered with: refused when set
value=$(approval)
out=$(CITUS_USER=cdg_owner citus_psql "$nodeB" -v ON_ERROR_STOP=0 -v VERBOSITY=verbose \
    -c "SET multitenant.node_ddl_approval TO '$value'" 2>&1 || true)
grep -q "ERROR:  28000: invalid DDL approval from the Citus coordinator" <<<"$out" ||
    fail "an approval was accepted on a connection of another session: $out"
# (the last hex digit of the HMAC changed: 0 -> 1, anything else -> 0; a
# fixed "0" left the value intact one time in sixteen)
last=${value: -1}
out=$(weaken "$nodeB" "$shardB" "${value%?}$([ "$last" = 0 ] && echo 1 || echo 0)")
grep -q "ERROR:  28000: invalid DDL approval" <<<"$out" || fail "a tampered approval was accepted: $out"
intact "$nodeB" "$shardB" || fail "$shardB changed"
# the value does not reach the log (redacted like the node context)
grep -q "${value:20:24}" "$(citus_log "$nodeB")" && fail "the approval reached ${CITUS_NAMES[$nodeB]}'s log"
echo "ok: an approval is not replayable from another session, nor later in the same one"
echo "all ok"
