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
# as text for that reason since 0.3.0); a database still on release 0.2.0
# is refused until ALTER EXTENSION multitenant UPDATE.
#
# The server secret ($PGDATA/multitenant.secret) is not carried by
# pg_upgrade: the procedure copies it into the new data directory before the
# new cluster's first start.  Started without it, the new cluster creates a
# secret of its own and refuses the keys and the token (28000), cannot read
# encrypted details (XX001); putting the old file back (stop, copy, start)
# repairs it.
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
. "$OPS_ROOT/state.env"
# usage counted after the last flush: pending counters are kept across a
# clean shutdown in pg_stat/multitenant_usage.stat, which pg_upgrade does
# not carry; the procedure flushes each database before stopping the old
# cluster
ops_q old $db "BEGIN; SELECT mt.set_tenant('$acme'); SELECT mt.track('late', 5); COMMIT;" >/dev/null
PGHOST=$(ops_host old) PGPORT=$old_port "$BIN/psql" -X -U postgres -d $db -Atq -c "SELECT mt.flush_usage()" >/dev/null
# a database still on release 0.2.0 (mt.privileged_functions.f regprocedure)
ops_q old postgres "CREATE DATABASE legacydb" >/dev/null
ops_q old legacydb "CREATE EXTENSION multitenant VERSION '0.2.0'" >/dev/null
ops_stop old
echo "ok: old cluster populated and stopped"

# --- the documented procedure ---------------------------------------------
# a fresh target cluster (initdb with the same options, the library
# preloaded), pg_upgrade --check, pg_upgrade, run as the postgres user from
# a directory it can write (pg_upgrade puts its sockets and logs there)
ops_init new $new_port
NEW=$OPS_ROOT/new/data
cd "$OPS_ROOT/new"
check() {
    as_pg "$BIN/pg_upgrade" --check -b "$BIN" -B "$BIN" -d "$OLD" -D "$NEW" \
        -p $old_port -P $new_port -U postgres >check.log 2>&1
}
# the database on 0.2.0 is refused until ALTER EXTENSION multitenant UPDATE
check && fail "pg_upgrade --check accepts a database on release 0.2.0"
grep -q "reg\* data types in user tables *fatal" check.log || { cat check.log; fail "pg_upgrade --check failed otherwise"; }
grep -q "mt.privileged_functions.f" "$NEW"/pg_upgrade_output.d/*/tables_using_reg.txt \
    || fail "pg_upgrade --check does not name mt.privileged_functions"
rm -rf "$NEW/pg_upgrade_output.d"
echo "ok: pg_upgrade --check refuses a database on 0.2.0 (mt.privileged_functions.f)"
ops_start old
ops_q old legacydb "ALTER EXTENSION multitenant UPDATE" >/dev/null
ops_stop old
check || { cat check.log; find "$NEW/pg_upgrade_output.d" -name '*.txt' -exec cat {} + 2>/dev/null
    fail "pg_upgrade --check refuses the cluster"; }
echo "ok: pg_upgrade --check passes"
as_pg "$BIN/pg_upgrade" -b "$BIN" -B "$BIN" -d "$OLD" -D "$NEW" \
    -p $old_port -P $new_port -U postgres >upgrade.log 2>&1 || {
    cat upgrade.log; find "$NEW/pg_upgrade_output.d" -name '*.log' -exec tail -30 {} + 2>/dev/null
    fail "pg_upgrade failed"; }
cd - >/dev/null
echo "ok: pg_upgrade (copy mode) done"

# pg_upgrade does not carry the secret (nor create one: the library is inert
# in binary-upgrade mode); the procedure copies it before the first start
[ ! -e "$NEW/multitenant.secret" ] || fail "pg_upgrade left a multitenant.secret in the new data directory"
as_pg cp -p "$OLD/multitenant.secret" "$NEW/multitenant.secret"
ops_start new
cmp -s "$OLD/multitenant.secret" "$NEW/multitenant.secret" || fail "the new cluster replaced the copied secret"
# pg_upgrade carries no planner statistics
PGHOST=$(ops_host new) PGPORT=$new_port "$BIN/vacuumdb" -U postgres --all --analyze-in-stages >/dev/null 2>&1 \
    || fail "vacuumdb --analyze-in-stages failed"
[ "$(ops_q new $db "SELECT used FROM mt.usage('$acme') WHERE metric = 'late'")" = 5 ] \
    || fail "usage flushed before the old cluster stopped was lost"
echo "ok: usage flushed before the old cluster stopped is there"
ops_check new $db
[ "$(ops_q new legacydb "SELECT extversion FROM pg_extension WHERE extname = 'multitenant'")" = "$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" multitenant.control)" ] \
    || fail "the updated legacy database lost its extension version"
[ "$(ops_q new legacydb "SELECT status FROM mt.run_compliance_checks() WHERE check_id = 'MT-PRIV-002'")" = pass ] \
    || fail "MT-PRIV-002 does not pass in the database updated from 0.2.0 and upgraded"
echo "ok: the database updated from 0.2.0 before pg_upgrade passes MT-PRIV-002"

# --- forgetting the copy ---------------------------------------------------
# the same cluster started without the file (as if it had not been copied):
# the library creates a fresh secret, and the keys and the token are refused
ops_stop new
as_pg mv "$NEW/multitenant.secret" "$OPS_ROOT/new/multitenant.secret.old"
ops_start new
[ -f "$NEW/multitenant.secret" ] || fail "the library did not create a secret on first start"
cmp -s "$OPS_ROOT/new/multitenant.secret.old" "$NEW/multitenant.secret" && fail "the generated secret equals the old one"
ops_check_without_secret new $db
# and the way back: stop, put the old file over the generated one, start
ops_stop new
as_pg mv -f "$OPS_ROOT/new/multitenant.secret.old" "$NEW/multitenant.secret"
ops_start new
. "$OPS_ROOT/state.env"
[ "$(ops_app new $db "SELECT mt.authenticate('$key_acme')")" = "$acme" ] \
    || fail "the key is still refused after the old secret file was put back"
echo "ok: with the old secret file put back the keys authenticate again"
echo "all ok"
