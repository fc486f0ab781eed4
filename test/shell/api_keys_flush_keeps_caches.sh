#!/usr/bin/env bash
# Flushing API keys' last-use times (the flush worker's mt.api_key_secrets
# update, here mt.flush_api_key_usage()) is not a registry change: it moves
# no registry generation, so every backend keeps the caches keyed by it
# (verified tokens, tenant status, API keys, policies).  Seen through the
# verified-token cache of one session: a token set before the flush is
# still remembered after it (the cache's memory holds two tokens after a
# second one is set, not one).  A real registry change (a suspension) still
# empties it, and revoking a key still refuses it at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_flush_caches
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
trap 'mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme-flush')")
other=$(mt_psql -d $db -c "SELECT mt.create_tenant('Other', 'other-flush')")
key=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'app', '{read}')")
t1=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min', 'user-one', NULL)")
t2=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min', 'user-two', NULL)")
t3=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min', 'user-tri', NULL)")

# one session: bytes the token cache uses after each step
out=$(PGOPTIONS="-c test.t1=$t1 -c test.t2=$t2 -c test.t3=$t3 -c test.key=$key" mt_psql -d $db 2>&1 <<SQL
CREATE TEMP VIEW cache_bytes AS
    SELECT coalesce(sum(used_bytes), 0) AS b FROM pg_backend_memory_contexts
    WHERE name = 'multitenant token cache';
SELECT set_config('multitenant.token', current_setting('test.t1'), false) IS NOT NULL AS a \gset
SELECT 'one ' || b FROM cache_bytes;
SELECT set_config('multitenant.token', current_setting('test.t2'), false) IS NOT NULL AS a \gset
SELECT 'two ' || b FROM cache_bytes;
RESET multitenant.token;
SELECT set_config('multitenant.token', current_setting('test.t1'), false) IS NOT NULL AS a \gset
-- a key used and its last-use time flushed
SELECT mt.authenticate(current_setting('test.key')) IS NOT NULL AS a \gset
RESET multitenant.token;
SELECT 'flushed ' || mt.flush_api_key_usage();
SELECT set_config('multitenant.token', current_setting('test.t3'), false) IS NOT NULL AS a \gset
SELECT 'after_flush ' || b FROM cache_bytes;
RESET multitenant.token;
-- a registry change: the next lookup starts an empty cache
SELECT mt.suspend_tenant('$other') \gset
SELECT set_config('multitenant.token', current_setting('test.t1'), false) IS NOT NULL AS a \gset
SELECT 'after_suspend ' || b FROM cache_bytes;
SQL
)
val() { awk -v k="$1" '$1 == k { print $2 }' <<<"$out"; }
one=$(val one); two=$(val two); three=$(val after_flush); susp=$(val after_suspend)
[ -n "$one" ] && [ -n "$two" ] && [ -n "$three" ] && [ -n "$susp" ] || fail "missing output: $out"
[ "$(val flushed)" -ge 1 ] || fail "the flush wrote no last-use time: $out"
per=$((two - one))
[ "$per" -gt 0 ] || fail "a second token did not grow the cache ($one -> $two)"
# three tokens remembered after the flush (t1, t2 from before it, t3)
[ "$three" -ge $((two + per)) ] ||
    fail "the last-use flush emptied the token cache: $three bytes after it, $two with two tokens before it"
echo "ok: the API-key last-use flush keeps the token cache (bytes $one, $two, $three)"
[ "$susp" -lt "$three" ] ||
    fail "a suspension (a registry change) did not empty the token cache ($three -> $susp)"
echo "ok: a registry change still empties it ($three -> $susp)"

# revocation still refuses at once (the key cache is not kept past it)
out=$(PGOPTIONS="-c test.key=$key" mt_psql -d $db 2>&1 <<'SQL' || true
SELECT mt.authenticate(current_setting('test.key')) IS NOT NULL AS a \gset
SELECT mt.flush_api_key_usage() \gset
SELECT mt.revoke_api_key(key_id) FROM mt.api_key_secrets LIMIT 1 \gset
SELECT mt.authenticate(current_setting('test.key'));
SQL
)
grep -c "revoked\|invalid API key" <<<"$out" >/dev/null || fail "a revoked key authenticated after a flush: $out"
echo "ok: a key revoked after a flush is refused at once"
