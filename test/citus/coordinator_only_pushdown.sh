#!/usr/bin/env bash
# Metering, rate limits, audit and GDPR keep their state on the Citus
# coordinator.  A call of mt.track, mt.consume, mt.rate_limit, mt.audit or a
# GDPR function inside a query on a distributed table is pushed down into the
# shard queries and runs on the workers; there it would count into the
# worker's own counters, append to the worker's own audit chain and read or
# write the worker's own (empty) consent and request tables.  Instead it
# raises 0A000 on every node that is not the coordinator, and nothing lands
# on the worker; a direct call on a worker is refused the same way.  At the
# top level of a distributed (2PC) transaction on the coordinator the same
# calls work and their state is on the coordinator only.
#
# The tenant context reaches the worker's shard query here by mt.set_tenant()
# in the pushed-down WHERE clause (a worker verifies it like the coordinator:
# the registry row is copied to the workers first).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/citus/lib.sh

cleanup() {
    citus_psql 0 -c "DROP TABLE IF EXISTS co_items" >/dev/null 2>&1 || true
    citus_release_cluster
}
trap cleanup EXIT
citus_use_cluster

A=$(citus_psql 0 -c "SELECT mt.create_tenant('Coordinator only A', 'co-a-' || substr(md5(random()::text), 1, 8))")
B=$(citus_psql 0 -c "SELECT mt.create_tenant('Coordinator only B', 'co-b-' || substr(md5(random()::text), 1, 8))")
# the registry rows on the workers, so that a worker enters these tenants
rows=$(citus_psql 0 -c "SELECT string_agg(format('(%L, %L, %L, %L, %L)', id, name, slug, plan, status), ', ')
    FROM mt.tenants WHERE id IN ('$A', '$B')")
for i in 1 2; do
    citus_psql $i -c "INSERT INTO mt.tenants (id, name, slug, plan, status) VALUES $rows
        ON CONFLICT (id) DO NOTHING" >/dev/null
done
citus_psql 0 >/dev/null <<SQL
DROP TABLE IF EXISTS co_items;
CREATE TABLE co_items (id bigint, tenant_id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
SELECT mt.enable_isolation('co_items');
SELECT create_distributed_table('co_items', 'tenant_id');
INSERT INTO co_items SELECT g, '$A' FROM generate_series(1, 5) g;
SQL
port=$(citus_psql 0 -c "SELECT nodeport FROM citus_shards WHERE table_name = 'co_items'::regclass
    AND shardid = get_shard_id_for_distribution_column('co_items', '$A'::uuid)")
W=$(citus_node_of_port "$port")

# what tenant A has on a node: flushed usage, audit rows, consents, requests
state() {   # state <node>
    citus_psql "$1" -c "SELECT mt.flush_usage()" >/dev/null
    citus_psql "$1" -c "SELECT (SELECT coalesce(sum(value), 0) FROM mt.usage_rollup WHERE tenant_id = '$A')
        || '/' || (SELECT count(*) FROM mt.audit_log WHERE tenant_id = '$A')
        || '/' || (SELECT count(*) FROM mt.consents WHERE tenant_id = '$A')
        || '/' || (SELECT count(*) FROM mt.gdpr_requests WHERE tenant_id = '$A')"
}
[ "$(state "$W")" = "0/0/0/0" ] || fail "${CITUS_NAMES[$W]} starts with state for A: $(state "$W")"

# refused <node> <what> <sql...>: the statements fail with 0A000
refused() {
    local node=$1 what=$2 out
    shift 2
    if out=$(citus_psql "$node" -v VERBOSITY=verbose "$@" 2>&1); then
        fail "$what ran on ${CITUS_NAMES[$W]} (returned: $(echo "$out" | tr '\n' ' ' | cut -c1-120)); ${CITUS_NAMES[$W]} now has usage/audit/consents/requests $(state "$W")"
    fi
    grep -q "ERROR:  0A000: .*runs on the Citus coordinator only" <<<"$out" ||
        fail "$what failed, but not with 0A000: $out"
}

# pushed down into every shard query (the context enters on the worker)
for call in "mt.track('pd.metric')" "mt.consume('pd.metric', 2)" "mt.rate_limit('pd.bucket', 100, 10)" \
    "mt.audit('pd.action')" "mt.record_consent('subject-1', 'marketing', true)" \
    "mt.has_consent('subject-1', 'marketing')" "mt.gdpr_export('subject-1')" \
    "mt.gdpr_request('subject-1', 'access')" "mt.is_restricted('subject-1')"; do
    refused 0 "$call pushed down" -c "SELECT $call FROM co_items WHERE mt.set_tenant('$A') IS NOT NULL"
done
# a router query (one shard) pushes the call down too
refused 0 "mt.track in a router query" -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" \
    -c "SELECT mt.track('pd.router') FROM co_items WHERE tenant_id = '$A' AND id = 1"
[ "$(state "$W")" = "0/0/0/0" ] || fail "${CITUS_NAMES[$W]} got state for A: $(state "$W")"
echo "ok: pushed-down metering, rate limit, audit and GDPR calls raise 0A000, nothing lands on the worker"

# called directly on a worker
refused "$W" "mt.track on a worker" -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" -c "SELECT mt.track('pd.direct')"
refused "$W" "mt.audit on a worker" -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" -c "SELECT mt.audit('pd.direct')"
refused "$W" "mt.usage on a worker" -c "SELECT count(*) FROM mt.usage('$A')"
refused "$W" "mt.audit_verify on a worker" -c "SELECT count(*) FROM mt.audit_verify('$A')"
# the registry's other capabilities (placements, roles, domains, second
# factors, identities, export) live on the coordinator too: a worker has
# no rows of them and would answer wrongly or write a stray copy
for call in "mt.tenant_placement('$A')" "mt.route()" "mt.create_role('pd_role', '{a:b}')" \
    "mt.create_workspace('pd_ws')" "mt.add_domain('$A', 'pd.example.com')" "mt.tenant_by_host('pd.example.com')" \
    "mt.totp_enroll('pd-subject')" "mt.sso_provider_for('a@pd.example.com')" "mt.export_tenant('$A')"; do
    refused "$W" "$call on a worker" -c "BEGIN" -c "SELECT mt.set_tenant('$A') IS NULL" -c "SELECT count(*) FROM $call AS f"
done
echo "ok: direct calls on a worker raise 0A000"

# mt.audit_table on a distributed table: Citus refuses the trigger unless
# citus.enable_unsafe_triggers; with it, the trigger fires on the shards,
# on the workers: a row change is refused there, not audited on the worker
citus_psql 0 -c "SET citus.enable_unsafe_triggers = on" -c "SELECT mt.audit_table('co_items')" >/dev/null
refused 0 "an audited row change on a shard" -c "INSERT INTO co_items VALUES (900, '$A')"
[ "$(citus_psql 0 -c "SELECT count(*) FROM co_items WHERE id = 900")" = 0 ] || fail "the refused INSERT left a row"
citus_psql 0 -c "SET citus.enable_unsafe_triggers = on" -c "SELECT mt.audit_untable('co_items')" >/dev/null
[ "$(state "$W")" = "0/0/0/0" ] || fail "${CITUS_NAMES[$W]} got state for A: $(state "$W")"
echo "ok: the audit trigger on a distributed table's shards raises 0A000"

# the top level of a distributed (2PC) transaction on the coordinator
before=$(state 0)
citus_psql 0 >/dev/null <<SQL
BEGIN;
SELECT mt.set_tenant('$A') IS NULL;
INSERT INTO co_items SELECT g, t FROM (VALUES ('$A'::uuid), ('$B'::uuid)) v(t), generate_series(100, 110) g;
SELECT mt.track('pd.top', 3);
SELECT mt.consume('pd.top', 2);
SELECT mt.rate_limit('pd.bucket', 100, 10);
SELECT mt.audit('pd.top');
SELECT mt.record_consent('subject-1', 'marketing', true);
SELECT mt.has_consent('subject-1', 'marketing');
SELECT mt.gdpr_request('subject-1', 'access');
COMMIT;
SQL
[ "$(citus_psql 0 -c "SELECT used FROM mt.usage('$A') WHERE metric = 'pd.top'")" = 5 ] ||
    fail "the coordinator did not count pd.top 5 times: $(citus_psql 0 -c "SELECT metric, used FROM mt.usage('$A')")"
IFS=/ read -r u0 a0 c0 r0 <<<"$before"
IFS=/ read -r u1 a1 c1 r1 <<<"$(state 0)"
[ $((u1 - u0)) = 5 ] && [ $((a1 - a0)) -ge 1 ] && [ $((c1 - c0)) = 1 ] && [ $((r1 - r0)) = 1 ] ||
    fail "coordinator state for A went from $before to $u1/$a1/$c1/$r1"
citus_true 0 "SELECT bool_and(ok) FROM mt.audit_verify('$A')" || fail "A's audit chain does not verify on the coordinator"
for i in 1 2; do
    [ "$(state $i)" = "0/0/0/0" ] || fail "${CITUS_NAMES[$i]} got state for A from top-level calls: $(state $i)"
done
echo "ok: top-level calls in a 2PC transaction count once, on the coordinator"
echo "all ok"
