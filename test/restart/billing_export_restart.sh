#!/usr/bin/env bash
# Usage export exactly once across restarts and a dump/restore: a biller
# that replays from 0 or from its stored cursor after a clean restart, an
# immediate-mode stop or a pg_dump/pg_restore into a new database gets the
# same records (same cursors, idempotency keys, quantities, versions) and
# nothing twice; late usage after each of them is exactly one new version,
# with a cursor after the last one (none reused).  Counts pending in the
# current hour across the clean restart are not exported (the hour has not
# ended).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_billing_restart
export PGTZ=UTC
copy=mt_billing_restart_copy
work=$MT_ROOT/billing-restart
cleanup() {
    cluster_settings_restore
    rm -rf "$work"
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP DATABASE IF EXISTS $copy" >/dev/null 2>&1 || true
}
cluster_settings_save
trap cleanup EXIT
rm -rf "$work"; mkdir -p "$work"; chmod 777 "$work"
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP DATABASE IF EXISTS $copy" -c "CREATE DATABASE $db"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme', 'pro')")
# only the exports flush (and close) in this script
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.flush_interval = '1h'" >/dev/null
cluster_reload_wait

late() {    # late <db> <hour> <amount>: usage of an ended hour reaches the rollup
    mt_psql -d "$1" -c "INSERT INTO mt.usage_rollup AS r (tenant_id, metric, bucket, value)
        VALUES ('$acme', 'api_calls', '2026-01-05 $2:00+00', $3)
        ON CONFLICT (tenant_id, metric, bucket) DO UPDATE SET value = r.value + excluded.value"
}
export_from() { # export_from <db> <cursor>
    mt_psql -d "$1" -c "SELECT cursor, idempotency_key, tenant_id, metric, period_start, quantity, version
                          FROM mt.usage_export($2, 100000)"
}
same_log() {    # same_log <db> <file> <when>: a replay from 0 returns the file's records
    export_from "$1" 0 >"$work/replay"
    cmp -s "$2" "$work/replay" || { diff "$2" "$work/replay"; fail "$3: a replay from 0 differs"; }
}

for h in 01 02 03; do late $db $h 10; done
mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.track('api_calls', 5)" >/dev/null
export_from $db 0 >"$work/log"
[ "$(wc -l <"$work/log")" = 3 ] || fail "expected 3 closed periods, got $(cat "$work/log")"
last=$(tail -n 1 "$work/log" | cut -d'|' -f1)
echo "ok: 3 closed periods exported, last cursor $last"

# counts pending in the current hour: written to the dump file at shutdown
mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.track('exports', 2)" >/dev/null
cluster_restart
same_log $db "$work/log" "clean restart"
[ -z "$(export_from $db "$last")" ] || fail "clean restart: records after the stored cursor"
echo "ok: clean restart: the replay is identical and nothing follows the stored cursor"

late $db 02 4
export_from $db "$last" >"$work/new"
[ "$(wc -l <"$work/new")" = 1 ] || fail "a late correction after the restart: $(cat "$work/new")"
grep -c "|2026-01-05 02:00:00+00|14|2$" "$work/new" >/dev/null || fail "expected 14 as version 2: $(cat "$work/new")"
[ "$(cut -d'|' -f1 "$work/new")" -gt "$last" ] || fail "the correction reused a cursor"
cat "$work/new" >>"$work/log"
last=$(tail -n 1 "$work/log" | cut -d'|' -f1)
echo "ok: late usage after the restart is version 2 (14), cursor $last"

# immediate-mode stop right after a committed correction
late $db 03 1
cluster_stop immediate
cluster_start
wait_for 60 mt_true postgres "SELECT true" || fail "server did not come back"
export_from $db "$last" >"$work/new"
[ "$(wc -l <"$work/new")" = 1 ] || fail "immediate stop: expected one record after $last: $(cat "$work/new")"
grep -c "|2026-01-05 03:00:00+00|11|2$" "$work/new" >/dev/null || fail "expected 11 as version 2: $(cat "$work/new")"
cat "$work/new" >>"$work/log"
last=$(tail -n 1 "$work/log" | cut -d'|' -f1)
same_log $db "$work/log" "immediate stop"
echo "ok: immediate stop: the committed correction survived once, the replay is identical"

# pg_dump / pg_restore into a new database
as_pg "$MT_PGBIN/pg_dump" -h "$PGHOST" -p "$PGPORT" -U postgres -Fc -d $db -f "$work/db.dump"
mt_psql -d postgres -c "CREATE DATABASE $copy"
as_pg "$MT_PGBIN/pg_restore" -h "$PGHOST" -p "$PGPORT" -U postgres --exit-on-error -d $copy "$work/db.dump" \
    || fail "pg_restore failed"
same_log $copy "$work/log" "pg_restore"
[ -z "$(export_from $copy "$last")" ] || fail "pg_restore: records after the stored cursor"
late $copy 01 7
export_from $copy "$last" >"$work/new"
[ "$(wc -l <"$work/new")" = 1 ] || fail "after the restore: $(cat "$work/new")"
grep -c "|2026-01-05 01:00:00+00|17|2$" "$work/new" >/dev/null || fail "expected 17 as version 2: $(cat "$work/new")"
[ "$(cut -d'|' -f1 "$work/new")" -gt "$last" ] || fail "the restored log reused a cursor"
echo "ok: pg_dump/pg_restore: the replay is identical; late usage is the next cursor, version 2"
echo "all ok"
