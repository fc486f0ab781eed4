#!/usr/bin/env bash
# Usage export exactly once while flushes and late corrections run
# concurrently: three writer sessions add late usage to ended hours (each
# write held open a moment before its commit, as a slow flush would), the
# flush worker flushes and closes every 100 ms, and two billers page
# through mt.usage_export() three records at a time, each storing its last
# cursor.  Afterwards every biller has received every record of the log
# exactly once, in cursor order (no skip, no duplicate), the versions of
# each period are 1..n, and the latest version of each period equals the
# sum the writers added (nothing double-counted, no correction lost).
# The database's default isolation level is SERIALIZABLE meanwhile.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_billing_concurrent
work=$MT_ROOT/billing-concurrent
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    cluster_settings_restore
    rm -rf "$work"
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
cluster_settings_save
trap cleanup EXIT
rm -rf "$work"; mkdir -p "$work"
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
# the database's default isolation does not reach the flush worker (it
# closes under READ COMMITTED) nor the billers' reads (a snapshot taken
# after the flush); the writers choose READ COMMITTED themselves
mt_psql -d $db -c "ALTER DATABASE $db SET default_transaction_isolation = 'serializable'"
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.flush_interval = '100ms'" >/dev/null
cluster_reload_wait
mt_psql -d $db -c "CREATE TABLE public.written (tenant_id uuid, metric text, bucket timestamptz, amount bigint)"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme', 'pro')")

rounds=40
writer() {  # writer <n>: late usage for hours of 2026-01-05, one transaction per write
    local i h t
    for i in $(seq 1 $rounds); do
        h=$(( (i * 7 + $1) % 6 )); t=$(( (i + $1) % 3 ))
        mt_psql -d $db -c "BEGIN ISOLATION LEVEL READ COMMITTED" \
            -c "INSERT INTO mt.usage_rollup AS r (tenant_id, metric, bucket, value)
                VALUES ('00000000-0000-4000-8000-00000000000$t', 'api_calls', '2026-01-05 0$h:00+00', $i)
                ON CONFLICT (tenant_id, metric, bucket) DO UPDATE SET value = r.value + excluded.value" \
            -c "INSERT INTO public.written VALUES ('00000000-0000-4000-8000-00000000000$t', 'api_calls', '2026-01-05 0$h:00+00', $i)" \
            -c "SELECT pg_sleep(0.02)" -c "COMMIT" >/dev/null
    done
}
biller() {  # biller <n>: pages of three records after its last cursor until told to stop
    local out=$work/biller$1 last=0 page
    : >"$out"
    while :; do
        page=$(mt_psql -d $db -c "SELECT cursor, idempotency_key, quantity, version
                                    FROM mt.usage_export($last, 3)" | tr '|' ' ')
        if [ -n "$page" ]; then
            echo "$page" >>"$out"
            last=$(tail -n 1 "$out" | cut -d' ' -f1)
        elif [ -e "$work/stop" ]; then
            break
        fi
    done
}
# the current hour meanwhile: counted and flushed by the worker
tracker() {
    local i
    for i in $(seq 1 $rounds); do
        mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.track('api_calls', 1)" >/dev/null
    done
}

biller 1 & b1=$!; pids+=($b1)
biller 2 & b2=$!; pids+=($b2)
writer 1 & w1=$!; pids+=($w1)
writer 2 & w2=$!; pids+=($w2)
writer 3 & w3=$!; pids+=($w3)
tracker & tr=$!; pids+=($tr)
wait $w1 $w2 $w3 $tr || fail "a writer failed"
# every write is committed: the billers drain what is left, then stop
touch "$work/stop"
wait $b1 $b2 || fail "a biller failed"
pids=()

mt_psql -d $db -c "SELECT cursor, idempotency_key, quantity, version FROM mt.usage_export(0, 100000)" |
    tr '|' ' ' >"$work/log"
n=$(wc -l <"$work/log")
[ "$n" -ge 18 ] || fail "only $n records in the log (18 periods were written)"
for b in 1 2; do
    cmp -s "$work/log" "$work/biller$b" ||
        { diff "$work/log" "$work/biller$b" | head -20; fail "biller $b did not receive the log exactly once in order"; }
    dups=$(cut -d' ' -f2 "$work/biller$b" | sort | uniq -d | wc -l)
    [ "$dups" = 0 ] || fail "biller $b received $dups idempotency keys twice"
done
echo "ok: both billers received all $n records exactly once, in cursor order"

bad=$(mt_psql -d $db -c "
    SELECT count(*) FROM (
        SELECT tenant_id, metric, period_start, max(version) AS v, count(*) AS c
          FROM mt.usage_export(0, 100000) GROUP BY 1, 2, 3) s
     WHERE v <> c")
[ "$bad" = 0 ] || fail "$bad periods have gaps or duplicates in their versions"
echo "ok: the versions of every period are 1..n"

bad=$(mt_psql -d $db -c "
    WITH latest AS (
        SELECT DISTINCT ON (tenant_id, metric, period_start) tenant_id, metric, period_start, quantity
          FROM mt.usage_export(0, 100000) WHERE period_start < '2026-01-06'
         ORDER BY tenant_id, metric, period_start, version DESC),
    sums AS (SELECT tenant_id, metric, bucket, sum(amount) AS amount FROM public.written GROUP BY 1, 2, 3)
    SELECT count(*) FROM sums FULL JOIN latest
        ON latest.tenant_id = sums.tenant_id AND latest.metric = sums.metric AND latest.period_start = sums.bucket
     WHERE latest.quantity IS DISTINCT FROM sums.amount")
[ "$bad" = 0 ] || fail "$bad periods: the latest version differs from what was written"
echo "ok: the latest version of every period is the total written"
echo "all ok"
