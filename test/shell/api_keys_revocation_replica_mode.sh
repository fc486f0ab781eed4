#!/usr/bin/env bash
# A key revoked with session_replication_role = replica (as a logical
# replication apply worker, a pg_restore --disable-triggers style load or a
# superuser's maintenance session does: ordinary triggers do not fire) is
# refused at once by a session that had the key cached, not only by new
# sessions.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_keys_replica_mode
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
wait_for 10 grep -q "^first " "$out" || fail "session B did not answer"

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
