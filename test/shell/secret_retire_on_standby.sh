#!/usr/bin/env bash
# Hot standby: retiring a key version on the primary takes effect on a
# standby once replayed, also in a long-lived standby session that cached
# the versions, verified an API key hashed with the retired pepper and
# entered a token signed with the retired token key before the retirement
# (WAL replay runs no trigger: the versions cache must follow the replayed
# relcache invalidation).  A token of the new version verifies there.
#
# The standby is a real streaming replica (pg_basebackup -R) of the test
# cluster, on port MT_PORT+1 in ${MT_ROOT}-standby, removed by the trap.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

standby_test mt_retire_standby 1 "${MT_ROOT}-standby" mt_sb_rot
mt_psql -d $db -c "GRANT EXECUTE ON FUNCTION mt.authenticate(text) TO mt_sb_rot" >/dev/null 2>&1 || true
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
key=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'hashed-with-v1')")
tok=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '1 hour')")

# --- the standby -----------------------------------------------------------
standby_start </dev/null
standby_catch_up

# --- a long-lived standby session of the application role ------------------
PGOPTIONS="-c test.tok=$tok" sb_session_start -U mt_sb_rot -d $db
auth() { sb_run "BEGIN; SELECT coalesce(mt.authenticate('$1')::text, 'null'); COMMIT;"; }

got=$(auth "$key")
[ "$got" = "$acme" ] || fail "setup: the key does not authenticate on the standby: $got"
got=$(sb_run "SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL;")
[ "$got" = t ] || fail "setup: the token is refused on the standby: $got"
got=$(sb_run "SELECT mt.current_tenant();")
[ "$got" = "$acme" ] || fail "setup: the standby session is not in Acme: $got"
echo "ok: the standby session authenticated the version-1 key and entered the version-1 token"

# --- the primary rotates and retires version 1 ------------------------------
mt_psql -d $db -c "SELECT mt.rotate_secret('token')" -c "SELECT mt.rotate_secret('api_key')" \
    -c "SELECT mt.retire_secret('token', 1)" -c "SELECT mt.retire_secret('api_key', 1, force => true)" >/dev/null
tok2=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '1 hour')")
standby_catch_up

got=$(sb_run "SELECT coalesce(mt.current_tenant()::text, 'null');")
[ "$got" = null ] || fail "standby: the session still yields the tenant of a retired token: $got"
echo "ok: standby: the session that entered the retired token has no tenant at its next transaction"
got=$(auth "$key")
case $got in *"$acme"*) fail "standby: the key hashed with the retired pepper still authenticates: $got" ;; esac
echo "ok: standby: the key hashed with the retired pepper is refused ($got)"
got=$(sb_run "SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL;")
case $got in *"retired"*) ;; *) fail "standby: SET of the retired token: $got" ;; esac
echo "ok: standby: SET of the retired token is refused"
got=$(PGHOST=$sb_sock PGPORT=$sb_port PGOPTIONS="-c test.tok=$tok2" "$MT_PGBIN/psql" -X -q -At -U mt_sb_rot -d $db 2>&1 <<'SQL' || true
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS entered \gset
SELECT mt.current_tenant();
SQL
)
[ "$got" = "$acme" ] || fail "standby: the token of version 2 is refused: $got"
echo "ok: standby: the token of version 2 verifies"
echo "all ok"
