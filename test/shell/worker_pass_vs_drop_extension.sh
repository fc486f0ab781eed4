#!/usr/bin/env bash
# DROP EXTENSION while a sealing worker's pass is under way: the pass
# holds the extension's object lock, which DROP EXTENSION takes first, so
# the drop waits for the pass and then goes through.  Without that lock a
# pass and a drop could each hold a table the other waits for (a pass
# re-reads the id sequence at its end, which the drop may have locked
# already) and one of them fail with "deadlock detected": seen once in the
# suite (a regress test's DROP EXTENSION in its cleanup), not reproduced
# on demand here.  The pass is held in its middle by a session that locks
# mt.audit_checkpoints, which the pass reads for a chain with no sealed
# event yet.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_pass_vs_drop
hold_out=$(mktemp)
cleanup() {
    rm -f "$hold_out"
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
t=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
tok=$(mt_psql -d $db -c "SELECT mt.tenant_token('$t', '1 hour')")
mt_psql -d $db -c "SELECT mt.audit_seal()" >/dev/null

# a session holds mt.audit_checkpoints for 4 s
mt_psql -d $db -c "BEGIN" -c "LOCK TABLE mt.audit_checkpoints IN ACCESS EXCLUSIVE MODE" \
    -c "SELECT pg_sleep(4)" -c "COMMIT" >"$hold_out" 2>&1 &
hold=$!
wait_for 10 lock_granted $db mt.audit_checkpoints AccessExclusiveLock || fail "the holding session has no lock"

# a new tenant's first event: the worker's pass waits for mt.audit_checkpoints
t2=$(mt_psql -d $db -c "SELECT mt.create_tenant('Beta', 'beta')")
tok2=$(mt_psql -d $db -c "SELECT mt.tenant_token('$t2', '1 hour')")
PGOPTIONS="-c multitenant.token=$tok2" mt_psql -d $db -c "SELECT mt.audit('first.event')" >/dev/null
worker_waits() {
    mt_true $db "SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                                WHERE a.backend_type = 'multitenant flush' AND NOT l.granted
                                  AND l.relation = 'mt.audit_checkpoints'::regclass)"
}
wait_for 10 worker_waits || fail "the worker's pass is not waiting for mt.audit_checkpoints"

# the drop, while the pass waits; it goes through once the holder commits
out=$(PGOPTIONS="-c multitenant.allow_drop_extension=on -c statement_timeout=20s" \
      mt_psql -d $db -v VERBOSITY=verbose -c "DROP EXTENSION multitenant CASCADE" 2>&1) ||
    fail "DROP EXTENSION failed while a sealing pass was under way: $out"
wait $hold || fail "the holding session failed: $(cat "$hold_out")"
[ "$(mt_psql -d $db -c "SELECT count(*) FROM pg_extension WHERE extname = 'multitenant'")" = 0 ] ||
    fail "the extension is still there"
echo "ok: DROP EXTENSION waited for the sealing pass and went through"
echo "all ok"
