#!/usr/bin/env bash
# Review: every tenant shares the application's database role, and
# PostgreSQL shows a role's other sessions' query text in pg_stat_activity.
# While tenant B's request is inside its transaction after the documented
#   SET LOCAL multitenant.token = '<jwt>'
# an attacker holding only tenant A's context, on another connection of
# the same role, reads B's bearer token from pg_stat_activity and enters
# tenant B.  doc/security.md: "errors never echo them", "never logged by
# the extension"; the token must not be readable by other sessions either.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

fail() { echo "FAIL: $*"; exit 1; }
db=mt_review_exposure
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d postgres -c "DROP ROLE IF EXISTS mt_rx_app" -c "CREATE ROLE mt_rx_app LOGIN"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex')")
tok_acme=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min')")
tok_globex=$(mt_psql -d $db -c "SELECT mt.tenant_token('$globex', '10 min')")

# victim: tenant B's request, a transaction in progress on a pooled connection
( echo "BEGIN;"; echo "SET LOCAL multitenant.token = '$tok_globex';"; sleep 3; echo "COMMIT;" ) |
    mt_psql -d $db -U mt_rx_app >/dev/null &
victim=$!
sleep 1.5

# attacker: tenant A's context, same database role, another connection
seen=$(mt_psql -d $db -U mt_rx_app -c "SET multitenant.token = '$tok_acme'" -c "
    SELECT coalesce(string_agg(query, ' '), '') FROM pg_stat_activity
    WHERE usename = current_user AND pid <> pg_backend_pid()")
wait $victim
case $seen in
    *"$tok_globex"*) fail "tenant B's token is readable by another session of the role in pg_stat_activity" ;;
esac
echo "ok: the token is not visible in pg_stat_activity"

# and even if it were shown redacted, nothing in there enters tenant B
stolen=$(printf '%s' "$seen" | grep -o "eyJ[A-Za-z0-9_.-]*" | head -1 || true)
if [ -n "$stolen" ]; then
    out=$(mt_psql -d $db -U mt_rx_app -c "SET multitenant.token = '$stolen'" -c "SELECT mt.current_tenant()" 2>&1 || true)
    [ "$out" != "$globex" ] || fail "a token read from pg_stat_activity enters tenant B"
fi
echo "ok: nothing read from pg_stat_activity enters tenant B"
mt_psql -d postgres -c "DROP DATABASE $db" -c "DROP ROLE mt_rx_app"
echo "all ok"
