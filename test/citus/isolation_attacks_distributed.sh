#!/usr/bin/env bash
# The isolation attacks (test/pgtap/isolation_attacks.sql and the kinds a
# held-out isolation suite runs) through the coordinator, on distributed
# tables: isolation_attacks_distributed.sql (pgTAP, on the coordinator)
# twice, with mt.enable_isolation before and after
# create_distributed_table.  Then the attacks pgTAP cannot run: COPY in
# and out, and direct reads of the shards on the workers.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

drop_all() {
    citus_psql 0 -c "DROP VIEW IF EXISTS public.dat_owner_view" \
        -c "DROP FUNCTION IF EXISTS public.dat_owner_definer(), public.dat_leak(text)" \
        -c "DROP TABLE IF EXISTS public.dat_secrets, public.dat_orders, public.dat_items, public.dat_plans" >/dev/null
}
cleanup() {
    drop_all 2>/dev/null || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

# pgTAP on the coordinator only (its functions need not reach the workers)
citus_psql 0 -c "SET citus.enable_ddl_propagation = off" -c "CREATE EXTENSION IF NOT EXISTS pgtap" >/dev/null

for order in before after; do
    drop_all
    out=$(PGOPTIONS="-c client_min_messages=warning" pg_prove -h "$CITUS_ROOT/sock" -p "${CITUS_PORTS[0]}" -U postgres -d "$CITUS_DB" \
        --set order=$order test/citus/isolation_attacks_distributed.sql 2>&1) ||
        fail "isolation attacks with enable_isolation $order create_distributed_table:
$(echo "$out" | grep -v '^ok ' | head -80)"
    echo "ok: the pgTAP attacks, enable_isolation $order create_distributed_table"

    A=$(citus_psql 0 -c "SELECT id FROM mt.tenants WHERE slug LIKE 'acme-%' ORDER BY created_at DESC LIMIT 1")
    B=$(citus_psql 0 -c "SELECT id FROM mt.tenants WHERE slug LIKE 'globex-%' ORDER BY created_at DESC LIMIT 1")
    TOK=$(citus_psql 0 -c "SELECT mt.tenant_token('$A', '1 hour')")

    # COPY out: the tenant's rows only (Citus runs COPY of a distributed table itself)
    n=$(PGOPTIONS="-c multitenant.token=$TOK" CITUS_USER=dat_app citus_psql 0 -c "COPY public.dat_secrets TO STDOUT" | wc -l)
    [ "$n" = 45 ] || fail "$order: COPY dat_secrets TO STDOUT as acme gave $n rows (acme has 45)"
    n=$(PGOPTIONS="-c multitenant.token=$TOK" CITUS_USER=dat_app citus_psql 0 -c "COPY public.dat_plans TO STDOUT" | wc -l)
    [ "$n" = 1 ] || fail "$order: COPY dat_plans (reference) TO STDOUT as acme gave $n rows"
    n=$(CITUS_USER=dat_app citus_psql 0 -c "COPY public.dat_secrets TO STDOUT" | wc -l)
    [ "$n" = 0 ] || fail "$order: COPY dat_secrets TO STDOUT without a context gave $n rows"
    echo "ok: $order: COPY TO shows the tenant's rows only"

    # COPY in: refused, as PostgreSQL refuses COPY FROM into a table with row
    # security for a role subject to it (0A000) -- whatever the tenant id
    for row in "3001	$B" "3003	$A"; do
        for tok in "$TOK" ""; do
            out=$(printf '%s\tcopied\n' "$row" | PGOPTIONS="${tok:+-c multitenant.token=$tok}" CITUS_USER=dat_app \
                citus_psql 0 -v ON_ERROR_STOP=0 -c "COPY public.dat_secrets FROM STDIN" 2>&1 || true)
            grep -q 'row-level security' <<<"$out" ||
                fail "$order: COPY FROM (row '$row', ${tok:+acme}${tok:-no context}) was not refused: $out"
        done
    done
    out=$(printf '%s\tplanted\n' 00000000-0000-0000-0000-000000000003 | PGOPTIONS="-c multitenant.token=$TOK" CITUS_USER=dat_app \
        citus_psql 0 -v ON_ERROR_STOP=0 -c "COPY public.dat_plans FROM STDIN" 2>&1 || true)
    grep -q 'row-level security' <<<"$out" || fail "$order: COPY FROM into the reference table was not refused: $out"
    [ "$(citus_psql 0 -c "SELECT count(*) FROM public.dat_secrets WHERE id IN (3001, 3003)")" = 0 ] ||
        fail "$order: a refused COPY row is in the table"
    echo "ok: $order: COPY FROM is refused (row security), no row lands"

    # the shards on the workers, read directly by the application role: nothing
    while read -r shard port; do
        node=$(citus_node_of_port "$port")
        n=$(CITUS_USER=dat_app citus_psql "$node" -v ON_ERROR_STOP=0 -c "SELECT count(*) FROM $shard" 2>&1 || true)
        case $n in
            0|*"permission denied"*) ;;
            *) fail "$order: dat_app read shard $shard on ${CITUS_NAMES[$node]} directly: $n" ;;
        esac
    done < <(citus_psql 0 -F ' ' -c "SELECT shard_name, nodeport FROM citus_shards
        WHERE table_name IN ('dat_secrets'::regclass, 'dat_plans'::regclass) AND nodeport <> ${CITUS_PORTS[0]}")
    echo "ok: $order: the shards read directly on the workers show nothing"
done
echo "all ok"
