#!/usr/bin/env bash
# mt.audit_log has no index on id since 0.7.0: ids are unique only "by
# construction".  mt.import_tenant keeps the exported ids (verbatim) when
# no event of their range exists in the target.  The race: the target's
# sequence has reached the exported range and an append of another
# session took an id inside it and is not committed yet (or takes one
# while the import runs, before the import moves the sequence past the
# range).  Checking the range with the statement's snapshot, the import
# saw it free, kept the ids, and once the append committed two events had
# the same id.  The import now moves the sequence past the range first,
# waits for the transactions appending to mt.audit_log and checks the
# range with a fresh snapshot: the event of the open append is seen and
# the tenant is re-chained under new ids; no id appears twice.  While it
# waits, statement_timeout ends it (57014) with nothing imported.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

src_db=mt_aimport_src
dst_db=mt_aimport_dst
work=$MT_ROOT/aimport
export PSQL=$MT_PGBIN/psql
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
    for d in $src_db $dst_db; do
        mt_psql -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT
cleanup
mkdir -p "$work"
chmod 777 "$work"

for d in $src_db $dst_db; do
    mt_psql -d postgres -c "CREATE DATABASE $d" >/dev/null
    mt_psql -d $d -c "CREATE EXTENSION multitenant" -c "CREATE TABLE public.go (x int)" >/dev/null
done

# the source: acme with 50 events, sealed, ids above any of the target's
mt_psql -d $src_db -c "SELECT setval('mt.audit_log_id_seq', 1000)" >/dev/null
acme=$(mt_psql -d $src_db -c "SELECT mt.create_tenant('Acme', 'acme')")
mt_psql -d $src_db >/dev/null <<SQL
BEGIN;
SELECT mt.set_tenant('$acme');
SELECT mt.audit('doc.view', 'doc', i::text) FROM generate_series(1, 50) i;
COMMIT;
SQL
mt_psql -d $src_db -c "SELECT mt.audit_seal()" >/dev/null
read -r lo hi <<<"$(mt_psql -d $src_db -F ' ' -c "SELECT min(id), max(id) FROM mt.audit_log WHERE tenant_id = '$acme'")"
bin/mt-tenant export "$acme" "$work/acme.mtx" -d $src_db
[ -s "$work/acme.mtx" ] || fail "the export wrote nothing"

# the target: another tenant; its sequence has reached the exported range
globex=$(mt_psql -d $dst_db -c "SELECT mt.create_tenant('Globex', 'globex')")
mt_psql -d $dst_db -c "SELECT setval('mt.audit_log_id_seq', $lo + 10)" >/dev/null

# an append of globex that stays open: its id is inside the exported range
PGOPTIONS="-c statement_timeout=60s" mt_psql -d $dst_db >"$work/writer.out" 2>&1 <<SQL &
BEGIN;
SELECT mt.set_tenant('$globex');
SELECT 'id:' || mt.audit('invoice.sent', 'invoice', '1');
DO \$\$BEGIN
  FOR i IN 1..1200 LOOP
    EXIT WHEN EXISTS (SELECT FROM public.go);
    PERFORM pg_catalog.pg_sleep(0.05);
  END LOOP;
END\$\$;
COMMIT;
SQL
writer=$!; pids+=("$writer")
wait_for 20 grep -q '^id:' "$work/writer.out" || fail "the writer did not append: $(cat "$work/writer.out")"
wid=$(sed -n 's/^id://p' "$work/writer.out")
[ "$wid" -ge "$lo" ] && [ "$wid" -le "$hi" ] || fail "the test's open append ($wid) is not inside the exported range $lo..$hi"

# while the append stays open, an import with a statement timeout ends with
# 57014 and leaves nothing behind
if PGOPTIONS="-c statement_timeout=1s -c client_min_messages=warning" \
    bin/mt-tenant import "$work/acme.mtx" -d $dst_db -At >"$work/timeout.out" 2>&1; then
    fail "an import waiting for an open append was not ended by statement_timeout: $(cat "$work/timeout.out")"
fi
grep -q 'statement timeout' "$work/timeout.out" || fail "the import ended otherwise than by its timeout: $(cat "$work/timeout.out")"
[ "$(mt_psql -d $dst_db -c "SELECT count(*) FROM mt.audit_log WHERE tenant_id = '$acme'")" = 0 ] \
    || fail "an import ended by its timeout left events behind"

# the import, in the background: it either finishes or waits for the writer
PGOPTIONS="-c statement_timeout=60s -c client_min_messages=warning" \
    bin/mt-tenant import "$work/acme.mtx" -d $dst_db -At >"$work/import.out" 2>&1 &
importer=$!; pids+=("$importer")
settled() {
    ! kill -0 "$importer" 2>/dev/null ||
        mt_true $dst_db "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE '%import_tenant%'
                         AND wait_event_type = 'Lock' AND pid <> pg_backend_pid())"
}
wait_for 30 settled || fail "the import neither finished nor waited"
mt_psql -d $dst_db -c "INSERT INTO public.go VALUES (1)" >/dev/null
wait "$writer" || fail "the writer failed: $(cat "$work/writer.out")"
wait "$importer" || fail "the import failed: $(cat "$work/import.out")"
pids=()
echo "import: $(tr '\n' ' ' <"$work/import.out")"

dups=$(mt_psql -d $dst_db -c "SELECT count(*) - count(DISTINCT id) FROM mt.audit_log")
[ "$dups" = 0 ] || fail "$dups audit ids appear twice after the import (the open append took $wid, the export kept $lo..$hi)"
[ "$(mt_psql -d $dst_db -c "SELECT count(*) FROM mt.audit_log WHERE tenant_id = '$acme'")" -ge 50 ] \
    || fail "acme's events were not imported"
grep -q 're-chained' "$work/import.out" || fail "the import kept ids of a range an append had taken: $(cat "$work/import.out")"
# later appends take ids past everything
mt_psql -d $dst_db >/dev/null <<SQL
BEGIN;
SELECT mt.set_tenant('$globex');
SELECT mt.audit('invoice.sent', 'invoice', '2');
COMMIT;
SQL
[ "$(mt_psql -d $dst_db -c "SELECT count(*) - count(DISTINCT id) FROM mt.audit_log")" = 0 ] || fail "a later append reused an id"
mt_psql -d $dst_db -c "SELECT mt.audit_seal()" >/dev/null
[ "$(mt_psql -d $dst_db -c "SELECT bool_and(ok) FROM mt.audit_verify()")" = t ] || fail "a chain does not verify"
echo "ok: a verbatim import never keeps ids an open append took"
