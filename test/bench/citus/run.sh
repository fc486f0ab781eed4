#!/usr/bin/env bash
# Issue 14: on a Citus cluster (a coordinator and two workers of its own),
# a tenant-scoped point read and a tenant-scoped aggregate through the
# coordinator, in the verified context (the isolation policy alone:
# "SELECT ... FROM orders WHERE id = $1"), cost what the hand-written
# "WHERE tenant_id = $1" costs on the same distributed table (ratio >=
# 0.90).  Each transaction enters one of 100 tenants with its token (bound)
# in both variants.  Prints the number of shards each query runs on
# (EXPLAIN's Task Count), and, for reference, the same queries with
# multitenant.citus_route_tenant = off (every shard).
# Skipped when Citus is not installed in this PostgreSQL tree.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
if [ ! -f "$("$MT_PGBIN/pg_config" --pkglibdir)/citus.so" ]; then
    echo "citus: skipped (Citus is not installed in $("$MT_PGBIN/pg_config" --pkglibdir); scripts/citus.sh builds it)"
    exit 0
fi
. "$here/../../citus/lib.sh"
# the bench's own three nodes, beside the test suite's (MT_PORT+1..+3):
# MT_PORT+4..+6 of the test port the bench port is derived from (+10)
CITUS_ROOT=$MT_ROOT/citus
CITUS_PORTS=($((MT_PORT - 6)) $((MT_PORT - 5)) $((MT_PORT - 4)))
mkdir -p "$MT_ROOT"
trap citus_cluster_destroy EXIT
citus_cluster_init >"$MT_ROOT/citus-init.log" 2>&1 || { tail -20 "$MT_ROOT/citus-init.log"; exit 1; }
citus_psql 0 -f "$here/setup.sql" >/dev/null
ROLE=mt_bench_app
coord=(-h "$CITUS_ROOT/sock" -p "${CITUS_PORTS[0]}" -U "$ROLE")

# as the role in tenant 5's context: the query's output
in_tenant() {
    citus_psql 0 -U $ROLE -c "BEGIN" \
        -c "SELECT set_config('multitenant.token', token, true) IS NULL FROM bench_tenants WHERE i = 5" \
        "$@" -c "END" | sed 1d
}
tid=$(citus_psql 0 -c "SELECT tid FROM bench_tenants WHERE i = 5")

# the verified context reaches the workers: the policies are checked there
[ "$(in_tenant -c "SELECT count(*) FROM orders WHERE tenant_id = '$tid'")" = 1000 ] ||
    { echo "citus: the tenant context does not reach the workers"; exit 1; }
mode="policies checked on the workers"

# sanity: the verified queries return the hand-written queries' rows
v=$(in_tenant -c "SELECT count(*), sum(amount) FROM orders")
h=$(in_tenant -c "SELECT count(*), sum(amount) FROM orders WHERE tenant_id = '$tid'")
[ "$v" = "$h" ] && [ "${v%%|*}" = 1000 ] || { echo "citus: aggregate differs: verified '$v', hand-written '$h'"; exit 1; }
v=$(in_tenant -c "SELECT amount FROM orders WHERE id = 321")
h=$(in_tenant -c "SELECT amount FROM orders WHERE tenant_id = '$tid' AND id = 321")
[ "$v" = "$h" ] && [ -n "$v" ] || { echo "citus: point read differs: verified '$v', hand-written '$h'"; exit 1; }

# shards each query runs on
shards() { in_tenant "$@" | awk '/Task Count:/ { print $3 }'; }
s_pv=$(shards -c "EXPLAIN (COSTS OFF) SELECT amount FROM orders WHERE id = 321")
s_ph=$(shards -c "EXPLAIN (COSTS OFF) SELECT amount FROM orders WHERE tenant_id = '$tid' AND id = 321")
s_av=$(shards -c "EXPLAIN (COSTS OFF) SELECT count(*), sum(amount) FROM orders")
s_ah=$(shards -c "EXPLAIN (COSTS OFF) SELECT count(*), sum(amount) FROM orders WHERE tenant_id = '$tid'")
s_off=$(shards -c "SET LOCAL multitenant.citus_route_tenant = off" -c "EXPLAIN (COSTS OFF) SELECT count(*), sum(amount) FROM orders")
[ "$s_pv" = 1 ] && [ "$s_av" = 1 ] || { echo "citus: the verified queries are not routed to one shard ($s_pv, $s_av)"; exit 1; }

pv=0; ph=0; av=0; ah=0
for _ in $(seq "$BENCH_ROUNDS"); do
    ph=$(best "$ph" "$(tps "$CITUS_DB" "$here/point_hand.sql" "${coord[@]}")")
    pv=$(best "$pv" "$(tps "$CITUS_DB" "$here/point_verified.sql" "${coord[@]}")")
    ah=$(best "$ah" "$(tps "$CITUS_DB" "$here/agg_hand.sql" "${coord[@]}")")
    av=$(best "$av" "$(tps "$CITUS_DB" "$here/agg_verified.sql" "${coord[@]}")")
done
# reference, one round: the verified queries on every shard
po=$(PGOPTIONS="-c multitenant.citus_route_tenant=off" tps "$CITUS_DB" "$here/point_verified.sql" "${coord[@]}")
ao=$(PGOPTIONS="-c multitenant.citus_route_tenant=off" tps "$CITUS_DB" "$here/agg_verified.sql" "${coord[@]}")

echo "citus: $mode"
[ "$mode" = "policies checked on the workers" ] || echo "citus: (routing off then reads every tenant's rows on the workers: the reference is pessimistic)"
ratio_line "citus: point read, verified context ($s_pv shard) vs WHERE tenant_id = \$1 ($s_ph)" "$pv" "$ph" 0.90
ratio_line "citus: aggregate, verified context ($s_av shard) vs WHERE tenant_id = \$1 ($s_ah)" "$av" "$ah" 0.90
ratio_line "citus: point read, routing off ($s_off shards) vs WHERE tenant_id = \$1" "$po" "$ph" -
ratio_line "citus: aggregate, routing off ($s_off shards) vs WHERE tenant_id = \$1" "$ao" "$ah" -
