#!/usr/bin/env bash
# Encrypted audit details after a restore without the right server secret:
# a cluster writes audit events with and without subject details, then
# starts with another valid $PGDATA/multitenant.secret (64 hex digits).
# Every reader degrades per row instead of failing the statement:
#   - mt.audit_search_tenant / mt.audit_search return every row, plain
#     details readable, only the encrypted ones marked 'undecryptable';
#   - mt.audit_export_tenant exports every row and the export verifies;
#   - mt.gdpr_export succeeds and says that its audit events may be
#     incomplete (the subject's key cannot even be found: its lookup hash
#     is keyed by the secret);
#   - mt.audit_verify still verifies (hashes need no key);
#   - compliance check MT-SEC-001 warns with counts.
# With the original secret back, the details are readable again and
# MT-SEC-001 passes.
#
# Its own cluster on port MT_PORT+2 in $MT_ROOT/wrong-secret (removed by
# the trap): the test cluster's secret is never touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

ws_port=$((MT_PORT + 2))
ws_root=$MT_ROOT/wrong-secret
ws_data=$ws_root/data
ws_sock=$ws_root/sock
ws_log=$ws_root/server.log
db=mt_wrong_secret

ws_stop() { [ -f "$ws_data/postmaster.pid" ] && as_pg "$MT_PGBIN/pg_ctl" -D "$ws_data" -w -t 60 -m fast stop >/dev/null; return 0; }
ws_start() { as_pg "$MT_PGBIN/pg_ctl" -D "$ws_data" -l "$ws_log" -w -t 60 start >/dev/null || { tail -20 "$ws_log"; fail "cluster did not start"; }; }
cleanup() {
    [ -f "$ws_data/postmaster.pid" ] && as_pg "$MT_PGBIN/pg_ctl" -D "$ws_data" -w -m immediate stop >/dev/null 2>&1
    rm -rf "$ws_root"
}
trap cleanup EXIT
q() { PGHOST=$ws_sock PGPORT=$ws_port mt_psql -d $db "$@"; }

rm -rf "$ws_root"; mkdir -p "$ws_sock"; chown -R postgres:postgres "$ws_root" 2>/dev/null || true
as_pg "$MT_PGBIN/initdb" -D "$ws_data" -U postgres --auth=trust -E UTF8 --locale=C >"$ws_root/initdb.log" 2>&1 ||
    { cat "$ws_root/initdb.log"; fail "initdb failed"; }
cat >>"$ws_data/postgresql.conf" <<CONF
port = $ws_port
listen_addresses = ''
unix_socket_directories = '$ws_sock'
shared_preload_libraries = 'multitenant'
CONF
ws_start
PGHOST=$ws_sock PGPORT=$ws_port mt_psql -d postgres -c "CREATE DATABASE $db" >/dev/null
q -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(q -c "SELECT mt.create_tenant('Acme', 'acme')")

# tenant.create and 3 plain events, 1 without details, 3 encrypted (alice twice, bob once)
q >/dev/null <<SQL
BEGIN;
SELECT mt.set_tenant('$acme');
SELECT mt.audit('invoice.paid', 'invoice', '1', '{"amount": 10}');
SELECT mt.audit('profile.update', 'user', 'u-alice', '{"email": "alice@example.com"}', 'alice');
SELECT mt.audit('login', 'user', 'u-alice');
SELECT mt.audit('invoice.paid', 'invoice', '2', '{"amount": 20}');
SELECT mt.audit('profile.update', 'user', 'u-alice', '{"phone": "555-0100"}', 'alice');
SELECT mt.audit('profile.update', 'user', 'u-bob', '{"email": "bob@example.com"}', 'bob');
SELECT mt.audit('invoice.paid', 'invoice', '3', '{"amount": 30}');
COMMIT;
SQL
states() {   # the chain's details states in seq order
    q -c "SELECT string_agg(coalesce(details_state, 'none'), ',' ORDER BY seq) FROM mt.audit_search_tenant('$acme', max_rows => 1000)"
}
expected_ok=plain,plain,decrypted,none,plain,decrypted,decrypted,plain
[ "$(states)" = "$expected_ok" ] || fail "setup: states are $(states)"
[ "$(q -c "SELECT count(*) FROM mt.run_compliance_checks() WHERE check_id = 'MT-SEC-001' AND status = 'pass'")" = 1 ] ||
    fail "setup: MT-SEC-001 does not pass with the right secret"
echo "ok: setup: 8 events, 3 with encrypted details, readable"

# --- another valid secret ----------------------------------------------------
ws_stop
cp -p "$ws_data/multitenant.secret" "$ws_root/original.secret"
python3 -c 'import secrets; print(secrets.token_hex(32))' >"$ws_data/multitenant.secret"
cmp -s "$ws_data/multitenant.secret" "$ws_root/original.secret" && fail "the new secret equals the old one"
ws_start

got=$(states 2>&1) || fail "mt.audit_search_tenant fails with another secret: $got"
[ "$got" = plain,plain,undecryptable,none,plain,undecryptable,undecryptable,plain ] ||
    fail "with another secret the states are $got"
echo "ok: audit_search_tenant returns every row, only the encrypted ones undecryptable"
[ "$(q -c "SELECT count(*) FILTER (WHERE details IS NOT NULL) || '/' || count(*) FILTER (WHERE details_state = 'undecryptable' AND details IS NULL)
           FROM mt.audit_search_tenant('$acme', max_rows => 1000)")" = 4/3 ] ||
    fail "plain details not readable, or undecryptable rows carry details"
