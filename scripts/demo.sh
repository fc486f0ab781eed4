#!/usr/bin/env bash
# make demo: build, install, start a throwaway cluster with the library
# preloaded, and walk through the product.  Everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export MT_ROOT=${MT_DEMO_ROOT:-/tmp/multitenant-demo} MT_PORT=${MT_DEMO_PORT:-54349}
. test/lib.sh
echo "== building and installing multitenant"
make -s >/dev/null && make -s install >/dev/null
echo "== starting a throwaway PostgreSQL 15 cluster (shared_preload_libraries = 'multitenant')"
cluster_init multitenant
trap cluster_destroy EXIT
mt_psql -d postgres -c "CREATE DATABASE demo" >/dev/null
for part in demo/[0-9]*.sql; do
    "$MT_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d demo -P pager=off -f "$part"
done
echo
echo "== demo finished; the cluster is removed"
