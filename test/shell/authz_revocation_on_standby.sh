#!/usr/bin/env bash
# Hot standby: a revocation or a grant of a role replayed from the primary,
# and an assignment's valid_until passing, take effect at a standby
# backend's next transaction, exactly as on the primary.  A long-lived
# standby session (a pooled backend) has resolved its subject's permissions
# (mt.has_permission); WAL replay runs no trigger or commit callback, so a
# resolution validated only by the registry generation would keep the old
# answer forever.
#
# The standby is a streaming replica (pg_basebackup -R) of the test cluster
# on port MT_PORT+5 in ${MT_ROOT}-authz-standby, removed by the trap.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

standby_test mt_authz_standby 5 "${MT_ROOT}-authz-standby"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
as_acme() { mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "$1" >/dev/null; }
as_acme "SELECT mt.grant_role('bob', 'viewer')"

standby_start </dev/null
standby_catch_up

# a long-lived standby session as bob (a back-office token without a role:
# bob's assignments decide)
sb_session_start -d $db
got=$(sb_run "SELECT set_config('multitenant.token', mt.tenant_token('$acme', '1 hour', 'bob'), false) IS NOT NULL;")
[ "$got" = t ] || fail "setup: cannot enter Acme as bob on the standby: $got"
check() { sb_run "SELECT mt.has_permission('$1');"; }

[ "$(check invoices:read)" = t ] || fail "setup: bob cannot read on the standby"
echo "ok: standby: bob (viewer) holds invoices:read"

as_acme "SELECT mt.revoke_role('bob', 'viewer')"
standby_catch_up
got=$(check invoices:read)
[ "$got" = f ] || fail "standby: the revoked role still counts in a backend that had resolved it: $got"
echo "ok: standby: the revocation replayed from the primary is seen at the next transaction"

as_acme "SELECT mt.grant_role('bob', 'member')"
standby_catch_up
got=$(check invoices:write)
[ "$got" = t ] || fail "standby: the replayed grant is not seen: $got"
echo "ok: standby: a replayed grant is seen at the next transaction"

# an assignment that expires: nothing is replayed when it does
# (15 s: the grant, the catch-up and the first check fit in it on a slow machine)
as_acme "SELECT mt.grant_role('bob', 'admin', valid_until => clock_timestamp() + interval '15 seconds')"
until_ts=$(mt_psql -d $db -c "SELECT extract(epoch FROM valid_until)::numeric(20,3) FROM mt.role_assignments WHERE subject = 'bob' AND role = 'admin'")
standby_catch_up
got=$(check roles:manage)
[ "$got" = t ] || fail "standby: the time-limited admin role does not count before it expires: $got"
for i in $(seq 300); do
    got=$(check roles:manage)
    [ "$got" = f ] && break
    sleep 0.1
done
[ "$got" = f ] || fail "standby: the expired admin role still counts"
now=$(mt_psql -d $db -c "SELECT extract(epoch FROM clock_timestamp())::numeric(20,3)")
awk -v n="$now" -v u="$until_ts" 'BEGIN { exit !(n >= u) }' || fail "standby: the admin role ended before its valid_until"
[ "$(check invoices:write)" = t ] || fail "standby: the member role went with the expired admin role"
echo "ok: standby: valid_until passing takes effect at the next transaction (no replay needed)"
echo "all ok"
