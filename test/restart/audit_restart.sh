#!/usr/bin/env bash
# Audit chains across a crash and a clean restart (also a crash between
# the commit of events and their sealing: none is lost, none uncommitted is
# ever sealed), and the external check:
# the JSON-lines export verifies with test/audit_verify_export.py (Python
# standard library only), which also finds an edited line, a deleted line
# and, against a saved digest, a cut tail.  Appends over TCP record the
# client address.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_restart_audit
tmp=$(mktemp -d)
restore_interval() {
    mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.audit_seal_interval" >/dev/null 2>&1 &&
        cluster_reload_wait >/dev/null 2>&1 || true
}
trap 'restore_interval; rm -rf "$tmp"' EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex')")

append() {   # append <tenant> <count> <label>
    mt_psql -h 127.0.0.1 -d $db -c "SELECT mt.set_tenant('$1', false)" \
        -c "SELECT count(mt.audit('$3.' || g, 'doc', g::text, jsonb_build_object('n', g, 'text', E'line\nbreak \"q\" ü'))) FROM generate_series(1, $2) g" \
        -c "SELECT mt.audit('$3.pii', 'user', 'u1', '{\"email\": \"x@example.com\"}', 'subject-$3')" >/dev/null
}
verify_ok() {
    local bad
    bad=$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_verify() WHERE NOT ok")
    [ "$bad" = 0 ] || fail "$1: $bad chains fail verification"
    echo "ok: $1: every chain verifies"
}

append "$acme" 50 before
append "$globex" 20 before
# an append that is in flight when the server crashes
mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "BEGIN" -c "SELECT mt.audit('in.flight')" -c "SELECT pg_sleep(30)" \
    >/dev/null 2>&1 &
wait_for 10 mt_true $db "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = '$db' AND query = 'SELECT pg_sleep(30)')" ||
    fail "the in-flight append did not start"
cluster_crash_restart
wait || true
verify_ok "after crash"
[ "$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log WHERE action = 'in.flight'")" = 0 ] || fail "uncommitted append survived the crash"
append "$acme" 10 after_crash
mt_psql -d $db -c "SELECT mt.audit_seal()" >/dev/null
seqs=$(mt_psql -d $db -c "SELECT max(seq) = count(*) FROM mt.audit_log WHERE tenant_id = '$acme'")
[ "$seqs" = t ] || fail "gap in acme's chain after the crash"
echo "ok: chain continues without a gap after the crash"

# A crash between commit and sealing.  The worker seals only once an hour
# here, so the committed events are still unsealed when the server dies;
# an open transaction's events are in flight.
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.audit_seal_interval = '1h'" >/dev/null
cluster_reload_wait
mt_psql -d $db -c "SELECT mt.audit_seal()" >/dev/null   # a clean start: the next pass of the worker is an hour away
before_sealed=$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log WHERE tenant_id = '$acme'")
append "$acme" 30 unsealed
mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "BEGIN" -c "SELECT mt.audit('in.flight.unsealed')" \
    -c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
wait_for 10 mt_true $db "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = '$db' AND query = 'SELECT pg_sleep(30)')" ||
    fail "the in-flight append did not start"
# read-only: verify reports the unsealed tail without sealing it
unsealed=$(mt_psql -d $db -c "SET default_transaction_read_only = on" -c "SELECT unsealed FROM mt.audit_verify('$acme')")
[ "$unsealed" = 31 ] || fail "expected 31 committed unsealed events before the crash, got $unsealed"
cluster_crash_restart
wait || true
[ "$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log WHERE tenant_id = '$acme'")" = $((before_sealed + 31)) ] ||
    fail "committed unsealed events were lost in the crash"
[ "$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log WHERE action = 'in.flight.unsealed'")" = 0 ] ||
    fail "the uncommitted append survived the crash"
[ "$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log WHERE tenant_id = '$acme' AND seq IS NULL")" = 31 ] ||
    fail "the committed events are not waiting unsealed after the crash"
sealed=$(mt_psql -d $db -c "SELECT mt.audit_seal()")
[ "$sealed" = 31 ] || fail "mt.audit_seal() sealed $sealed events after the crash, expected 31"
seqs=$(mt_psql -d $db -c "SELECT max(seq) = count(*) AND count(*) = $((before_sealed + 31)) AND bool_and(seq IS NOT NULL) FROM mt.audit_log WHERE tenant_id = '$acme'")
[ "$seqs" = t ] || fail "acme's chain after sealing has a gap or unsealed rows"
verify_ok "after a crash between commit and sealing"
echo "ok: a crash between commit and sealing loses no committed event and seals no uncommitted one"
restore_interval
cluster_restart
append "$globex" 5 after_restart
verify_ok "after clean restart"
[ "$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log WHERE client_addr = '127.0.0.1'")" -gt 0 ] || fail "client address not recorded"
echo "ok: client address recorded for TCP clients"

