#!/usr/bin/env bash
# Issue "Insight": mt.authenticate and mt.track (with the token entry before
# it) with per-tenant statistics on (multitenant.track_stats = on, the
# default) vs off, over 1,000 tenants: goal ratio >= 0.97 each.  Runs
# alternate off / on (A B B A ...); the best run of each side counts.
# Then mt.metrics() over 10,000 tenants with statistics: goal < 50 ms.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
db=bench_insight
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -f "$here/setup.sql" >/dev/null
a=$(mt_psql -d $db -c "SELECT mt.authenticate(k) = tid FROM bench_tenants WHERE i = 7")
[ "$a" = t ] || { echo "sanity check failed (authenticate=$a)"; exit 1; }

# best_pair <script>: "on off" best tps, runs alternating (off on, on off,
# off on, ...: neither side always runs first)
best_pair() {
    local on=0 off=0 x y r
    for r in $(seq "$BENCH_ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then
            x=$(PGOPTIONS="-c multitenant.track_stats=off" tps $db "$1")
            y=$(PGOPTIONS="-c multitenant.track_stats=on" tps $db "$1")
        else
            y=$(PGOPTIONS="-c multitenant.track_stats=on" tps $db "$1")
            x=$(PGOPTIONS="-c multitenant.track_stats=off" tps $db "$1")
        fi
        off=$(awk -v a="$off" -v b="$x" 'BEGIN { print (b > a) ? b : a }')
        on=$(awk -v a="$on" -v b="$y" 'BEGIN { print (b > a) ? b : a }')
    done
    echo "$on $off"
}
read -r auth_on auth_off < <(best_pair "$here/authenticate.sql")
read -r track_on track_off < <(best_pair "$here/track.sql")
counted=$(mt_psql -d $db -c "SELECT sum(auth_ok) > 0 AND sum(metered_calls) > 0 FROM mt.stat_tenants")
[ "$counted" = t ] || echo "warning: statistics were not counted during the 'on' runs"
ratio_line "insight: mt.authenticate, statistics on vs off" "$auth_on" "$auth_off" 0.97
ratio_line "insight: token + 4 x mt.track, statistics on vs off" "$track_on" "$track_off" 0.97

# mt.metrics() over 10,000 tenants with statistics: goal < 50 ms
mdb=bench_insight_metrics
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $mdb" -c "CREATE DATABASE $mdb" >/dev/null
mt_psql -d $mdb -f "$here/metrics_setup.sql" >/dev/null
rows=$(mt_psql -d $mdb -c "SELECT count(*) FROM mt.stat_tenants WHERE scope = 'tenant'")
[ "$rows" = 10000 ] || echo "warning: $rows tenant rows in the statistics, expected 10000"
ms=$(PGOPTIONS="-c client_min_messages=warning" "$MT_PGBIN/psql" -X -q -At -d $mdb -f "$here/metrics_time.sql" 2>&1 \
     | sed -n 's/.*metrics_ms=\([0-9.]*\).*/\1/p')
awk -v ms="$ms" 'BEGIN { printf "%-60s %10.2f ms (best of 10, 10,000 tenants)  %s (target < 50 ms)\n",
                        "insight: mt.metrics()", ms, (ms != "" && ms < 50) ? "PASS" : "FAIL" }'
