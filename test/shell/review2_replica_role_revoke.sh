#!/usr/bin/env bash
# Review2: the key cache (api_keys.c lookup_key) and the tenant status cache
# are invalidated only by the statement triggers on mt.api_key_secrets and
# mt.tenants.  Those are ordinary (ENABLE ORIGIN) triggers: they do not fire
# with session_replication_role = replica, i.e. in a logical replication
# apply worker, pg_restore --disable-triggers style loads, or a superuser's
# maintenance session.  A key revoked (or tenant suspended) that way keeps
# authenticating in every session that had it cached, indefinitely.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

fail() { echo "FAIL: $*"; exit 1; }
db=mt_review2_replica
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
key=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'k')")
key2=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'k2')")

fifo=$(mktemp -u); mkfifo "$fifo"; out=$(mktemp)
mt_psql -d $db < "$fifo" > "$out" 2>&1 &
pid=$!
exec 3> "$fifo"
trap 'exec 3>&-; wait $pid 2>/dev/null || true; rm -f "$fifo" "$out"' EXIT
say() { echo "$1" >&3; }
# session B authenticates once: the key row is now cached
say "SELECT 'first ' || coalesce(mt.authenticate('$key')::text, 'null');"
sleep 1

# session A revokes the key and suspends nothing else, in replica mode
mt_psql -d $db -c "SET session_replication_role = replica" \
    -c "UPDATE mt.api_key_secrets SET revoked_at = now() WHERE key_id = mt.api_key_id('$key')" >/dev/null
# uncached sessions see it revoked
fresh=$(mt_psql -d $db -c "SELECT coalesce(mt.authenticate('$key')::text, 'null')" 2>&1 || true)
echo "fresh session after revoke: $fresh"

say "SELECT 'second ' || coalesce(mt.authenticate('$key')::text, 'null');"
say "\\q"
exec 3>&-
wait $pid || true
cat "$out"
grep -q "^first $acme" "$out" || fail "setup: the key did not authenticate at first"
if grep -q "^second $acme" "$out"; then
    fail "a revoked key still authenticates in a session that had it cached (revoked with session_replication_role = replica)"
fi
echo "ok: the revoked key is refused in the old session"
mt_psql -d postgres -c "DROP DATABASE $db" >/dev/null
echo "all ok"
