#!/usr/bin/env bash
# Issue: the verified tenant context costs at most 10 % (ratio >= 0.90)
# against an unverified set_config + current_setting, per transaction that
# enters a tenant and reads one row by primary key.  Each backend sees the
# 1,000 tenants' tokens again and again, as pooled connections do: the
# second line shows the same with the verified-token cache off
# (multitenant.token_cache_size = 0: every set verifies the signature and
# parses the JSON), for information.
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
ver=0; unv=0; cold=0
for _ in $(seq "$BENCH_ROUNDS"); do
    unv=$(best "$unv" "$(tps $db "$here/unverified.sql")")
    ver=$(best "$ver" "$(tps $db "$here/verified.sql")")
    cold=$(best "$cold" "$(PGOPTIONS="-c multitenant.token_cache_size=0" tps $db "$here/verified.sql")")
done
ratio_line "context: signed token + PK read vs unverified GUC" "$ver" "$unv" 0.90
ratio_line "context: the same, verified-token cache off" "$cold" "$unv" -
