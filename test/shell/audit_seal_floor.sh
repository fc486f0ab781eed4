#!/usr/bin/env bash
# The sealer's floor (src/seal_floor.c): a sealing pass reads the work list
# from the id below which everything committed is sealed, not from each
# tenant's first entry.
# 1. With 30,000 sealed events' dead entries in the work list (no VACUUM),
#    a pass that seals one new event reads a few index pages, not the
#    ~300 it read before the floor (the tenant walk and the chain's scan
#    each went through every dead entry).
# 2. An append whose transaction stays open while the worker's passes go on
#    (and would raise the floor past its id if the floor ignored open
#    transactions) is sealed once it commits, after every event committed
#    before it.
# 3. A row a superuser inserts with its own id below the floor (as a
#    restore does) is sealed too.
# 4. After DROP and CREATE EXTENSION (ids start over) the old floor is not
#    used.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_audit_seal_floor
holder=""
gate=""
work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
    exec 3>&- 2>/dev/null || true
    [ -z "$holder" ] || kill "$holder" 2>/dev/null || true
    [ -z "$gate" ] || kill "$gate" 2>/dev/null || true
    wait 2>/dev/null || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
tid=$(mt_psql -d $db -c "CREATE EXTENSION multitenant" -c "SELECT mt.create_tenant('Acme', 'acme')" | tail -1)
# the dead entries must stay for the test: no autovacuum on the log here
mt_psql -d $db -c "ALTER TABLE mt.audit_log SET (autovacuum_enabled = off)" >/dev/null
as_acme="SELECT mt.set_tenant('$tid', false)"

append() {   # append <action>: one event in its own transaction; prints its id
    mt_psql -d $db -c "$as_acme" -c "SELECT mt.audit('$1')" | tail -1
}
# index pages one sealing pass reads (its own append included) in a transaction
pass_pages() {
    mt_psql -d $db -c "$as_acme" -c "BEGIN" -c "SELECT mt.audit('probe')" -c "SELECT mt.audit_seal()" \
        -c "SELECT pg_stat_get_xact_blocks_fetched('mt.audit_log_unsealed'::regclass)" -c "COMMIT" | sed -n '4p'
}

mt_psql -d $db -c "$as_acme" -c "SELECT mt.audit_many(array_agg('bulk'::text), NULL, NULL) FROM generate_series(1, 30000)" >/dev/null
mt_psql -d $db -c "SELECT mt.audit_seal()" >/dev/null
[ "$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log WHERE seq IS NULL")" = 0 ] || fail "the bulk events were not sealed"

# the worker's passes (started by each append's commit) raise the floor:
# wait until a pass reads few pages of the 30,000 dead entries
pages=""
wait_floor() {
    for _ in $(seq 40); do
        append tick >/dev/null
        sleep 0.3
        pages=$(pass_pages)
        [ "$pages" -le 20 ] && return 0
    done
    return 1
}

# 1. the floor rises
wait_floor ||
    fail "a sealing pass still reads $pages index pages of the work list (30,000 dead entries): the floor did not rise"
echo "ok: with 30,000 dead entries in the work list a sealing pass reads $pages index pages"

# 2. an append held open while the passes go on: its transaction waits for
# an advisory lock a gate session holds until the appends after it are done
# (a lock, not a timer: however slow the machine, it commits after them)
mkfifo "$work/gate"
mt_psql -d $db <"$work/gate" >/dev/null 2>&1 &
gate=$!
exec 3>"$work/gate"
echo "SELECT pg_advisory_lock(4242);" >&3
advisory() { mt_true $db "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted = $1)"; }
wait_for 20 advisory true || fail "the gate session did not take its lock"
mt_psql -d $db -c "$as_acme" -c "BEGIN" -c "SELECT mt.audit('held')" \
    -c "SELECT pg_advisory_xact_lock_shared(4242)" -c "COMMIT" >/dev/null 3>&- &   # (not holding the gate open)
holder=$!
wait_for 20 advisory false || fail "the held append did not reach the gate"
held=$(mt_psql -d $db -c "SELECT id FROM mt.audit_log WHERE action = 'held'")   # not visible yet
[ -z "$held" ] || fail "the held append is visible before its commit"
for _ in $(seq 8); do append before >/dev/null; sleep 0.3; done
exec 3>&-   # the gate session ends, its lock goes, the held append commits
wait "$holder"; holder=""
wait "$gate"; gate=""
wait_for 20 mt_true $db "SELECT seq IS NOT NULL FROM mt.audit_log WHERE action = 'held'" ||
    fail "an append held open while the floor could rise was not sealed within 20 s of its commit"
r=$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log b, mt.audit_log h
                       WHERE b.action = 'before' AND h.action = 'held' AND b.seq > h.seq")
[ "$r" = 0 ] || fail "$r events committed before the held one are linked after it"
echo "ok: an append held open across sealing passes is sealed after its commit, after every event committed before it"

# 3. a superuser's row with its own id below the floor
row=$(mt_psql -d $db -c "$as_acme" -c "BEGIN" -c "SELECT mt.audit('restored')" \
      -c "SELECT row_to_json(l) FROM mt.audit_log l WHERE action = 'restored'" -c "ROLLBACK" | sed -n '3p')
[ -n "$row" ] || fail "could not capture an unsealed row"
wait_floor || fail "the floor did not rise again ($pages pages read)"
mt_psql -d $db -v row="$row" >/dev/null <<'SQL'
INSERT INTO mt.audit_log SELECT * FROM json_populate_record(NULL::mt.audit_log, :'row');
SQL
mt_psql -d $db -c "SELECT mt.audit_seal()" >/dev/null
[ "$(mt_psql -d $db -c "SELECT seq IS NOT NULL FROM mt.audit_log WHERE action = 'restored'")" = t ] ||
    fail "a row inserted by a superuser with an id below the floor was not sealed"
r=$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_verify() WHERE NOT ok OR unsealed <> 0")
[ "$r" = 0 ] || fail "$r chains fail verification or keep unsealed events"
echo "ok: a superuser's row with an id below the floor is sealed; the chain verifies"

# 4. the extension dropped and created again: its ids start over below the
#    floor (one transaction: the worker, which would notice, sees nothing)
wait_floor || fail "the floor did not rise again after the superuser's row ($pages pages read)"
r=$(mt_psql -d $db <<'SQL' | tail -1
BEGIN;
SET LOCAL multitenant.allow_drop_extension = on;
SET LOCAL client_min_messages = error;
DROP EXTENSION multitenant;
CREATE EXTENSION multitenant;
SELECT mt.set_tenant(mt.create_tenant('Acme', 'acme'), false) IS NOT NULL AS entered \gset
SELECT mt.audit('again') > 0 AS appended \gset
SELECT mt.audit_seal() >= 0 AS sealed \gset
SELECT seq IS NOT NULL FROM mt.audit_log WHERE action = 'again';
COMMIT;
SQL
)
[ "$r" = t ] || fail "after DROP and CREATE EXTENSION an event was not sealed: the old floor was used"
echo "ok: after DROP and CREATE EXTENSION the old floor is not used"
echo "all ok"