[ "$(q -c "SELECT details->>'amount' FROM mt.audit_search_tenant('$acme', resource_id => '2')")" = 20 ] ||
    fail "a plain row's details are not returned"
got=$(q -c "SELECT count(*) FROM mt.audit_search_tenant(NULL, max_rows => 1000)" 2>&1) ||
    fail "mt.audit_search_tenant over every chain fails: $got"
got=$(q -c "BEGIN" -c "SELECT mt.set_tenant('$acme')" -c "SELECT count(*) FILTER (WHERE details_state = 'undecryptable') || '/' || count(*) FROM mt.audit_search(max_rows => 1000)" -c "COMMIT" 2>&1 | sed -n 2p) ||
    fail "mt.audit_search in the tenant's context fails"
[ "$got" = 3/8 ] || fail "mt.audit_search in the tenant's context: $got"
echo "ok: audit_search in the tenant's context and over every chain"

# a subject search cannot find the subject's key (its lookup hash is keyed by the secret): no error, a warning
out=$(PGHOST=$ws_sock PGPORT=$ws_port "$MT_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d $db \
    -c "SELECT count(*) FROM mt.audit_search_tenant('$acme', subject => 'alice')" 2>&1) ||
    fail "subject search fails with another secret: $out"
grep -q "may be incomplete" <<<"$out" || fail "no warning that the subject search may be incomplete: $out"
echo "ok: a subject search warns that it may be incomplete"

# export: every row, and it verifies outside the database
q -c "SELECT * FROM mt.audit_export_tenant('$acme')" >"$ws_root/export.jsonl" || fail "mt.audit_export_tenant fails"
[ "$(wc -l <"$ws_root/export.jsonl")" = 9 ] || fail "the export has $(wc -l <"$ws_root/export.jsonl") lines, expected 1 + 8"
python3 test/audit_verify_export.py "$ws_root/export.jsonl" >/dev/null || fail "the export does not verify"
echo "ok: audit_export_tenant exports every row and verifies"

# GDPR export: no error, says that the audit events may be incomplete
got=$(q -c "BEGIN" -c "SELECT mt.set_tenant('$acme')" \
    -c "SELECT (e->'audit_events_complete')::text || '/' || jsonb_array_length(e->'audit_events') FROM mt.gdpr_export('alice') e" \
    -c "COMMIT" 2>"$ws_root/gdpr.err" | sed -n 2p) || fail "mt.gdpr_export fails with another secret: $(cat "$ws_root/gdpr.err")"
[ "$got" = false/0 ] || fail "gdpr_export with another secret: $got"
grep -q "may be incomplete" "$ws_root/gdpr.err" || fail "gdpr_export gives no warning: $(cat "$ws_root/gdpr.err")"
echo "ok: gdpr_export succeeds, warns and marks its audit events incomplete"

[ "$(q -c "SELECT bool_and(ok) FROM mt.audit_verify()")" = t ] || fail "audit_verify fails with another secret"
echo "ok: audit_verify still verifies"

got=$(q -c "SELECT status || ' ' || (details->'audit_subject_keys'->>'keys_unreadable') || ' ' || (details->'audit_subject_keys'->>'events_unreadable')
            FROM mt.run_compliance_checks() WHERE check_id = 'MT-SEC-001'")
[ "$got" = "warn 2 3" ] || fail "MT-SEC-001 with another secret: $got"
echo "ok: MT-SEC-001 warns: 2 subject keys, 3 encrypted events unreadable"

got=$(q -c "SELECT status || ' ' || (SELECT string_agg(o->>'object', ',' ORDER BY o->>'object') FROM jsonb_array_elements(details->'offenders') o)
            FROM mt.run_compliance_checks() WHERE check_id = 'MT-SEC-002'")
[ "$got" = "fail audit_kek v1" ] || fail "MT-SEC-002 with another secret: $got"
echo "ok: MT-SEC-002 fails: the audit_kek version in use does not derive here"

# erasure cannot find the subject's keys under another secret: refused, not a silent 0
out=$(q -v VERBOSITY=verbose -c "BEGIN" -c "SELECT mt.set_tenant('$acme')" -c "SELECT mt.audit_forget_subject('alice')" -c "ROLLBACK" 2>&1 || true)
grep -q "55000.*cannot forget an audit subject" <<<"$out" || fail "forgetting a subject under another secret was not refused: $out"
echo "ok: audit_forget_subject refuses (55000) under another secret instead of reporting 0 keys"

# --- the original secret back ------------------------------------------------
ws_stop
cp -p "$ws_root/original.secret" "$ws_data/multitenant.secret"
ws_start
[ "$(states)" = "$expected_ok" ] || fail "with the original secret back the states are $(states)"
got=$(q -c "BEGIN" -c "SELECT mt.set_tenant('$acme')" \
    -c "SELECT (e->'audit_events_complete')::text || '/' || (SELECT string_agg(a->'details'->>'phone', '') FROM jsonb_array_elements(e->'audit_events') a) FROM mt.gdpr_export('alice') e" \
    -c "COMMIT" | sed -n 2p)
[ "$got" = true/555-0100 ] || fail "gdpr_export with the original secret: $got"
[ "$(q -c "SELECT status FROM mt.run_compliance_checks() WHERE check_id = 'MT-SEC-001'")" = pass ] ||
    fail "MT-SEC-001 does not pass with the original secret back"
echo "ok: original secret back: details readable, gdpr_export complete, MT-SEC-001 passes"
echo "all ok"
