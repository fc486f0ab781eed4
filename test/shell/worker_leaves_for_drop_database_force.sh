#!/usr/bin/env bash
# A database's owner (not a superuser) can drop it with DROP DATABASE ...
# WITH (FORCE) while appends keep a sealing worker connected there.  The
# worker's session carries no role, and PostgreSQL lets a role end only
# the sessions of roles whose privileges it has: FORCE used to fail with
# "must be a member of the role whose process is being terminated or member
# of pg_signal_backend" (42501).  The extension now makes its workers leave
# first.  A DROP by someone who is neither owner nor
# superuser still fails with PostgreSQL's own error, without delay.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_drop_force
role=mt_drop_force_owner
load_out=$(mktemp)
cleanup() {
    rm -f "$load_out"
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    mt_psql -d postgres -c "DROP ROLE IF EXISTS $role" -c "DROP ROLE IF EXISTS ${role}_other" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
    -c "DROP ROLE IF EXISTS $role" -c "DROP ROLE IF EXISTS ${role}_other" \
    -c "CREATE ROLE $role LOGIN CREATEDB" -c "CREATE ROLE ${role}_other LOGIN" \
    -c "CREATE DATABASE $db OWNER $role" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" -c "CREATE TABLE load_stop (stop boolean)" -c "GRANT SELECT ON load_stop TO $role" >/dev/null
t=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
tok=$(mt_psql -d $db -c "SELECT mt.tenant_token('$t', '1 hour')")

# steady appends by the owner: a sealing worker stays connected to the
# database while they come
steady_appends $db "$tok" -U $role >"$load_out" 2>&1 &
load=$!

has_worker() { [ -n "$(flush_workers $db)" ]; }
wait_for 20 mt_true $db "SELECT EXISTS (SELECT FROM mt.audit_log WHERE action = 'load.tick' AND seq IS NOT NULL)" ||
    fail "the appends are not being sealed"
wait_for 10 has_worker || fail "no sealing worker is connected to the database"

# someone else's FORCE: PostgreSQL's own refusal, at once (the extension
# does not make the workers leave or hold the database for them)
t0=$(date +%s%N)
out=$(mt_psql -U ${role}_other -d postgres -v VERBOSITY=verbose -c "DROP DATABASE $db WITH (FORCE)" 2>&1) &&
    fail "a role that does not own the database dropped it"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q "42501" <<<"$out" || fail "another role's DROP ... WITH (FORCE) failed otherwise: $out"
[ "$ms" -lt 1000 ] || fail "another role's DROP ... WITH (FORCE) took $ms ms to fail"
echo "ok: another role's DROP DATABASE ... WITH (FORCE) is refused at once (42501)"

# a database that does not exist: PostgreSQL's error (3D000), or its
# notice with IF EXISTS, at once
out=$(mt_psql -U $role -d postgres -v VERBOSITY=verbose -c "DROP DATABASE ${db}_none WITH (FORCE)" 2>&1) &&
    fail "DROP DATABASE of a database that does not exist succeeded"
grep -q "3D000" <<<"$out" || fail "DROP DATABASE ... WITH (FORCE) of a missing database failed otherwise: $out"
out=$(mt_psql -U $role -d postgres -c "SET client_min_messages = notice" \
      -c "DROP DATABASE IF EXISTS ${db}_none WITH (FORCE)" 2>&1) ||
    fail "DROP DATABASE IF EXISTS ... WITH (FORCE) of a missing database failed: $out"
grep -q "does not exist, skipping" <<<"$out" || fail "no notice for DROP DATABASE IF EXISTS of a missing database: $out"
echo "ok: a missing database gets PostgreSQL's 3D000, or its notice with IF EXISTS"

# the owner's FORCE where PostgreSQL refuses DROP DATABASE (a transaction
# block, a read-only transaction): its own error, at once
for pre in "BEGIN" "SET default_transaction_read_only = on"; do
    t0=$(date +%s%N)
    out=$(mt_psql -U $role -d postgres -v VERBOSITY=verbose -c "$pre" -c "DROP DATABASE $db WITH (FORCE)" 2>&1) &&
        fail "DROP DATABASE ... WITH (FORCE) ran after $pre"
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    grep -q "25001\|25006" <<<"$out" || fail "the owner's DROP ... WITH (FORCE) after $pre failed otherwise: $out"
    [ "$ms" -lt 1000 ] || fail "the owner's DROP ... WITH (FORCE) after $pre took $ms ms to fail"
done
echo "ok: in a transaction block or a read-only transaction the owner's FORCE gets PostgreSQL's error at once"

# the owner's FORCE, with a worker connected a moment before (the other
# role's DROP took the database's lock for a moment, which sends a staying
# worker away; the appends bring the next one)
wait_for 10 has_worker || fail "no sealing worker is connected before the owner's DROP"
t0=$(date +%s%N)
out=$(mt_psql -U $role -d postgres -v VERBOSITY=verbose -c "DROP DATABASE $db WITH (FORCE)" 2>&1) ||
    fail "the owner's DROP DATABASE ... WITH (FORCE) failed while a sealing worker was connected: $out"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(mt_psql -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$db'")" = 0 ] ||
    fail "the database still exists after DROP DATABASE ... WITH (FORCE)"
wait $load 2>/dev/null && fail "the appending session survived the drop of its database"
echo "ok: the owner's DROP DATABASE ... WITH (FORCE) ended the appends and the worker's stay ($ms ms)"
echo "all ok"
