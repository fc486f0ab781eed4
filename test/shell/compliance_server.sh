#!/usr/bin/env bash
# Server-level compliance checks: each violation planted (fail/warn with the
# offending setting named), then fixed (pass).  Needs files, new
# connections or restarts, hence a shell test.  Leaves the cluster as it
# found it (trust rules, no ssl, multitenant preloaded, checksums on), also
# when it fails: the settings files are saved and put back in the EXIT trap.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_compliance_srv
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
status() { mt_psql -d $db -c "SELECT status || ' ' || details::text FROM mt.run_compliance_checks() WHERE check_id = '$1'"; }
status_is() { seen=$(status "$1"); [[ "$seen" == "$2 "* ]]; }   # status_is <check> <status>, row in $seen
# expect_within <seconds> <check> <status> <pattern> <what>: poll until the
# check has that status, then look for the pattern in the row that had it
# (a status that lasts a short time only could be gone at a second query);
# expect <check> <status> <pattern> <what>: the same, one query
expect_within() {
    seen=
    wait_for "$1" status_is "$2" "$3" || fail "$2 $5: expected $3 within $1 s, got: $seen"
    [[ "$seen" == *"$4"* ]] || fail "$2 $5: details do not mention '$4': $seen"
    echo "ok: $2 $3 $5"
}
expect() { expect_within 0 "$@"; }
cluster_settings_save
checksums_off=
restore() {
    if [ -n "$checksums_off" ]; then
        cluster_stop fast || true
        as_pg "$MT_PGBIN/pg_checksums" --enable -D "$MT_PGDATA" >/dev/null || true
    fi
    cluster_settings_restore restart
}
trap restore EXIT

# MT-SRV-001 ssl
expect MT-SRV-001 fail '"ssl": "off"' "without ssl"
openssl req -new -x509 -days 2 -nodes -subj "/CN=localhost" -keyout "$MT_PGDATA/server.key" \
    -out "$MT_PGDATA/server.crt" >/dev/null 2>&1
[ "$(id -u)" = 0 ] && chown postgres:postgres "$MT_PGDATA/server.key" "$MT_PGDATA/server.crt"
chmod 600 "$MT_PGDATA/server.key"
mt_psql -d postgres -c "ALTER SYSTEM SET ssl = on" >/dev/null; cluster_reload_wait
expect MT-SRV-001 pass '"ssl": "on"' "with a certificate and ssl = on"

# MT-SRV-004 pg_hba rules
expect MT-SRV-004 fail 'trust' "with the trust rules of the test cluster"
cat >"$MT_PGDATA/pg_hba.conf" <<HBA
local all postgres peer
local all all scram-sha-256
hostssl all all 127.0.0.1/32 scram-sha-256
HBA
cluster_reload_wait
# peer maps the OS user; as root, connect as postgres through runuser
status_pg() { as_pg "$MT_PGBIN/psql" -X -At -h "$PGHOST" -p "$PGPORT" -U postgres -d $db \
    -c "SELECT status || ' ' || details::text FROM mt.run_compliance_checks() WHERE check_id = '$1'"; }
got=$(status_pg MT-SRV-004)
[[ "$got" == "pass "* ]] || fail "MT-SRV-004 with peer/scram rules: $got"
echo "ok: MT-SRV-004 pass with peer and scram-sha-256 rules only"
printf 'host all all 0.0.0.0/0 scram-sha-256\n' >>"$MT_PGDATA/pg_hba.conf"
cluster_reload_wait
got=$(status_pg MT-SRV-004)
[[ "$got" == "fail "* && "$got" == *"0.0.0.0/0.0.0.0"* ]] || fail "MT-SRV-004 with a wide-open rule: $got"
echo "ok: MT-SRV-004 fail on a 0.0.0.0/0 rule, named"
cluster_settings_restore   # trust rules, no ssl

# MT-SRV-005 connection logging (takes effect for new connections)
expect MT-SRV-005 warn '"log_connections": "off"' "without connection logging"
mt_psql -d postgres -c "ALTER SYSTEM SET log_connections = on" -c "ALTER SYSTEM SET log_disconnections = on" >/dev/null
cluster_reload_wait
expect MT-SRV-005 pass '"log_connections": "on"' "with connection logging"
cluster_settings_restore

# MT-SRV-006 data checksums (offline switch with pg_checksums)
expect MT-SRV-006 pass '"data_checksums": "on"' "on a cluster initialised with checksums"
cluster_stop fast
checksums_off=1
as_pg "$MT_PGBIN/pg_checksums" --disable -D "$MT_PGDATA" >/dev/null
cluster_start
expect MT-SRV-006 warn '"data_checksums": "off"' "after pg_checksums --disable"
cluster_stop fast
as_pg "$MT_PGBIN/pg_checksums" --enable -D "$MT_PGDATA" >/dev/null
checksums_off=
cluster_start
expect MT-SRV-006 pass '"data_checksums": "on"' "after pg_checksums --enable"

# MT-SRV-007 pgaudit
expect MT-SRV-007 warn 'multitenant' "without pgaudit"
cluster_conf shared_preload_libraries 'multitenant,pgaudit'
cluster_restart
expect MT-SRV-007 pass 'pgaudit' "with pgaudit preloaded"
cluster_settings_restore restart   # multitenant alone

# MT-USE-002 the flush launcher (restarts 10 s after it dies): the fail
# status lasts until then only, so each step polls and reads the row it saw
expect_within 30 MT-USE-002 pass 'launcher_pids' "while the launcher runs"
[ "$(mt_psql -d postgres -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'multitenant launcher'")" = 1 ] ||
    fail "MT-USE-002: no launcher to terminate"
expect_within 10 MT-USE-002 fail '"launcher_pids": []' "right after the launcher was terminated"
expect_within 30 MT-USE-002 pass 'launcher_pids' "once the postmaster restarted it"

mt_psql -d postgres -c "DROP DATABASE $db"
echo "all ok"
