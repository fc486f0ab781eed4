#!/usr/bin/env bash
# Real concurrency (pgbench, 8 clients) against the usage counters:
# - mt.consume() racing for one tenant's credits never overshoots the hard
#   limit, and exactly the granted amounts are counted;
# - mt.track() from 8 clients sums exactly, with flushes running meanwhile,
#   and the rollup equals the counts after a last flush;
# - the soft-limit NOTIFY carries the documented JSON payload, once.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_usage_concurrency
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme', 'enterprise')")
limit=3000
mt_psql -d $db -c "SELECT mt.set_quota('$acme', 'credits', $limit)" >/dev/null
token=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '1 hour')")
mt_psql -d $db <<'SQL'
CREATE TABLE granted (n bigint NOT NULL);
CREATE FUNCTION try_consume(n bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mt.consume('credits', n);
    INSERT INTO granted VALUES (n);
EXCEPTION WHEN program_limit_exceeded THEN
    NULL;   -- refused: nothing counted
END $$;
SQL
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

# --- consume race ----------------------------------------------------------
cat >"$work/consume.sql" <<'SQL'
\set n random(1, 3)
SELECT try_consume(:n);
SQL
PGOPTIONS="-c multitenant.token=$token" "$MT_PGBIN/pgbench" -n -c 8 -j 8 -t 600 -f "$work/consume.sql" $db >"$work/consume.log" 2>&1 ||
    { cat "$work/consume.log"; fail "pgbench (consume) failed"; }
read -r used granted < <(mt_psql -d $db -F ' ' -c "
    SELECT (SELECT used FROM mt.usage('$acme') WHERE metric = 'credits'),
           (SELECT coalesce(sum(n), 0) FROM granted)")
[ "$used" -le "$limit" ] || fail "consume overshot: $used > $limit"
[ "$used" = "$granted" ] || fail "counted $used but granted $granted"
[ "$used" -ge $((limit - 2)) ] || fail "limit not reached: $used (4800 calls of 1-3 should exhaust $limit)"
echo "ok: 8 clients racing: $used of $limit consumed, exactly the $granted granted, never more"

# --- track sums exactly, flushes running meanwhile ---------------------------
cat >"$work/track.sql" <<'SQL'
SELECT mt.track('hits');
SELECT mt.track('bytes', 3);
SQL
# 20 flushes spread over the pgbench run (the pause paces them; nothing waits for a condition)
( for _ in $(seq 20); do mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null; sleep 0.05; done ) &
flusher=$!
PGOPTIONS="-c multitenant.token=$token" "$MT_PGBIN/pgbench" -n -c 8 -j 8 -t 2000 -f "$work/track.sql" $db >"$work/track.log" 2>&1 ||
    { cat "$work/track.log"; fail "pgbench (track) failed"; }
wait $flusher
read -r hits bytes < <(mt_psql -d $db -F ' ' -c "
    SELECT (SELECT used FROM mt.usage('$acme') WHERE metric = 'hits'),
           (SELECT used FROM mt.usage('$acme') WHERE metric = 'bytes')")
[ "$hits" = 16000 ] || fail "hits: $hits, expected 16000"
[ "$bytes" = 48000 ] || fail "bytes: $bytes, expected 48000"
echo "ok: 8 clients x 2000 calls: hits $hits, bytes $bytes, exact while flushing"
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
read -r fh fb < <(mt_psql -d $db -F ' ' -c "
    SELECT sum(value) FILTER (WHERE metric = 'hits'), sum(value) FILTER (WHERE metric = 'bytes')
    FROM mt.usage_rollup WHERE tenant_id = '$acme'")
[ "$fh" = 16000 ] && [ "$fb" = 48000 ] || fail "rollup holds hits $fh, bytes $fb"
echo "ok: the rollup holds exactly what was counted"

# --- the soft-limit notification ---------------------------------------------
mt_psql -d $db -c "SELECT mt.set_quota('$acme', 'exports', 100, 10)" >/dev/null
out=$(PGOPTIONS="-c multitenant.token=$token" "$MT_PGBIN/psql" -X -d $db -c "LISTEN multitenant_usage" \
      -c "SELECT mt.track('exports', 9)" -c "SELECT mt.track('exports', 2)" -c "SELECT mt.track('exports', 2)" 2>&1)
n=$(echo "$out" | grep -c 'Asynchronous notification "multitenant_usage"' || true)
[ "$n" = 1 ] || fail "expected one notification, got $n: $out"
echo "$out" | grep 'Asynchronous notification "multitenant_usage"' | grep -c payload >/dev/null && fail "the notification carries a payload: $out"
[ "$(mt_psql -d $db -c "SELECT used || ' ' || soft_limit || ' ' || hard_limit FROM mt.usage_alerts WHERE tenant_id = '$acme' AND metric = 'exports'")" = "11 10 100" ] ||
    fail "the alert row differs"
echo "ok: one NOTIFY multitenant_usage (no payload) and the alert row in mt.usage_alerts"

mt_psql -d postgres -c "DROP DATABASE $db"
echo "all ok"
