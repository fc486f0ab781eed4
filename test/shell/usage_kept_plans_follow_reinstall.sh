#!/usr/bin/env bash
# A new usage counter reads its flushed base and its quota with two
# statements planned once per backend (mt_spi_select_kept).  A kept plan
# must follow the tables it reads: after DROP EXTENSION and CREATE
# EXTENSION in the same session (new tables, new OIDs) the next new
# counters read the new tables, so a quota set on the new install is
# enforced and a base flushed into the new rollup is counted.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_kept_plans
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'mt_psql -d postgres -c "DROP DATABASE IF EXISTS '$db'" >/dev/null 2>&1 || true' EXIT
mt_psql -d $db -c "CREATE EXTENSION multitenant"
old=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme', 'enterprise')")

# one session throughout: its first new counters plan the two statements,
# then the extension is reinstalled under it
out=$("$MT_PGBIN/psql" -X -At -v VERBOSITY=verbose -U postgres -d $db 2>&1 <<SQL || true
SELECT mt.set_tenant('$old', false);
SELECT 'first ' || mt.track('a', 7);
SELECT 'first quota ' || mt.consume('q', 1);
SELECT 'rollup ' || 'mt.usage_rollup'::regclass::oid;
SET multitenant.allow_drop_extension = on;
DROP EXTENSION multitenant CASCADE;
CREATE EXTENSION multitenant;
SELECT 'rollup ' || 'mt.usage_rollup'::regclass::oid;
SELECT mt.create_tenant('Initech', 'initech') AS t \gset
SELECT mt.set_quota(:'t', 'b', 5);
INSERT INTO mt.usage_rollup VALUES (:'t', 'c', date_trunc('hour', now(), 'UTC'), 40);
SELECT mt.set_tenant(:'t', false);
SELECT 'b ' || mt.consume('b', 3);
SELECT 'b ' || mt.consume('b', 3);
SELECT 'c ' || mt.track('c', 2);
SQL
)
grep -qx "first 7" <<<"$out" || fail "the first install did not count: $out"
grep -qx "first quota 1" <<<"$out" || fail "the first install's quota lookup did not run: $out"
grep -qx "DROP EXTENSION" <<<"$out" || fail "the extension was not dropped: $out"
grep -qx "CREATE EXTENSION" <<<"$out" || fail "the extension was not created again: $out"
[ "$(grep '^rollup ' <<<"$out" | sort -u | wc -l)" = 2 ] || fail "the rollup table was not replaced: $out"
grep -qx "b 3" <<<"$out" || fail "the new install's first consume failed: $out"
grep -q "ERROR:  54000" <<<"$out" || fail "the new install's quota (5) was not enforced: $out"
[ "$(grep -c '^b ' <<<"$out")" = 1 ] || fail "the consume over the quota was counted: $out"
grep -qx "c 42" <<<"$out" || fail "the new rollup's base (40) was not read: $out"
grep -q "could not open relation\|cache lookup failed" <<<"$out" && fail "a kept plan used the dropped tables: $out"
echo "ok: after DROP/CREATE EXTENSION in the session, new counters read the new quota and base"
echo "all ok"
