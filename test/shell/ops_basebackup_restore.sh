#!/usr/bin/env bash
# A physical backup (pg_basebackup -Fp -X stream) of a running cluster that
# uses multitenant contains the server secret ($PGDATA/multitenant.secret,
# byte for byte), so the backup started as a cluster of its own (another
# port, no standby.signal: a restore, not a replica) works as the original
# did: keys and the token authenticate, isolation is enforced, chains
# verify, encrypted details read back, the rest of the state is there, the
# event triggers fire.  The backup is as sensitive as the secret file:
# doc/operations.md ("Backup and restore") says so.
#
# Clusters: source on MT_PORT+1, the restored copy on MT_PORT+2, in
# $MT_ROOT/ops (removed by the trap).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/ops_lib.sh

trap ops_cleanup EXIT
ops_cleanup

db=appdb
BIN=$MT_PGBIN

ops_init src $((MT_PORT + 1))
ops_start src
ops_populate src $db
SRC=$OPS_ROOT/src/data
COPY=$OPS_ROOT/copy/data
mkdir -p "$OPS_ROOT/copy"
chown postgres:postgres "$OPS_ROOT/copy" 2>/dev/null || true

# usage still in shared memory is not in the backup: flush it first
. "$OPS_ROOT/state.env"
ops_q src $db "BEGIN; SELECT mt.set_tenant('$acme'); SELECT mt.track('late', 5); COMMIT;" >/dev/null
PGHOST=$(ops_host src) PGPORT=$(ops_port src) "$BIN/psql" -X -U postgres -d $db -Atq -c "SELECT mt.flush_usage()" >/dev/null

# the backup, taken while the source runs (as the postgres user: the files
# keep its ownership and modes)
as_pg "$BIN/pg_basebackup" -h "$(ops_host src)" -p "$(ops_port src)" -U postgres \
    -D "$COPY" -Fp -X stream -c fast >"$OPS_ROOT/copy/basebackup.log" 2>&1 || {
    cat "$OPS_ROOT/copy/basebackup.log"; fail "pg_basebackup failed"; }
echo "ok: pg_basebackup -Fp -X stream -c fast done"

[ -f "$COPY/multitenant.secret" ] || fail "the base backup does not contain multitenant.secret"
cmp -s "$SRC/multitenant.secret" "$COPY/multitenant.secret" || fail "the backup's secret differs from the source's"
[ "$(stat -c %a "$COPY/multitenant.secret")" = 600 ] || fail "the backup's secret file is not mode 0600"
[ ! -e "$COPY/standby.signal" ] && [ ! -e "$COPY/recovery.signal" ] || fail "the backup would start as a standby"
echo "ok: the backup contains the server secret (mode 0600)"

# the source keeps running and changing: the copy is a point in time
ops_q src $db "SELECT mt.create_tenant('Later', 'later')" >/dev/null

# start the copy as a cluster of its own
ops_conf copy $((MT_PORT + 2))
ops_start copy
[ "$(ops_q copy postgres "SELECT pg_is_in_recovery()")" = f ] || fail "the restored copy is in recovery"
[ "$(ops_q copy $db "SELECT count(*) FROM mt.tenants WHERE slug = 'later'")" = 0 ] \
    || fail "the copy has a tenant created after the backup"
ops_check copy $db
[ "$(ops_q copy $db "SELECT used FROM mt.usage('$acme') WHERE metric = 'late'")" = 5 ] \
    || fail "usage flushed right before the backup is missing"
echo "all ok"
