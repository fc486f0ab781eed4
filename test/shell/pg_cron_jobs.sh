#!/usr/bin/env bash
# The DBA jobs of doc/operations.md scheduled with pg_cron
# (postgresql-15-cron, installed by scripts/deps.sh): retention, compliance
# checks, audit pruning and the audit digest run every minute in the
# throwaway cluster (pg_cron 1.4 has no seconds schedules) and succeed;
# retention deletes one batch of 10 expired rows per run.  Then every job
# is run twice concurrently: each is safe to overlap.  Restores
# shared_preload_libraries = 'multitenant' afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_cron
[ -f "$MT_PGBIN/../lib/pg_cron.so" ] || fail "pg_cron is not installed (scripts/deps.sh installs postgresql-15-cron)"

cluster_settings_save
restore() {
    mt_psql -d postgres -c "SET multitenant.allow_drop_extension = on" -c "DROP EXTENSION IF EXISTS multitenant" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP EXTENSION IF EXISTS pg_cron" >/dev/null 2>&1 || true
    cluster_settings_restore restart   # multitenant alone, no cron.* settings
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
declare -A commands=(
    [mt-compliance]='SELECT count(*) FROM mt.run_compliance_checks()'
    [mt-audit-prune]="SELECT mt.audit_prune('400 days')"
    [mt-audit-digest]='SELECT count(*) FROM mt.audit_digest()'
    [mt-rewrap]='SELECT mt.rewrap_audit_keys(1000)'
)
others=()
for name in "${!commands[@]}"; do
    others+=("$(mt_psql -d postgres -c "SELECT cron.schedule_in_database('$name', '* * * * *', \$\$${commands[$name]}\$\$, '$db')")")
done
echo "ok: scheduled compliance checks, audit pruning, the audit digest and the audit key re-wrap (jobs ${others[*]})"

job_runs() { mt_psql -d postgres -c "SELECT count(*) FROM cron.job_run_details WHERE jobid = $1 AND status IN ('succeeded', 'failed')"; }
job_ran() { [ "$(job_runs "$1")" -ge 1 ]; }
wait_for 150 job_ran "$job" || true
runs=$(job_runs "$job")
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

for j in "${others[@]}"; do
    wait_for 90 job_ran "$j" || true
    n=$(job_runs "$j")
    bad=$(mt_psql -d postgres -c "SELECT count(*) FROM cron.job_run_details WHERE jobid = $j AND status <> 'succeeded' AND status NOT IN ('running', 'starting')")
    [ "$n" -ge 1 ] && [ "$bad" = 0 ] || fail "job $j: $n run(s), $bad not succeeded: $(mt_psql -d postgres -c "SELECT return_message FROM cron.job_run_details WHERE jobid = $j")"
done
[ "$(mt_psql -d $db -c "SELECT count(DISTINCT run_id) > 0 FROM mt.compliance_checks")" = t ] || fail "no compliance run stored"
[ "$(mt_psql -d $db -c "SELECT count(*) > 0 FROM mt.audit_digests")" = t ] || fail "no digest recorded"
echo "ok: pg_cron ran the compliance checks, audit pruning, digest and re-wrap jobs; results stored"

# every job is idempotent and safe to overlap: run each twice at once
mt_psql -d postgres -c "SELECT cron.unschedule(jobid) FROM cron.job" >/dev/null
pids=()
for cmd in "SELECT * FROM mt.run_retention(10)" "${commands[@]}"; do
    for _ in 1 2; do mt_psql -d $db -c "$cmd" >/dev/null & pids+=($!); done
done
for p in "${pids[@]}"; do wait "$p" || fail "an overlapping job run failed"; done
v=$(mt_psql -d $db -c "SELECT bool_and(ok) FROM mt.audit_verify()")
[ "$v" = t ] || fail "audit chains do not verify after overlapping runs"
echo "ok: two concurrent runs of every job succeed; audit chains still verify"

# MT-AUD-003 finds pg_cron's job table through pg_extension: in the database
# where pg_cron is installed, a scheduled mt.audit_prune counts
mt_psql -d postgres -c "CREATE EXTENSION multitenant" \
    -c "SELECT cron.schedule('mt-prune-here', '30 3 * * *', \$\$SELECT mt.audit_prune('400 days')\$\$)" >/dev/null
s=$(mt_psql -d postgres -c "SELECT status || ' ' || (details->>'prune_scheduled_with_pg_cron') FROM mt.run_compliance_checks() WHERE check_id = 'MT-AUD-003'")
mt_psql -d postgres -c "SELECT cron.unschedule('mt-prune-here')" -c "SET multitenant.allow_drop_extension = on" \
    -c "DROP EXTENSION multitenant" >/dev/null
[ "$s" = "pass true" ] || fail "MT-AUD-003 next to pg_cron with a prune job: '$s', expected 'pass true'"
echo "ok: MT-AUD-003 sees a prune job in pg_cron's own job table"
