#!/usr/bin/env bash
# pg_upgrade carries a cluster that uses multitenant: a cluster holding
# tenants, API keys, a token, isolated tables and an auto_isolate schema,
# flushed usage, audit chains (a prune checkpoint, details encrypted under a
# subject key), consents, GDPR requests and retention policies is upgraded
# with pg_upgrade (15 -> 15, same binaries for old and new) exactly as
# doc/operations.md ("pg_upgrade") says, and afterwards everything works:
# keys and the token authenticate, isolation is enforced, chains verify,
# encrypted details read back, usage and the rest are there, the event
# triggers fire.
#
# pg_upgrade --check passes (it refuses user tables with reg* columns other
# than regclass/regtype/regrole; mt.privileged_functions stores signatures
# as text for that reason).
#
# The server secret ($PGDATA/multitenant.secret) is not carried by
# pg_upgrade: a first upgrade (copy mode) into a cluster whose data
# directory did not get the old file shows the keys and the token refused;
# the documented procedure (copy the file, then pg_upgrade --link) works.
#
# Clusters: old on MT_PORT+1, new on MT_PORT+2, in $MT_ROOT/ops (removed by
# the trap).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/ops_lib.sh

trap ops_cleanup EXIT
ops_cleanup

db=appdb
old_port=$((MT_PORT + 1))
new_port=$((MT_PORT + 2))
BIN=$MT_PGBIN
OLD=$OPS_ROOT/old/data

# --- the old cluster, with state ------------------------------------------
ops_init old $old_port
ops_start old
ops_populate old $db
ops_stop old
echo "ok: old cluster populated and stopped"

# upgrade <name> [pg_upgrade options...]: a fresh target cluster <name>
# (initdb with the same options, the library preloaded; the caller may copy
# the secret into it), then pg_upgrade --check and pg_upgrade, run as the
# postgres user from a directory it can write (pg_upgrade puts its sockets
# and logs there)
upgrade() {
    local n=$1 NEW
    shift
    NEW=$OPS_ROOT/$n/data
    (
        cd "$OPS_ROOT/$n"
        as_pg "$BIN/pg_upgrade" --check -b "$BIN" -B "$BIN" -d "$OLD" -D "$NEW" \
            -p $old_port -P $new_port -U postgres "$@" >check.log 2>&1 || {
            cat check.log; find "$NEW/pg_upgrade_output.d" -name '*.txt' -exec cat {} + 2>/dev/null
            fail "pg_upgrade --check refuses the cluster"; }
        echo "ok: pg_upgrade --check passes"
        as_pg "$BIN/pg_upgrade" -b "$BIN" -B "$BIN" -d "$OLD" -D "$NEW" \
            -p $old_port -P $new_port -U postgres "$@" >upgrade.log 2>&1 || {
            cat upgrade.log; find "$NEW/pg_upgrade_output.d" -name '*.log' -exec tail -30 {} + 2>/dev/null
            fail "pg_upgrade failed"; }
        echo "ok: pg_upgrade $* done"
    )
}

# --- forgetting the secret: copy mode, no secret file copied -------------
ops_init nosecret $new_port
upgrade nosecret
[ ! -e "$OPS_ROOT/nosecret/data/multitenant.secret" ] || fail "pg_upgrade carried the secret file (the test assumes it does not)"
ops_start nosecret
cmp -s "$OLD/multitenant.secret" "$OPS_ROOT/nosecret/data/multitenant.secret" \
    && fail "the new cluster's secret equals the old one without a copy"
ops_check_without_secret nosecret $db
ops_stop nosecret
rm -rf "$OPS_ROOT/nosecret"

# --- the documented procedure ---------------------------------------------
ops_init new $new_port
NEW=$OPS_ROOT/new/data
as_pg cp -p "$OLD/multitenant.secret" "$NEW/multitenant.secret"
upgrade new --link
ops_start new
ops_check new $db
echo "all ok"
