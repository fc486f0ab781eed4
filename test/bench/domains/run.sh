#!/usr/bin/env bash
# Issue 17: mt.tenant_by_host(host) (normalization + the verified-domain
# lookup) for 1,000 tenants costs at most 5 % (ratio >= 0.95) against a
# plain indexed lookup of the same host in an application's own table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
db=bench_domains
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -f "$here/setup.sql" >/dev/null
# sanity: both return the same tenant
a=$(mt_psql -d $db -c "SELECT mt.tenant_by_host('TENANT-7.example.com.') = tenant_id FROM bench_domains WHERE host = 'tenant-7.example.com'")
[ "$a" = t ] || { echo "sanity check failed (tenant_by_host=$a)"; exit 1; }
lookup=0; base=0
for _ in $(seq "$BENCH_ROUNDS"); do
    x=$(tps $db "$here/baseline.sql"); y=$(tps $db "$here/tenant_by_host.sql")
    base=$(awk -v a="$base" -v b="$x" 'BEGIN { print (b > a) ? b : a }')
    lookup=$(awk -v a="$lookup" -v b="$y" 'BEGIN { print (b > a) ? b : a }')
done
ratio_line "domains: mt.tenant_by_host(host), 1,000 tenants vs indexed lookup" "$lookup" "$base" 0.95
