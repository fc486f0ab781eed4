#!/usr/bin/env bash
# Issue 15: the write-blocking time of a shared -> schema move
# (mt.move_tenant) of a TENANT_MOVE_ROWS-row tenant (default 100,000) while
# one client of that tenant writes in a loop (pgbench, one INSERT per
# transaction, retried on 40001): the longest that writer's transaction
# took (the wait behind the move plus the retry), and the move's total
# time, against the baseline of the same rows' plain INSERT ... SELECT into
# a plain table + DELETE in one transaction.  Best of BENCH_ROUNDS (the
# tenant is moved back to shared between rounds, untimed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
rows=${TENANT_MOVE_ROWS:-100000}
db=bench_tmove
work=$MT_ROOT/bench-tmove
rm -rf "$work"; mkdir -p "$work"; chmod 777 "$work"
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -v rows="$rows" -f "$here/setup.sql" >/dev/null
big=$(mt_psql -d $db -c "SELECT id FROM mt.tenants WHERE slug = 'big'")

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b < a) ? b : a }'; }

best_base=999999 best_move=999999 best_block=999999 best_held=999999
for round in $(seq "$BENCH_ROUNDS"); do
    mt_psql -d $db -c "CHECKPOINT" >/dev/null
    t=$(now)
    mt_psql -d $db -v t="$big" >/dev/null <<'SQL'
BEGIN;
INSERT INTO plain.items (id, payload, created_at) SELECT id, payload, created_at FROM public.items WHERE tenant_id = :'t';
DELETE FROM public.items WHERE tenant_id = :'t';
ROLLBACK;
SQL
    base=$(elapsed "$t"); best_base=$(min "$best_base" "$base")

    # the writer runs from 1 s before the move to well after it
    secs=$(awk -v b="$base" 'BEGIN { printf "%d", b * 6 + 4 }')
    ( cd "$work" && "$MT_PGBIN/pgbench" -n -M prepared -c 1 -j 1 -T "$secs" --max-tries=100 \
        -D big="$big" -f "$here/writer.sql" -l --log-prefix="w$round" $db >"$work/pgbench-$round.out" 2>&1 ) &
    writer=$!
    sleep 1
    mt_psql -d $db -c "CHECKPOINT" >/dev/null
    t=$(now)
    held=$(mt_psql -d $db -c "SELECT substring(detail from 'held for ([0-9.]+) ms') FROM mt.move_tenant('$big', 'schema', 'tmpl') WHERE item = 'placement'")
    move=$(elapsed "$t")
    wait "$writer" || { cat "$work/pgbench-$round.out"; echo "tenant_move: the writer failed"; exit 1; }
    # per-transaction log: client, transaction, latency (us), ...
    block=$(cat "$work"/w$round.* | awk '{ if ($3 > m) m = $3 } END { printf "%.3f", m / 1e6 }')
    n=$(cat "$work"/w$round.* | wc -l)
    moved=$(mt_psql -d $db -c "SELECT count(*) FROM tenant_big.items")
    [ "$moved" -ge "$rows" ] || { echo "tenant_move: $moved rows in the tenant schema, expected >= $rows"; exit 1; }
    left=$(mt_psql -d $db -c "SELECT count(*) FROM public.items WHERE tenant_id = '$big'")
    [ "$left" = 0 ] || { echo "tenant_move: $left rows of the tenant left in the shared table"; exit 1; }
    echo "tenant_move: round $round: move ${move}s (gate held ${held} ms inside the function), writer: $n transactions, longest ${block}s; baseline ${base}s"
    best_move=$(min "$best_move" "$move"); best_block=$(min "$best_block" "$block")
    best_held=$(min "$best_held" "$held")
    mt_psql -d $db -c "SELECT count(*) FROM mt.move_tenant('$big', 'shared')" >/dev/null
    rm -f "$work"/w$round.*
done
echo "tenant_move: $rows rows shared -> schema: total ${best_move}s, longest write of the tenant ${best_block}s (gate held ${best_held} ms until the function returned), baseline INSERT ... SELECT + DELETE ${best_base}s"
awk -v a="$best_move" -v b="$best_base" -v w="$best_block" 'BEGIN {
    printf "%-60s %10.3f s   vs %10.3f s    ratio %.2f\n", "tenant_move: move time vs plain INSERT ... SELECT + DELETE", a, b, a / b
    printf "%-60s %10.3f s   vs %10.3f s    ratio %.2f\n", "tenant_move: longest blocked write vs plain copy + delete", w, b, w / b }'
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null
rm -rf "$work"
