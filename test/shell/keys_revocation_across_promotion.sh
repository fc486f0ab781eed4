#!/usr/bin/env bash
# A standby that is promoted: a revocation replayed while a long-lived
# standby session (a pooled backend) sat idle is still honoured by that
# session after the promotion.  The session had the key cached; the
# revocation reached the standby by replay only (no generation was bumped
# there), and the session's first transaction after the promotion is the
# first to see the replayed invalidation, when the node is a primary,
# where an invalidation of the key table alone no longer empties the key
# cache (doc/api-keys.md, "Key cache"): the end of recovery must.
#
# The standby is a real streaming replica (pg_basebackup -R) of the test
# cluster, on port MT_PORT+1 in ${MT_ROOT}-standby, removed by the trap.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

standby_test mt_keys_promotion 1 "${MT_ROOT}-standby"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
key=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'revoked-before-promotion')")

standby_start </dev/null
standby_catch_up

sb_session_start -d $db
auth() { sb_run "SELECT coalesce(mt.authenticate('$1')::text, 'null');"; }
got=$(auth "$key")
[ "$got" = "$acme" ] || fail "setup: the key does not authenticate on the standby: $got"
got=$(auth "$key")
[ "$got" = "$acme" ] || fail "setup: the cached key does not authenticate on the standby: $got"
echo "ok: the standby session has the key cached"

# the primary revokes; the standby replays it while the session is idle
mt_psql -d $db -c "SELECT mt.revoke_api_key(mt.api_key_id('$key'))" >/dev/null
standby_catch_up
got=$(sb_psql -d $db -c "SELECT revoked_at IS NOT NULL FROM mt.api_key_secrets WHERE key_id = mt.api_key_id('$key')")
[ "$got" = t ] || fail "setup: the standby has not replayed the revocation: $got"

# promoted; the idle session's next call is its first after the replay
as_pg "$MT_PGBIN/pg_ctl" -D "$sb_data" -w -t 60 promote >/dev/null || fail "the standby was not promoted"
wait_for 60 sb_true postgres "SELECT NOT pg_is_in_recovery()" || fail "the standby is still in recovery"
echo "ok: the standby was promoted"

got=$(auth "$key")
case $got in
    *"$acme"*) fail "promoted: the revoked key still authenticates in the session that had it cached: $got" ;;
    *"invalid API key"*) ;;
    *) fail "promoted: unexpected answer: $got" ;;
esac
echo "ok: promoted: the revoked key is refused by the session that had it cached"
got=$(sb_psql -d $db -c "SELECT coalesce(mt.authenticate('$key')::text, 'null')" 2>&1 || true)
case $got in *"$acme"*) fail "promoted: a fresh session accepts the revoked key" ;; esac
echo "all ok"
