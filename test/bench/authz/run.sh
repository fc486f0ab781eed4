#!/usr/bin/env bash
# Issue "Authorization": mt.has_permission() in a policy costs what the
# tenant policy alone costs: the 1M-row / 1,000-tenant aggregate and a
# point read with permissions => true vs without (goal >= 0.95 each; for
# information also a hand-written policy calling it once per row), and
# mt.has_permission with 1,000 roles and 10,000 assignments in the tenant
# vs with 1 (goal >= 0.95): the same subject in every transaction (answered
# from the backend's resolution) and, for information, a different subject
# or tenant in every transaction (one resolution each).
# Runs as a non-superuser role (superusers bypass RLS).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
db=bench_authz
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -f "$here/setup.sql" >/dev/null
# sanity: both tables return the tenant's 1,000 rows through the index; the
# big tenant's subject holds what its roles grant
for t in orders orders_perm orders_hand; do
    n=$(mt_psql -U mt_bench_app -d $db -c "BEGIN" -c "SELECT set_config('multitenant.token', token, true) FROM bench_tenants WHERE i = 5" \
        -c "SELECT count(*) FROM $t" -c "END" | sed -n 2p)
    [ "$n" = 1000 ] || { echo "$t returned $n rows, expected 1000"; exit 1; }
done
plan=$(mt_psql -U mt_bench_app -d $db -c "BEGIN" -c "SELECT set_config('multitenant.token', token, true) FROM bench_tenants WHERE i = 5" \
    -c "EXPLAIN (COSTS OFF) SELECT count(*), sum(amount) FROM orders_perm" -c "END")
grep -q "Index Cond: (tenant_id = mt.current_tenant())" <<<"$plan" || { echo "no index scan on the tenant: $plan"; exit 1; }
! grep -qE '^ *Filter:' <<<"$plan" || { echo "the permission policy is tested on every row: $plan"; exit 1; }
got=$(mt_psql -U mt_bench_app -d $db -c "BEGIN" -c "SELECT set_config('multitenant.token', token, true) FROM bench_subjects WHERE kind = 'big' AND i = 1" \
    -c "SELECT mt.has_permission('res1:read')::text || mt.has_permission('res8:write')::text || mt.has_permission('res999:read')::text" -c "END" | sed -n 2p)
[ "$got" = truetruefalse ] || [ "$got" = ttf ] || { echo "big tenant: unexpected permissions of u1: $got"; exit 1; }

ap=0; aq=0; ah=0; pp=0; pq=0; ph=0; cs=0; cb=0; ks=0; kb=0
for _ in $(seq "$BENCH_ROUNDS"); do
    ap=$(best "$ap" "$(tps $db "$here/agg_plain.sql" -U mt_bench_app)")
    aq=$(best "$aq" "$(tps $db "$here/agg_perm.sql" -U mt_bench_app)")
    ah=$(best "$ah" "$(tps $db "$here/agg_hand.sql" -U mt_bench_app)")
    pp=$(best "$pp" "$(tps $db "$here/point_plain.sql" -U mt_bench_app)")
    pq=$(best "$pq" "$(tps $db "$here/point_perm.sql" -U mt_bench_app)")
    ph=$(best "$ph" "$(tps $db "$here/point_hand.sql" -U mt_bench_app)")
    cs=$(best "$cs" "$(tps $db "$here/check_small.sql" -U mt_bench_app)")
    cb=$(best "$cb" "$(tps $db "$here/check_big.sql" -U mt_bench_app)")
    ks=$(best "$ks" "$(tps $db "$here/check_small_cold.sql" -U mt_bench_app)")
    kb=$(best "$kb" "$(tps $db "$here/check_big_cold.sql" -U mt_bench_app)")
done
ratio_line "authz: aggregate, generated permission policy vs without (1M)" "$aq" "$ap" 0.95
ratio_line "authz: point read, generated permission policy vs without" "$pq" "$pp" 0.95
ratio_line "authz: aggregate, hand-written per-row has_permission vs without" "$ah" "$ap" -
ratio_line "authz: point read, hand-written per-row has_permission vs without" "$ph" "$pp" -
ratio_line "authz: has_permission, 1,000 roles/10,000 assignments vs 1" "$cb" "$cs" 0.95
ratio_line "authz: same, subject changes every transaction (resolves)" "$kb" "$ks" -
