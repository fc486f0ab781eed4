#!/usr/bin/env bash
# A multitenant.node_context value read anywhere (a worker's
# pg_stat_statements keeps "SET LOCAL multitenant.node_context TO '...'"
# verbatim, readable by the role itself and by pg_read_all_stats) must not
# be replayable to the workers THROUGH the coordinator.  The binding to the
# coordinator session is the startup application_name 'citus_internal
# gpid=<gpid>', which any client chooses itself, and the gpid is in the
# value; Citus adopts that gpid for the session and names its worker
# connections after it.  So an application role with no tenant, connected
# only to the coordinator (pg_hba on the workers as doc/citus.md asks),
# would set the stolen value and let Citus' own SET propagation
# (citus.propagate_set_commands = 'local', a user setting) carry it to the
# workers, and read another tenant's rows.  The extension keeps SET/RESET
# of multitenant.node_context out of Citus' SET propagation.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

cleanup() {
    citus_psql 0 -c "DROP TABLE IF EXISTS ncr_orders" >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

citus_psql 0 >/dev/null <<'SQL'
DROP TABLE IF EXISTS ncr_orders;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ncr_app') THEN CREATE ROLE ncr_app LOGIN; END IF;
END $$;
CREATE TABLE ncr_orders (id bigint, tenant_id uuid NOT NULL, item text, PRIMARY KEY (tenant_id, id));
GRANT SELECT ON ncr_orders TO ncr_app;
SELECT mt.enable_isolation('ncr_orders');
SELECT create_distributed_table('ncr_orders', 'tenant_id');
SQL
B=$(citus_psql 0 -c "SELECT mt.create_tenant('Relay B', 'ncr-b-' || substr(md5(random()::text), 1, 8))")
citus_psql 0 -c "INSERT INTO ncr_orders SELECT g, '$B', 'item ' || g FROM generate_series(1, 20) g" >/dev/null

# a genuine value for tenant B, as a session with gpid $gpid passes it (the
# attacker read it in a worker's pg_stat_statements).  Its node id (7) is
# no node of this cluster: a value made on the coordinator itself is
# refused there already (node_context_same_node_replay.sh), one of another
# node would be accepted there, and must still not travel on
gpid=70000012345
secret=$(head -1 "$(citus_pgdata 0)/multitenant.secret")
value=$(python3 - "$secret" "$B" "$gpid" <<'PY'
import hashlib, hmac, sys, time
master, tenant, gpid = bytes.fromhex(sys.argv[1].strip()), sys.argv[2], sys.argv[3]
key = hmac.new(master, b"multitenant node context v1", hashlib.sha256).digest()
body = "mt-node|1|%s|%s|%d|||0" % (gpid, tenant, int(time.time()) + 240)
print(body + "|" + hmac.new(key, body.encode(), hashlib.sha256).hexdigest())
PY
)

# the attacker: no tenant, connected to the coordinator only
out=$(PGAPPNAME="citus_internal gpid=$gpid" CITUS_USER=ncr_app citus_psql 0 -v ON_ERROR_STOP=0 2>&1 <<SQL
SET citus.allow_nested_distributed_execution = on;
SET citus.propagate_set_commands = 'local';
BEGIN;
SET LOCAL multitenant.node_context TO '$value';
SELECT 'rows=' || count(*) FROM ncr_orders;
COMMIT;
SQL
)
grep -q '^rows=' <<<"$out" || fail "the distributed read did not run: $out"
[ "$(echo "$out" | grep '^rows=')" = "rows=0" ] ||
    fail "a replayed node context reached the workers through the coordinator: $(echo "$out" | grep '^rows=') of tenant B's 20 rows"
echo "ok: a node context set by a client is not propagated to the workers"

# RESET and plain SET are kept out of the propagation too; the extension's
# own passing still works (a tenant context reaches the workers)
out=$(CITUS_USER=postgres citus_psql 0 -v ON_ERROR_STOP=0 2>&1 <<SQL
SET citus.propagate_set_commands = 'local';
BEGIN;
SELECT mt.set_tenant('$B') IS NULL;
SELECT 'rows=' || count(*) FROM ncr_orders;
COMMIT;
SQL
)
[ "$(echo "$out" | grep '^rows=')" = "rows=20" ] || fail "the tenant's own context no longer reaches the workers: $out"
echo "ok: the extension's own passing is unchanged"
echo "all ok"
