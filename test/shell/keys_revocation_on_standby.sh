#!/usr/bin/env bash
# Hot standby: a revocation, a suspension or a new key replayed from the
# primary takes effect at a standby backend's next transaction, exactly as
# on the primary.  A long-lived standby session (a pooled backend) caches an
# API key, a tenant's status and the miss of a key that the standby has not
# replayed yet; then the primary revokes the key, suspends the tenant, and
# the paused replay catches up with the new key.  WAL replay runs no trigger
# or commit callback, so caches validated only by a counter those bump would
# keep the old answers forever.
#
# The standby is a real streaming replica (pg_basebackup -R) of the test
# cluster, on port MT_PORT+1 in ${MT_ROOT}-standby, removed by the trap.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

standby_test mt_keys_standby 1 "${MT_ROOT}-standby" mt_sb_app
mt_psql -d $db -c "GRANT EXECUTE ON FUNCTION mt.authenticate(text) TO mt_sb_app" >/dev/null 2>&1 || true
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex')")
key=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'revoked-later')")
tok_globex=$(mt_psql -d $db -c "SELECT mt.tenant_token('$globex', '1 hour')")

# --- the standby -----------------------------------------------------------
standby_start </dev/null
standby_catch_up

# --- a long-lived standby session of the application role ------------------
# sb_run <sql>: runs one statement in that session, prints its output
# (errors included) as one line
PGOPTIONS="-c test.tok_globex=$tok_globex" sb_session_start -U mt_sb_app -d $db
auth() { sb_run "BEGIN; SELECT coalesce(mt.authenticate('$1')::text, 'null'); COMMIT;"; }

# the session caches the key, the tenant status and (below) a miss
got=$(auth "$key")
[ "$got" = "$acme" ] || fail "setup: the key does not authenticate on the standby: $got"
got=$(sb_run "SELECT set_config('multitenant.token', current_setting('test.tok_globex'), false) IS NOT NULL;")
[ "$got" = t ] || fail "setup: the token is refused on the standby: $got"
got=$(sb_run "SELECT mt.current_tenant();")
[ "$got" = "$globex" ] || fail "setup: the standby session is not in Globex: $got"
echo "ok: the standby session authenticated the key and entered Globex"

# a key created while the standby lags: the session caches its miss
sb_psql -d postgres -c "SELECT pg_wal_replay_pause()" >/dev/null
for i in $(seq 100); do
    [ "$(sb_psql -d postgres -c "SELECT pg_get_wal_replay_pause_state()")" = paused ] && break
    sleep 0.1
done
newkey=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'created-while-lagging')")
got=$(auth "$newkey")
case $got in *28000*|*"invalid API key"*|*null*) ;; *) fail "setup: a key the standby has not replayed was accepted: $got" ;; esac
echo "ok: the not yet replayed key is refused (and its miss cached)"

# --- the primary revokes and suspends --------------------------------------
mt_psql -d $db -c "SELECT mt.revoke_api_key(mt.api_key_id('$key'))" >/dev/null
mt_psql -d $db -c "SELECT mt.suspend_tenant('$globex')" >/dev/null
# sanity: the primary refuses at once
got=$(mt_psql -d $db -c "SELECT coalesce(mt.authenticate('$key')::text, 'null')" 2>&1 || true)
case $got in *"$acme"*) fail "the primary still accepts the revoked key" ;; esac
sb_psql -d postgres -c "SELECT pg_wal_replay_resume()" >/dev/null
standby_catch_up

# the standby session's next transactions
got=$(auth "$key")
case $got in
    *"$acme"*) fail "standby: the revoked key still authenticates in a backend that had cached it: $got" ;;
esac
echo "ok: standby: the revoked key is refused at the next transaction ($got)"
got=$(sb_run "SELECT coalesce(mt.current_tenant()::text, 'null');")
[ "$got" = null ] || fail "standby: the suspended tenant's context still yields the tenant: $got"
echo "ok: standby: the suspended tenant's context yields no tenant"
got=$(sb_run "SELECT set_config('multitenant.token', current_setting('test.tok_globex'), false) IS NOT NULL;")
case $got in *"not active"*) ;; *) fail "standby: the suspended tenant's token is accepted by SET: $got" ;; esac
echo "ok: standby: the suspended tenant's token is refused"
got=$(auth "$newkey")
[ "$got" = "$acme" ] || fail "standby: the key replayed after its miss was cached is still refused: $got"
echo "ok: standby: the key created while the standby lagged works once replayed"

# and a fresh standby session agrees
got=$(PGHOST=$sb_sock PGPORT=$sb_port "$MT_PGBIN/psql" -X -q -At -U mt_sb_app -d $db \
    -c "SELECT coalesce(mt.authenticate('$key')::text, 'null')" 2>&1 || true)
case $got in *"$acme"*) fail "standby: a fresh session accepts the revoked key" ;; esac
echo "all ok"
