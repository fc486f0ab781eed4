#!/usr/bin/env bash
# The sealer's floor (src/seal_floor.c) is read again under each chain's
# lock: a sealer that read the floor, then waited for a chain's lock while
# a superuser inserted a row with its own id below that floor (a restore:
# the floor of every database drops to 0), links that row in id order with
# the chain's later events.  Before: it read the chain from the floor it
# had read before the wait, linked the later events and left the restored
# row to a later pass, which linked it after an event appended after the
# row had committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_audit_seal_floor_stale
work=$(mktemp -d)
chmod 755 "$work"
s1=""
s2=""
cleanup() {
    exec 3>&- || true
    [ -z "$s1" ] || kill "$s1" 2>/dev/null || true
    [ -z "$s2" ] || kill "$s2" 2>/dev/null || true
    wait 2>/dev/null || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
tid=$(mt_psql -d $db -c "CREATE EXTENSION multitenant" -c "SELECT mt.create_tenant('Acme', 'acme')" | tail -1)
# the dead entries show whether the floor rose: no autovacuum on the log here
mt_psql -d $db -c "ALTER TABLE mt.audit_log SET (autovacuum_enabled = off)" >/dev/null
as_acme="SELECT mt.set_tenant('$tid', false)"

append() {   # append <action>: one event in its own transaction
    mt_psql -d $db -c "$as_acme" -c "SELECT mt.audit('$1')" >/dev/null
}
# index pages one sealing pass reads (its own append included)
pass_pages() {
    mt_psql -d $db -c "$as_acme" -c "BEGIN" -c "SELECT mt.audit('probe')" -c "SELECT mt.audit_seal()" \
        -c "SELECT pg_stat_get_xact_blocks_fetched('mt.audit_log_unsealed'::regclass)" -c "COMMIT" | sed -n '4p'
}

# a row as a dump holds it (unsealed, its content hash), with a low id
row=$(mt_psql -d $db -c "$as_acme" -c "BEGIN" -c "SELECT mt.audit('restored')" \
      -c "SELECT row_to_json(l) FROM mt.audit_log l WHERE action = 'restored'" -c "ROLLBACK" | sed -n '3p')
[ -n "$row" ] || fail "could not capture an unsealed row"

# 10,000 sealed events leave dead entries; the worker's passes raise the
# floor past them (and past the captured row's id)
mt_psql -d $db -c "$as_acme" -c "SELECT mt.audit_many(array_agg('bulk'::text), NULL, NULL) FROM generate_series(1, 10000)" >/dev/null
mt_psql -d $db -c "SELECT mt.audit_seal()" >/dev/null
pages=""
floor_risen() {
    append tick
    pages=$(pass_pages)
    [ "$pages" -le 20 ]
}
wait_for 30 floor_risen || fail "the floor did not rise ($pages index pages read by a pass)"
echo "ok: the floor rose (a pass reads $pages index pages)"

# session 1 seals Acme's chain and keeps its lock
fifo=$work/s1.fifo
mkfifo "$fifo"
mt_psql -d $db <"$fifo" >"$work/s1.out" 2>&1 &
s1=$!
exec 3>"$fifo"
echo "BEGIN;" >&3
echo "$as_acme;" >&3
echo "SELECT mt.audit('s1');" >&3
echo "SELECT 'sealed ' || mt.audit_seal();" >&3
wait_for 10 grep -q "^sealed " "$work/s1.out" || { cat "$work/s1.out"; fail "session 1 did not seal"; }

# e1 committed, unsealed (the chain is locked); session 2's mt.audit_seal()
# reads the floor, finds Acme's chain and waits for its lock
append e1
mt_psql -d $db -c "SELECT mt.audit_seal()" >"$work/s2.out" 2>&1 &
s2=$!
wait_for 10 mt_true $db "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                                        AND query = 'SELECT mt.audit_seal()')" ||
    fail "session 2 does not wait for the chain lock"

# meanwhile a superuser restores the row (its id is below the floor) and
# then an event is appended: the restored row committed before it, with
# the smaller id
mt_psql -d $db -v row="$row" >/dev/null <<'SQL'
INSERT INTO mt.audit_log SELECT * FROM json_populate_record(NULL::mt.audit_log, :'row');
SQL
append e2

echo "COMMIT;" >&3
echo "\\q" >&3
exec 3>&-
wait "$s1" || { cat "$work/s1.out"; fail "session 1 failed"; }
s1=""
wait "$s2" || { cat "$work/s2.out"; fail "session 2 failed"; }
s2=""

wait_for 20 mt_true $db "SELECT bool_and(seq IS NOT NULL) FROM mt.audit_log WHERE action IN ('restored', 'e1', 'e2')" ||
    fail "the restored row, e1 and e2 were not all sealed within 20 s"
order=$(mt_psql -d $db -c "SELECT string_agg(action, ' ' ORDER BY seq) FROM mt.audit_log
                           WHERE action IN ('restored', 'e1', 'e2', 's1')")
echo "chain order: $order"
[ "$order" = "s1 restored e1 e2" ] ||
    fail "the restored row (committed before e2 was appended, smaller id) is linked out of order: $order"
r=$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_verify() WHERE NOT ok OR unsealed <> 0")
[ "$r" = 0 ] || fail "$r chains fail verification or keep unsealed events"
echo "ok: a sealer that waited for a chain's lock links a row restored meanwhile below the floor in id order"
echo "all ok"
