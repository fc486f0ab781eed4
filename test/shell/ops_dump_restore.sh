#!/usr/bin/env bash
# A logical backup (pg_dump -Fc) of a database that uses multitenant
# restores without a single error and works afterwards, exactly as
# doc/operations.md ("Backup and restore") says.  The database holds two
# tenants, API keys, a token, an isolated table and an auto_isolate schema,
# flushed usage, audit chains (a prune checkpoint, details encrypted under a
# subject key), consents, a GDPR request, a retention policy, a subject
# registration and a grant of an audit function.  It is restored
#   (a) into a new database of the same cluster,
#   (b) into a new cluster (initdb) that got the old multitenant.secret
#       before its first start, roles from pg_dumpall --globals-only,
# and in both keys and the token authenticate, isolation is enforced (the
# generated policies and defaults are there, another tenant sees nothing),
# chains verify, encrypted details read back, the rest of the state is
# there, the event triggers fire (a new table in the auto_isolate schema is
# isolated).
#   (c) into a new cluster WITHOUT the secret file: the restore itself
# succeeds, but keys and the token are refused (28000), encrypted details
# cannot be read (XX001) while the chains still verify.
#
# Clusters: source on MT_PORT+1, (b) on MT_PORT+2, (c) on MT_PORT+3, in
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
work=$OPS_ROOT/backup
mkdir -p "$work"

# connection options of a cluster, for the client programs
conn() { echo "-h $(ops_host "$1") -p $(ops_port "$1") -U postgres"; }

# restore_ok <log>: the program printed nothing on stderr
restore_ok() {
    [ ! -s "$1" ] || { cat "$1"; fail "errors or warnings ($1)"; }
}

# --- the backup --------------------------------------------------------------
# usage still in shared memory is not in a dump: flush it first
. "$OPS_ROOT/state.env"
ops_q src $db "BEGIN; SELECT mt.set_tenant('$acme'); SELECT mt.track('late', 5); COMMIT;" >/dev/null
# shellcheck disable=SC2046
"$BIN/psql" -X $(conn src) -d $db -Atq -c "SELECT mt.flush_usage()" >/dev/null
# shellcheck disable=SC2046
"$BIN/pg_dump" $(conn src) -Fc -d $db -f "$work/appdb.dump" 2>"$work/dump.err"
restore_ok "$work/dump.err"
# shellcheck disable=SC2046
"$BIN/pg_dumpall" $(conn src) --globals-only -f "$work/globals.sql" 2>"$work/dumpall.err"
restore_ok "$work/dumpall.err"
[ -s "$work/appdb.dump" ] || fail "pg_dump wrote nothing"
# the dump does not hold the server secret (it is a file of the data directory)
"$BIN/pg_restore" -f "$work/appdb.sql" "$work/appdb.dump"
while read -r line; do
    [ ${#line} -ge 32 ] || continue
    ! grep -qF "$line" "$work/appdb.sql" || fail "the dump contains the server secret"
done <"$SRC/multitenant.secret"
echo "ok: pg_dump -Fc and pg_dumpall --globals-only done"

# --- (a) a new database of the same cluster ----------------------------------
# shellcheck disable=SC2046
"$BIN/createdb" $(conn src) appdb_copy
# shellcheck disable=SC2046
"$BIN/pg_restore" $(conn src) --exit-on-error -d appdb_copy "$work/appdb.dump" 2>"$work/restore-a.err" \
    || { cat "$work/restore-a.err"; fail "(a) pg_restore into a new database failed"; }
restore_ok "$work/restore-a.err"
echo "ok: (a) restored into appdb_copy without errors"
ops_check src appdb_copy

# --- (b) a new cluster with the secret file ----------------------------------
ops_init dst $((MT_PORT + 2))
as_pg cp -p "$SRC/multitenant.secret" "$OPS_ROOT/dst/data/multitenant.secret"
ops_start dst
# roles first (pg_dump does not carry them); the bootstrap superuser exists
# already, so psql reports exactly that one statement
# shellcheck disable=SC2046
"$BIN/psql" -X $(conn dst) -d postgres -q -f "$work/globals.sql" 2>"$work/globals-b.err" >/dev/null
grep -v 'role "postgres" already exists' "$work/globals-b.err" >"$work/globals-b.other" || true
restore_ok "$work/globals-b.other"
# shellcheck disable=SC2046
"$BIN/pg_restore" $(conn dst) --exit-on-error --create -d postgres "$work/appdb.dump" 2>"$work/restore-b.err" \
    || { cat "$work/restore-b.err"; fail "(b) pg_restore into a new cluster failed"; }
restore_ok "$work/restore-b.err"
echo "ok: (b) restored into a new cluster without errors"
ops_check dst $db
[ "$(ops_q dst $db "SELECT used FROM mt.usage('$acme') WHERE metric = 'late'")" = 5 ] \
    || fail "(b) usage flushed right before the dump is missing"

# --- (c) a new cluster without the secret file -------------------------------
ops_init nosecret $((MT_PORT + 3))
ops_start nosecret
cmp -s "$SRC/multitenant.secret" "$OPS_ROOT/nosecret/data/multitenant.secret" \
    && fail "(c) the new cluster's secret equals the source's without a copy"
# shellcheck disable=SC2046
"$BIN/psql" -X $(conn nosecret) -d postgres -q -f "$work/globals.sql" 2>/dev/null >/dev/null
# shellcheck disable=SC2046
"$BIN/pg_restore" $(conn nosecret) --exit-on-error --create -d postgres "$work/appdb.dump" 2>"$work/restore-c.err" \
    || { cat "$work/restore-c.err"; fail "(c) pg_restore failed"; }
restore_ok "$work/restore-c.err"
echo "ok: (c) without the secret file the restore itself succeeds"
ops_check_without_secret nosecret $db
echo "all ok"