# external verification of the export
mt_psql -d $db -c "SELECT * FROM mt.audit_export_tenant()" >"$tmp/export.jsonl"
mt_psql -d $db -c "SELECT jsonb_agg(d) FROM mt.audit_digest() d" >"$tmp/digest.json"
lines=$(wc -l <"$tmp/export.jsonl")
rows=$(mt_psql -d $db -c "SELECT count(*) + count(DISTINCT tenant_id) FROM mt.audit_log")
[ "$lines" = "$rows" ] || fail "export has $lines lines, expected $rows"
python3 test/audit_verify_export.py "$tmp/export.jsonl" --digest "$tmp/digest.json" || fail "the export does not verify"
echo "ok: the export verifies outside the database ($lines lines)"

# one tenant, from a position on
mt_psql -d $db -c "SELECT * FROM mt.audit_export_tenant('$acme', 40)" >"$tmp/tail.jsonl"
python3 test/audit_verify_export.py "$tmp/tail.jsonl" >/dev/null || fail "partial export does not verify"
echo "ok: a partial export (after seq 40) verifies"

# an edited line, a deleted line, a cut tail
id=$(mt_psql -d $db -c "SELECT id FROM mt.audit_log WHERE tenant_id = '$acme' AND seq = 7")
sed "/\"id\":$id,/s/\"doc\"/\"DOC\"/" "$tmp/export.jsonl" >"$tmp/edited.jsonl"
out=$(python3 test/audit_verify_export.py "$tmp/edited.jsonl") && fail "edited export verified"
grep -q "first_bad_id=$id " <<<"$out" || fail "edited export: row $id not named: $out"
echo "ok: an edited line is named ($id)"
sed "/\"id\":$id,/d" "$tmp/export.jsonl" >"$tmp/deleted.jsonl"
out=$(python3 test/audit_verify_export.py "$tmp/deleted.jsonl") && fail "export with a deleted line verified"
grep -q "sequence gap" <<<"$out" || fail "deleted line not reported as a gap: $out"
echo "ok: a deleted line is found"
head -n -3 "$tmp/export.jsonl" >"$tmp/cut.jsonl"
python3 test/audit_verify_export.py "$tmp/cut.jsonl" >/dev/null || fail "cut export should verify without a digest"
out=$(python3 test/audit_verify_export.py "$tmp/cut.jsonl" --digest "$tmp/digest.json") && fail "cut export verified against the digest"
grep -q "removed from the tail" <<<"$out" || fail "cut tail not reported: $out"
echo "ok: a cut tail is found against the saved digest"

# after crypto-shredding and pruning, the export still verifies
mt_psql -d $db -c "SELECT mt.audit_forget_subject('subject-before', '$acme')" >/dev/null
mt_psql -d $db -c "SELECT mt.audit_prune('0 s', '$globex')" >/dev/null
mt_psql -d $db -c "SELECT * FROM mt.audit_export_tenant()" >"$tmp/export2.jsonl"
python3 test/audit_verify_export.py "$tmp/export2.jsonl" >/dev/null || fail "export after shredding and pruning does not verify"
verify_ok "after shredding and pruning"
echo "ok: export after shredding and pruning verifies"

# pg_dump / restore keeps the chains verifiable (superusers may insert to restore)
mt_psql -d $db -c "SELECT jsonb_agg(d ORDER BY tenant_id) FROM mt.audit_digest() d" >"$tmp/digest3.json"
mt_psql -d postgres -c "DROP DATABASE IF EXISTS ${db}_copy" -c "CREATE DATABASE ${db}_copy"
"$MT_PGBIN/pg_dump" -d $db >"$tmp/dump.sql"
mt_psql -d ${db}_copy -f "$tmp/dump.sql" >/dev/null 2>"$tmp/restore.err" || { cat "$tmp/restore.err"; fail "restore failed"; }
[ "$(mt_psql -d ${db}_copy -c "SELECT count(*) FROM mt.audit_log")" = "$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log")" ] \
    || fail "restored log has a different row count"
ok=$(mt_psql -d ${db}_copy -c "SELECT bool_and(ok) FROM mt.audit_verify(NULL, '$(cat "$tmp/digest3.json")')")
[ "$ok" = t ] || fail "restored chains do not verify against the digest taken before the dump"
mt_psql -d ${db}_copy -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.audit('after.restore')" >/dev/null
[ "$(mt_psql -d ${db}_copy -c "SELECT bool_and(ok) FROM mt.audit_verify()")" = t ] || fail "append after restore broke the chain"
echo "ok: pg_dump + restore: chains verify against the old digest and keep growing"

mt_psql -d postgres -c "DROP DATABASE ${db}_copy" -c "DROP DATABASE $db"
echo "all ok"
