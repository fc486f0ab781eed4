#!/usr/bin/env bash
# Issue 15: export and import throughput of one tenant (mt.export_tenant /
# mt.import_tenant through bin/mt-tenant) in rows/s for a 1M-row tenant,
# against plain COPY of the same rows out (COPY (SELECT ... WHERE
# tenant_id = ...) TO STDOUT) and in (COPY items FROM STDIN into the same
# table in an empty database), goal >= 0.50 each.  Also the export
# backend's peak private memory (RssAnon, polled every 50 ms) for the 1M
# tenant and for a tenant of a tenth of the size: streaming means it does
# not grow with the tenant.  Best of BENCH_ROUNDS; TENANT_EXPORT_ROWS
# changes the size.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
top=$(cd "$here/../../.." && pwd)
rows=${TENANT_EXPORT_ROWS:-1000000}
src=bench_texport_src
dst=bench_texport_dst
work=$MT_ROOT/bench-texport
rm -rf "$work"; mkdir -p "$work"; chmod 777 "$work"
export PSQL=$MT_PGBIN/psql

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $src" -c "CREATE DATABASE $src" >/dev/null
start=$(date +%s)
mt_psql -d $src -v rows="$rows" -f "$here/setup.sql" >/dev/null
echo "tenant_export: setup of $rows + $((rows / 10)) rows took $(( $(date +%s) - start )) s"
big=$(mt_psql -d $src -c "SELECT id FROM bench_tenant")
other=$(mt_psql -d $src -c "SELECT id FROM mt.tenants WHERE slug = 'other'")

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# peak RssAnon (kB) of the backend running <sql> (its output to <file>)
peak_rss() {   # peak_rss <db> <file> <sql>
    local db=$1 file=$2 sql=$3 pid peak=0 v
    coproc P { "$PSQL" -X -q -At -d "$db" -o "$file" 2>&1; }
    local ppid=$P_PID
    echo "SELECT pg_backend_pid();" >&"${P[1]}"
    sleep 0.2
    pid=$(head -1 "$file")
    echo "$sql" >&"${P[1]}"
    exec {P[1]}>&-
    while kill -0 "$ppid" 2>/dev/null; do
        v=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
        sleep 0.05
    done
    wait "$ppid" 2>/dev/null || true
    echo "$peak"
}

best_exp=999999 best_copy_out=999999 best_imp=999999 best_copy_in=999999
for _ in $(seq "$BENCH_ROUNDS"); do
    t=$(now); "$top/bin/mt-tenant" export "$big" "$work/big.mtx" -d $src; e=$(elapsed "$t")
    best_exp=$(awk -v a="$best_exp" -v b="$e" 'BEGIN { print (b < a) ? b : a }')
    t=$(now)
    "$PSQL" -X -q -d $src -v t="$big" -o "$work/big.copy" <<'SQL'
COPY (SELECT * FROM items WHERE tenant_id = :'t') TO STDOUT
SQL
    e=$(elapsed "$t")
    best_copy_out=$(awk -v a="$best_copy_out" -v b="$e" 'BEGIN { print (b < a) ? b : a }')

    for kind in import copy; do
        mt_psql -d postgres -c "DROP DATABASE IF EXISTS $dst" -c "CREATE DATABASE $dst" >/dev/null
        mt_psql -d $dst -f "$here/schema.sql" >/dev/null
        mt_psql -d $dst -c "CHECKPOINT" >/dev/null
        t=$(now)
        if [ $kind = import ]; then
            "$top/bin/mt-tenant" import "$work/big.mtx" -d $dst >/dev/null
            e=$(elapsed "$t")
            best_imp=$(awk -v a="$best_imp" -v b="$e" 'BEGIN { print (b < a) ? b : a }')
            got=$(mt_psql -d $dst -c "SELECT count(*) FROM items")
        else
            "$PSQL" -X -q -d $dst -c "\\copy items FROM '$work/big.copy'"
            e=$(elapsed "$t")
            best_copy_in=$(awk -v a="$best_copy_in" -v b="$e" 'BEGIN { print (b < a) ? b : a }')
            got=$(mt_psql -d $dst -c "SELECT count(*) FROM items")
        fi
        [ "$got" = "$rows" ] || { echo "tenant_export: $kind loaded $got rows, expected $rows"; exit 1; }
    done
done

rate() { awk -v n="$rows" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
echo "tenant_export: $rows rows: export ${best_exp}s, COPY out ${best_copy_out}s, import ${best_imp}s, COPY in ${best_copy_in}s"
ratio_line "tenant_export: export rows/s vs plain COPY TO (rows/s)" "$(rate "$best_exp")" "$(rate "$best_copy_out")" 0.50 ge | sed 's/ tps/ rows\/s/g'
ratio_line "tenant_export: import rows/s vs plain COPY FROM (rows/s)" "$(rate "$best_imp")" "$(rate "$best_copy_in")" 0.50 ge | sed 's/ tps/ rows\/s/g'

big_peak=$(peak_rss $src "$work/peak-big.out" "COPY (SELECT (e).* FROM (SELECT mt.export_tenant('$big') AS e OFFSET 0) s) TO STDOUT;")
small_peak=$(peak_rss $src "$work/peak-small.out" "COPY (SELECT (e).* FROM (SELECT mt.export_tenant('$other') AS e OFFSET 0) s) TO STDOUT;")
echo "tenant_export: export backend peak RssAnon: $((big_peak / 1024)) MB for $rows rows, $((small_peak / 1024)) MB for $((rows / 10)) rows (work_mem $(mt_psql -d $src -c 'SHOW work_mem'))"
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $dst" -c "DROP DATABASE IF EXISTS $src" >/dev/null
rm -rf "$work"
