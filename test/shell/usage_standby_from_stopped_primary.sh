#!/usr/bin/env bash
# A standby made from a copy of a cleanly stopped primary (stop, copy the
# data directory, standby.signal: a common way to build or rebuild one)
# counts the primary's unflushed usage once.  At a clean stop the postmaster
# keeps the pending counts in pg_stat/multitenant_usage.stat and the next
# start puts them back; the copy carries that file too.  The primary flushes
# the counts (the standby replays them); the standby must not load them as
# its own pending counts as well: mt.usage() on the standby would show them
# twice, and after a promotion its flush would write them a second time.
#
# Its own throwaway primary (port MT_PORT+3) and standby (MT_PORT+4) under
# $MT_ROOT/stopped-primary, removed by the trap; the test cluster is not
# touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

base=$MT_ROOT/stopped-primary
p_data=$base/primary
s_data=$base/standby
sock=$base/sock
p_port=$((MT_PORT + 3))
s_port=$((MT_PORT + 4))
db=mt_usage_copied

pg_ctl_q() { as_pg "$MT_PGBIN/pg_ctl" "$@" >/dev/null; }
cleanup() {
    for d in "$s_data" "$p_data"; do
        [ -f "$d/postmaster.pid" ] && pg_ctl_q -D "$d" -w -m immediate stop 2>/dev/null
    done
    rm -rf "$base"
}
trap cleanup EXIT
p_psql() { PGHOST=$sock PGPORT=$p_port mt_psql "$@"; }
s_psql() { PGHOST=$sock PGPORT=$s_port mt_psql "$@"; }
s_true() { [ "$(s_psql -d "$1" -c "$2" 2>/dev/null)" = t ]; }

rm -rf "$base"; mkdir -p "$sock"; chown -R postgres:postgres "$base" 2>/dev/null || true
as_pg "$MT_PGBIN/initdb" -D "$p_data" -U postgres --auth=trust -E UTF8 --locale=C >"$base/initdb.log" 2>&1 ||
    { cat "$base/initdb.log"; fail "initdb failed"; }
cat >>"$p_data/postgresql.conf" <<CONF
port = $p_port
listen_addresses = ''
unix_socket_directories = '$sock'
shared_preload_libraries = 'multitenant'
max_worker_processes = 16
hot_standby = on
multitenant.flush_interval = '1h'
CONF
pg_ctl_q -D "$p_data" -l "$base/primary.log" -w -t 60 start || { tail -20 "$base/primary.log"; fail "the primary did not start"; }
p_psql -d postgres -c "CREATE DATABASE $db" >/dev/null
p_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(p_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
p_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.track('copied', 7)" >/dev/null

# a clean stop keeps the 7 pending counts in a file; copy the stopped cluster
pg_ctl_q -D "$p_data" -w -t 60 stop
[ -f "$p_data/pg_stat/multitenant_usage.stat" ] || fail "setup: the clean stop kept no pending counts"
cp -a "$p_data" "$s_data"
rm -f "$s_data/postmaster.pid"
cat >>"$s_data/postgresql.conf" <<CONF
port = $s_port
primary_conninfo = 'host=$sock port=$p_port user=postgres'
multitenant.flush_interval = '200ms'
CONF
touch "$s_data/standby.signal"; chown postgres:postgres "$s_data/standby.signal" 2>/dev/null || true

pg_ctl_q -D "$p_data" -l "$base/primary.log" -w -t 60 start || { tail -20 "$base/primary.log"; fail "the primary did not restart"; }
pg_ctl_q -D "$s_data" -l "$base/standby.log" -w -t 60 start || { tail -20 "$base/standby.log"; fail "the standby did not start"; }
[ "$(s_psql -d postgres -c 'SELECT pg_is_in_recovery()')" = t ] || fail "setup: the standby is not in recovery"

# the primary got its counts back and flushes them; the standby replays the rows
got=$(p_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT used FROM mt.usage() WHERE metric = 'copied'" | tail -1)
[ "$got" = 7 ] || fail "setup: the restarted primary shows $got for the counts it kept"
p_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
lsn=$(p_psql -d postgres -c "SELECT pg_current_wal_lsn()")
wait_for 60 s_true postgres "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" || fail "the standby did not replay up to $lsn"
[ "$(s_psql -d $db -c "SELECT sum(value) FROM mt.usage_rollup WHERE metric = 'copied'")" = 7 ] ||
    fail "setup: the standby did not replay the flushed counts"

got=$(s_psql -d $db -c "SELECT used FROM mt.usage('$acme') WHERE metric = 'copied'")
[ "$got" = 7 ] || fail "the standby shows $got for 7 counts: it loaded the primary's kept counts as its own"
echo "ok: the standby shows the primary's kept counts once"

# promoted, it flushes what it has pending: nothing of the primary's
pg_ctl_q -D "$s_data" -w -t 60 promote || fail "pg_ctl promote failed"
wait_for 30 s_true postgres "SELECT NOT pg_is_in_recovery()" || fail "the standby did not leave recovery"
s_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.track('after', 1)" >/dev/null
wait_for 30 s_true $db "SELECT count(*) = 1 FROM mt.usage_rollup WHERE metric = 'after'" ||
    fail "the promoted standby did not flush"
got=$(s_psql -d $db -c "SELECT sum(value) FROM mt.usage_rollup WHERE metric = 'copied'")
[ "$got" = 7 ] || fail "the promoted standby wrote the primary's kept counts again: $got in mt.usage_rollup for 7 counts"
echo "ok: the promoted standby did not flush the primary's counts a second time"
grep -q "discarding the usage counts kept in" "$base/standby.log" ||
    fail "the standby did not log that it discarded the copied counts"
echo "ok: the standby logged that it discarded the copied counts"
echo "all ok"
