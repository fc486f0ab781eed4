#!/usr/bin/env bash
# mt.detect_anomalies() stays quiet on a steady workload and pages on a
# real attack:
#
# - 1,000 tenants with a steady week of hourly usage (planted in
#   mt.usage_rollup, about 60 calls an hour each, every hour of the day),
#   then a pgbench mix over all of them (token entry, mt.track,
#   mt.rate_limit, mt.authenticate with valid keys); after the flush, no
#   finding and no notification;
# - then 30 refused API keys from 127.0.0.1 (real calls over TCP: the
#   security events and the throttle's lockouts): a failure burst of that
#   client is found, and a session LISTENing on mt_anomalies receives a
#   notification whose payload names the rule and the count but no tenant,
#   key or address.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_anomalies_quiet
work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
mt_psql -d $db >/dev/null <<'SQL'
CREATE TABLE t AS
SELECT i, id, mt.tenant_token(id, '2 hours') AS token, mt.create_api_key(id, 'k') AS k
FROM (SELECT i, mt.create_tenant('T' || i, 't' || i) AS id FROM generate_series(1, 1000) i) s;
GRANT SELECT ON t TO PUBLIC;
INSERT INTO mt.usage_rollup (tenant_id, metric, bucket, value)
SELECT id, 'api_calls', date_trunc('hour', now(), 'UTC') - h * interval '1 hour', 55 + (i + h) % 11
FROM t, generate_series(2, 169) h;
SQL

cat >"$work/mix.sql" <<'SQL'
\set i random(1, 1000)
BEGIN;
SELECT set_config('multitenant.token', token, true) FROM t WHERE i = :i;
SELECT mt.track('api_calls');
SELECT mt.rate_limit('steady', 1000, 1000);
END;
SELECT mt.authenticate(k) IS NOT NULL FROM t WHERE i = :i;
SQL
chmod 644 "$work/mix.sql"
# a fixed number of transactions, not a fixed time: the steady hour stays
# within the planted baseline however fast the machine is (2 x 6,500
# transactions, 3 counted calls each (track, rate_limit, authenticate), over
# 1,000 tenants: 39 calls a tenant on average, the busiest about 60, below
# the baseline's 60 + 4 x 3.2)
"$MT_PGBIN/pgbench" -n -M prepared -c 2 -j 2 -t 6500 -f "$work/mix.sql" $db >"$work/pgbench.log" 2>&1 \
    || { cat "$work/pgbench.log"; fail "pgbench failed"; }
grep -c "number of failed transactions: 0" "$work/pgbench.log" >/dev/null || grep -c "^tps" "$work/pgbench.log" >/dev/null \
    || { cat "$work/pgbench.log"; fail "pgbench did not run"; }
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
calls=$(mt_psql -d $db -c "SELECT sum(value) FROM mt.usage_rollup WHERE bucket >= date_trunc('hour', now(), 'UTC') - interval '1 hour' AND metric = 'api_calls'")
[ "${calls:-0}" -gt 1000 ] || fail "the steady mix counted only ${calls:-0} calls"

# the usage rules judge every tenant here (anomaly_min_usage 10, not the
# default 100): they stay quiet because the hour is at the baseline
out=$(printf '%s\n' "LISTEN mt_anomalies;" "SET multitenant.anomaly_min_usage = 10;" "SELECT count(*) FROM mt.detect_anomalies(now() - interval '1 hour');" \
      | mt_psql -d $db 2>&1)
[ "$(head -1 <<<"$out")" = 0 ] || fail "a steady workload raised findings: $out $(mt_psql -d $db -c "SELECT rule, tenant_id, evidence FROM mt.anomaly_findings LIMIT 5")"
! grep -q "Asynchronous notification" <<<"$out" || fail "a steady workload notified: $out"

# a real burst of refused keys from 127.0.0.1
for g in $(seq 1 30); do
    PGHOST=127.0.0.1 "$MT_PGBIN/psql" -X -q -At -d $db -c "SELECT mt.authenticate('mt_live_burst-$g')" >/dev/null 2>&1 && fail "a bad key authenticated"
done
mt_psql -d $db -c "SELECT mt.flush_usage()" -c "SELECT mt.reset_api_key_throttle()" >/dev/null
out=$(printf '%s\n' "LISTEN mt_anomalies;" \
      "SELECT rule || ' ' || host(client) FROM mt.detect_anomalies(now() - interval '1 hour') WHERE rule = 'failure_burst_client';" \
      | mt_psql -d $db 2>&1)
grep -q "^failure_burst_client 127.0.0.1$" <<<"$out" || fail "the burst was not found: $out"
note=$(grep "Asynchronous notification \"mt_anomalies\"" <<<"$out" || true)
[ -n "$note" ] || fail "no notification for the new finding: $out"
grep -q '"new_findings":[0-9]' <<<"$note" && grep -q 'failure_burst_client' <<<"$note" || fail "the payload lacks the count or the rule: $note"
! grep -Eq '127\.0\.0\.1|[0-9a-f]{8}-[0-9a-f]{4}-|mt_live' <<<"$note" || fail "the payload carries an address, a tenant or a key: $note"
echo "anomalies: steady mix of $calls calls quiet; burst found; notification: $note"
