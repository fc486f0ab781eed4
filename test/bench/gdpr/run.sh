#!/usr/bin/env bash
# Issue: exporting one subject who has 10 rows costs about the same whether
# the table holds 100,000 or 5,000,000 rows: time(5M) / time(100k) <= 2.
# (The cost follows the subject's rows through the (tenant_id, subject)
# index, not the table size.)  One database per size, same schema.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
small=100000
big=${GDPR_BENCH_BIG_ROWS:-5000000}
for n in $small $big; do
    db=bench_gdpr_$n
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    start=$(date +%s)
    mt_psql -d $db -v rows=$n -f "$here/setup.sql" >/dev/null
    echo "gdpr: setup of $n rows took $(( $(date +%s) - start )) s"
    # sanity: a subject has exactly 10 rows in the export, read through the index
    got=$(mt_psql -d $db -c "BEGIN" -c "SELECT set_config('multitenant.token', token, true) FROM bench_token" \
        -c "SELECT jsonb_array_length(mt.gdpr_export('user-42') -> 'tables' -> 0 -> 'rows')" -c "END" | sed -n 2p)
    [ "$got" = 10 ] || { echo "export of user-42 returned '$got' rows, expected 10"; exit 1; }
done
s=0; b=0
for _ in $(seq "$BENCH_ROUNDS"); do
    x=$(tps bench_gdpr_$small "$here/export.sql" -D nsubj=$((small / 10)))
    y=$(tps bench_gdpr_$big "$here/export.sql" -D nsubj=$((big / 10)))
    s=$(awk -v a="$s" -v b="$x" 'BEGIN { print (b > a) ? b : a }')
    b=$(awk -v a="$b" -v b="$y" 'BEGIN { print (b > a) ? b : a }')
done
# time per export: big / small = tps(small) / tps(big)
ratio_line "gdpr: export time, 10-row subject, ${big}-row vs ${small}-row table" "$s" "$b" 2 le
