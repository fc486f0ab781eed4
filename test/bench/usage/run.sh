#!/usr/bin/env bash
# Issue 5: metering costs about as much as SELECT 1.
#   mt.track  for one hot tenant vs SELECT 1: ratio >= 0.85
#   mt.consume for one hot tenant vs SELECT 1: ratio >= 0.80
#   the same over 1,000 tenants (each transaction enters one of 1,000
#   tenants; the baseline enters the tenant too and runs SELECT 1)
#   reference: INSERT one row per call + COUNT(*) over the month with
#   50,000 rows already in the month, vs SELECT 1.
# Also checks that the counts are exact afterwards (tracked == flushed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
db=bench_usage
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -f "$here/setup.sql" >/dev/null
hot=$(mt_psql -d $db -c "SELECT tid FROM bench_tenants WHERE i = 0")
hot_token=$(mt_psql -d $db -c "SELECT token FROM bench_tenants WHERE i = 0")

hot_tps() {   # the hot tenant's context is set for the whole session
    PGOPTIONS="-c multitenant.token=$hot_token" tps $db "$@"
}

s1=0; tr=0; co=0; ref=0; bm=0; tm=0; cm=0
for _ in $(seq "$BENCH_ROUNDS"); do
    s1=$(best "$s1" "$(tps $db "$here/select1.sql")")
    tr=$(best "$tr" "$(hot_tps "$here/track_hot.sql")")
    co=$(best "$co" "$(hot_tps "$here/consume_hot.sql")")
    bm=$(best "$bm" "$(tps $db "$here/base_many.sql")")
    tm=$(best "$tm" "$(tps $db "$here/track_many.sql")")
    cm=$(best "$cm" "$(tps $db "$here/consume_many.sql")")
done
# the reference grows its table while it runs: one round only
ref=$(tps $db "$here/insert_count.sql" -D hot="$hot")

ratio_line "usage: mt.track, one hot tenant vs SELECT 1" "$tr" "$s1" 0.85
ratio_line "usage: mt.consume, one hot tenant vs SELECT 1" "$co" "$s1" 0.80
ratio_line "usage: mt.track, 1,000 tenants vs SELECT 1 (same tenant switch)" "$tm" "$bm" 0.85
ratio_line "usage: mt.consume, 1,000 tenants vs SELECT 1 (same tenant switch)" "$cm" "$bm" 0.80
ratio_line "usage: reference INSERT + COUNT(*) (50k rows/month) vs SELECT 1" "$ref" "$s1" -

# informational: 10,000 calls per statement make the per-call cost visible
# above the noise of the client round trip (one round)
lb=$(hot_tps "$here/loop_base.sql"); lt=$(hot_tps "$here/loop_track.sql")
awk -v b="$lb" -v t="$lt" 'BEGIN {
    printf "usage: per-call cost of mt.track under 8 clients: %.0f ns of wall time (10,000 calls per statement)\n",
        (1 / t - 1 / b) / 10000 * 1e9 }'

# informational: a counter's first call reads its flushed base and its
# quota (two statements the backend plans once, mt_spi_select_kept); 4,000
# new counters (800 metrics of 5 tenants) in one statement, then the same
# calls again on the counters that now exist (one round)
new_counters() {
    mt_psql -d $db -c "\\timing on" -c "DO \$\$ DECLARE t uuid; BEGIN
        FOR t IN SELECT tid FROM bench_tenants WHERE i BETWEEN 1 AND 5 LOOP
            PERFORM mt.set_tenant(t, true);
            PERFORM mt.track('new_' || g) FROM generate_series(1, 800) g;
        END LOOP; END \$\$" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
nc_first=$(new_counters); nc_again=$(new_counters)
awk -v f="$nc_first" -v a="$nc_again" 'BEGIN {
    printf "usage: a new counter'"'"'s first call: %.1f us (4,000 new counters); the same calls again: %.1f us\n",
        f * 1000 / 4000, a * 1000 / 4000 }'

# exactness: everything counted is in the rollup after a flush
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
read -r counted flushed < <(mt_psql -d $db -F ' ' -c "
    SELECT (SELECT sum(used) FROM bench_tenants b, mt.usage(b.tid, 'day') u WHERE u.metric = 'api_calls'),
           (SELECT sum(value) FROM mt.usage_rollup WHERE metric = 'api_calls')")
echo "usage: api_calls counted $counted, in mt.usage_rollup $flushed"
[ "$counted" = "$flushed" ] || { echo "usage: counts differ"; exit 1; }
