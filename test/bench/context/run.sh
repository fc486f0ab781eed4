#!/usr/bin/env bash
# Issue: the verified tenant context costs at most 10 % (ratio >= 0.90)
# against an unverified set_config + current_setting, per transaction that
# enters a tenant and reads one row by primary key.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
db=bench_context
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -f "$here/setup.sql" >/dev/null
# sanity: both scripts return the same row
a=$(mt_psql -d $db -c "BEGIN" -c "SELECT set_config('multitenant.token', token, true) FROM bench_tenants WHERE i = 7" \
     -c "SELECT payload FROM items WHERE id = 605 AND tenant_id = mt.current_tenant()" -c "END" | tail -1)
[ -n "$a" ] || { echo "verified path returned no row"; exit 1; }
ver=0; unv=0
for _ in $(seq "$BENCH_ROUNDS"); do
    u=$(tps $db "$here/unverified.sql"); v=$(tps $db "$here/verified.sql")
    unv=$(awk -v a="$unv" -v b="$u" 'BEGIN { print (b > a) ? b : a }')
    ver=$(awk -v a="$ver" -v b="$v" 'BEGIN { print (b > a) ? b : a }')
done
ratio_line "context: signed token + PK read vs unverified GUC" "$ver" "$unv" 0.90
