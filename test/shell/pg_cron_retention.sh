#!/usr/bin/env bash
# mt.run_retention scheduled with pg_cron (postgresql-15-cron, installed by
# scripts/deps.sh): the job runs every minute in the throwaway cluster
# (pg_cron 1.4 has no seconds schedules), succeeds, and deletes one batch
# of 10 expired rows per run.  Restores shared_preload_libraries =
# 'multitenant' afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

fail() { echo "FAIL: $*"; exit 1; }
db=mt_cron
[ -f "$MT_PGBIN/../lib/pg_cron.so" ] || fail "pg_cron is not installed (scripts/deps.sh installs postgresql-15-cron)"

restore() {
    mt_psql -d postgres -c "DROP EXTENSION IF EXISTS pg_cron" >/dev/null 2>&1 || true
    cluster_conf shared_preload_libraries multitenant
    cluster_restart
}
trap restore EXIT

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d $db <<'SQL'
CREATE EXTENSION multitenant;
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
CREATE TABLE logs (id int PRIMARY KEY, tenant_id uuid NOT NULL, at timestamptz NOT NULL);
SELECT mt.enable_isolation('logs');
-- 25 expired rows, 5 recent ones
INSERT INTO logs SELECT g, :'acme', now() - CASE WHEN g <= 25 THEN interval '40 days' ELSE interval '1 hour' END
FROM generate_series(1, 30) g;
SELECT mt.set_retention('logs', 'at', '30 days');
SQL

cluster_conf shared_preload_libraries multitenant,pg_cron
cluster_conf cron.database_name postgres
cluster_conf cron.host "$MT_ROOT/sock"
cluster_restart
mt_psql -d postgres -c "CREATE EXTENSION pg_cron"
job=$(mt_psql -d postgres -c "SELECT cron.schedule_in_database('mt-retention', '* * * * *',
        'SELECT * FROM mt.run_retention(10)', '$db')")
echo "ok: scheduled job $job (every minute)"

runs=0
for _ in $(seq 150); do
    sleep 1
    runs=$(mt_psql -d postgres -c "SELECT count(*) FROM cron.job_run_details WHERE jobid = $job AND status IN ('succeeded', 'failed')")
    [ "$runs" -ge 1 ] && break
done
mt_psql -d postgres -c "SELECT status, return_message FROM cron.job_run_details WHERE jobid = $job ORDER BY runid"
[ "$runs" -ge 1 ] || fail "the job did not run within 150 s"
ok=$(mt_psql -d postgres -c "SELECT count(*) FROM cron.job_run_details WHERE jobid = $job AND status = 'succeeded'")
[ "$ok" = "$runs" ] || fail "a pg_cron run of mt.run_retention failed"
echo "ok: pg_cron ran mt.run_retention and it succeeded"
left=$(mt_psql -d $db -c "SELECT count(*) FROM logs WHERE at < now() - interval '30 days'")
kept=$(mt_psql -d $db -c "SELECT count(*) FROM logs WHERE at >= now() - interval '30 days'")
policy=$(mt_psql -d $db -c "SELECT last_deleted, last_more, total_deleted = 25 - $left FROM mt.retention_policies WHERE tbl = 'logs'::regclass")
case "$runs:$left" in
    1:15) ;;
    2:5) ;;
    *) fail "$runs run(s) left $left of 25 expired rows (expected 10 per run)" ;;
esac
[ "$kept" = 5 ] || fail "recent rows: $kept, expected 5"
[ "$policy" = "10|t|t" ] || fail "policy bookkeeping: $policy"
echo "ok: each run deleted one batch of 10 rows ($left expired rows left for later runs), recent rows kept, run recorded"
mt_psql -d postgres -c "SELECT cron.unschedule($job)" >/dev/null
