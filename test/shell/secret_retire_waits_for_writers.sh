#!/usr/bin/env bash
# mt.retire_secret() refuses to retire an api_key or audit_kek version that
# keys still use; it must also count the keys of transactions that were
# still open when it ran.  The race: a transaction creates an API key and
# an audit subject key under version 1 and stays open; meanwhile the
# operator rotates both purposes, migrates what is committed (re-hash at
# use, mt.rewrap_audit_keys() until 0) and retires version 1.  Counting
# with the statement's snapshot, retire saw no user of version 1 and
# retired it; the open transaction then committed a key that never
# authenticates and a subject key whose audit details can no longer be
# read.  Retire now waits for the transactions writing those tables and
# counts with a fresh snapshot: it is refused (55000) and both keep working.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_retire_race
outdir=$(mktemp -d)
chmod 777 "$outdir"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$outdir"
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" -c "CREATE TABLE public.go (x int)" >/dev/null
q() { mt_psql -d $db -c "$1"; }

acme=$(q "SELECT mt.create_tenant('Acme', 'acme')")
k0=$(q "SELECT mt.create_api_key('$acme', 'k0', '{}')")
mt_psql -d $db >/dev/null <<SQL
BEGIN;
SELECT mt.set_tenant('$acme');
SELECT mt.audit('invoice.sent', 'invoice', '1', '{"email": "alice@example.com"}', 'alice');
COMMIT;
SQL
# version 1 of both purposes is recorded (the first key and subject key)
[ "$(q "SELECT count(*) FROM mt.secret_versions")" = 2 ] || fail "version 1 not recorded"

# the open transaction: a new API key and a new subject key under version 1
PGOPTIONS="-c statement_timeout=60s" mt_psql -d $db >"$outdir/writer.out" 2>&1 <<SQL &
BEGIN;
SELECT 'key:' || mt.create_api_key('$acme', 'late', '{}');
SELECT mt.set_tenant('$acme');
SELECT mt.audit('invoice.sent', 'invoice', '2', '{"email": "carol@example.com"}', 'carol');
DO \$\$BEGIN
  FOR i IN 1..1200 LOOP
    EXIT WHEN EXISTS (SELECT FROM public.go);
    PERFORM pg_catalog.pg_sleep(0.05);
  END LOOP;
END\$\$;
COMMIT;
SQL
writer=$!; pids+=("$writer")
wait_for 20 grep -q '^key:' "$outdir/writer.out" || fail "the writer did not create its key: $(cat "$outdir/writer.out")"
wait_for 20 lock_granted $db mt.audit_subject_keys RowExclusiveLock || fail "the writer did not write its subject key"
late=$(sed -n 's/^key://p' "$outdir/writer.out")

# the operator: rotate, migrate what is committed, retire version 1
[ "$(q "SELECT mt.rotate_secret('api_key')")" = 2 ] || fail "api_key rotation"
[ "$(q "SELECT mt.rotate_secret('audit_kek')")" = 2 ] || fail "audit_kek rotation"
[ "$(q "SELECT mt.authenticate('$k0')")" = "$acme" ] || fail "k0 refused during the overlap"
q "SELECT mt.flush_api_key_usage()" >/dev/null   # writes k0's re-hash
[ "$(q "SELECT mt.rewrap_audit_keys(1000)")" = 1 ] || fail "rewrap did not move alice's key"
[ "$(q "SELECT mt.rewrap_audit_keys(1000)")" = 0 ] || fail "rewrap not done"
retire() {   # retire <purpose> <out>: in the background, as an operator would
    PGOPTIONS="-c statement_timeout=60s" mt_psql -d $db -v VERBOSITY=verbose \
        -c "SELECT mt.retire_secret('$1', 1)" >"$outdir/$2" 2>&1 &
    pids+=($!)
}
retire api_key retire_api.out; r1=${pids[-1]}
retire audit_kek retire_kek.out; r2=${pids[-1]}
# each retirement has either finished or is waiting (for the writer) ...
settled() {   # settled <pid> <purpose>
    ! kill -0 "$1" 2>/dev/null ||
        mt_true $db "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE '%retire_secret(''$2''%'
                     AND wait_event_type = 'Lock')"
}
wait_for 30 settled "$r1" api_key || fail "retire_secret('api_key', 1) neither finished nor waits"
wait_for 30 settled "$r2" audit_kek || fail "retire_secret('audit_kek', 1) neither finished nor waits"
# ... before the writer commits
q "INSERT INTO public.go VALUES (1)" >/dev/null
wait "$writer" || fail "the writer failed: $(cat "$outdir/writer.out")"
wait "$r1" || true
wait "$r2" || true

# what the open transaction committed keeps working
out=$(q "SELECT mt.authenticate('$late')" 2>&1 || true)
[ "$out" = "$acme" ] \
    || fail "a key committed by a transaction open during retire_secret('api_key', 1) does not authenticate: $out (retire said: $(cat "$outdir/retire_api.out"))"
grep -q '55000' "$outdir/retire_api.out" || fail "retire_secret('api_key', 1) was not refused: $(cat "$outdir/retire_api.out")"
echo "ok: retire_secret('api_key') counted the key of a transaction open meanwhile and was refused"
carol=$(q "SELECT string_agg(details->>'email', ',') FROM mt.audit_search_tenant('$acme', subject => 'carol')" 2>&1 || true)
[ "$carol" = "carol@example.com" ] \
    || fail "audit details of a subject key committed during retire_secret('audit_kek', 1) are unreadable: $carol (retire said: $(cat "$outdir/retire_kek.out"))"
grep -q '55000' "$outdir/retire_kek.out" || fail "retire_secret('audit_kek', 1) was not refused: $(cat "$outdir/retire_kek.out")"
echo "ok: retire_secret('audit_kek') counted the subject key of a transaction open meanwhile and was refused"

# once migrated, both retire
[ "$(q "SELECT mt.rewrap_audit_keys(1000)")" = 1 ] || fail "rewrap of carol's key"
q "SELECT mt.retire_secret('audit_kek', 1)" >/dev/null
q "SELECT mt.flush_api_key_usage()" >/dev/null   # the late key's re-hash
q "SELECT mt.retire_secret('api_key', 1)" >/dev/null
[ "$(q "SELECT string_agg(details->>'email', ',') FROM mt.audit_search_tenant('$acme', subject => 'carol')")" = "carol@example.com" ] \
    || fail "carol's details unreadable after rewrap and retirement"
[ "$(q "SELECT mt.authenticate('$late')")" = "$acme" ] || fail "the re-hashed late key is refused after retirement"
echo "ok: after migration both retire and everything stays usable"
echo "all ok"
