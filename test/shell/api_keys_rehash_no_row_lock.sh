#!/usr/bin/env bash
# An API key hashed with an older pepper version is re-hashed under the
# active one after its use, without the caller's transaction writing (and
# locking) the key's row.  The attacks on an in-transaction re-hash:
#   - a tenant holding a stolen key uses it once after mt.rotate_secret
#     ('api_key') inside a transaction it never ends: the row stays locked,
#     mt.revoke_api_key() of that key waits for the tenant (or fails on
#     lock_timeout), and the key keeps working in every other session;
#   - an application that runs its work as two-phase transactions
#     (PREPARE TRANSACTION, XA): the re-hash made PREPARE fail (0A000,
#     "changed mt.api_key_secrets"), rolled back, and so failed again at
#     every use of every key not yet re-hashed.
# The re-hash is written by the flush (mt.flush_api_key_usage(), the
# worker), so it also happens for a key used in a read-only transaction.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_rehash_lock
outdir=$(mktemp -d)
chmod 777 "$outdir"
cluster_settings_save
holder=
cleanup() {
    [ -n "$holder" ] && kill "$holder" 2>/dev/null || true
    mt_psql -d $db -c "ROLLBACK PREPARED 'mt_rehash'" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$outdir"
    cluster_settings_restore restart
}
trap cleanup EXIT
cluster_conf max_prepared_transactions 4
cluster_restart
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" -c "CREATE TABLE public.go (x int)" >/dev/null
q() { mt_psql -d $db -c "$1"; }
sqlstate() { mt_psql -d $db -v VERBOSITY=verbose -c "$1" 2>&1 | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -1; }

acme=$(q "SELECT mt.create_tenant('Acme', 'acme')")
stolen=$(q "SELECT mt.create_api_key('$acme', 'stolen', '{}')")
xa=$(q "SELECT mt.create_api_key('$acme', 'xa', '{}')")
ro=$(q "SELECT mt.create_api_key('$acme', 'read-only', '{}')")
[ "$(q "SELECT mt.rotate_secret('api_key')")" = 2 ] || fail "rotation"

# --- the holder: first use after the rotation, in a transaction left open
PGOPTIONS="-c statement_timeout=60s" mt_psql -d $db >"$outdir/holder.out" 2>&1 <<SQL &
BEGIN;
SELECT 'in:' || mt.authenticate('$stolen');
DO \$\$BEGIN
  FOR i IN 1..1200 LOOP
    EXIT WHEN EXISTS (SELECT FROM public.go);
    PERFORM pg_catalog.pg_sleep(0.05);
  END LOOP;
END\$\$;
COMMIT;
SQL
holder=$!
wait_for 20 grep -q '^in:' "$outdir/holder.out" || fail "the holder did not authenticate: $(cat "$outdir/holder.out")"
st=$(sqlstate "SET lock_timeout = '2s'; SELECT mt.revoke_api_key(mt.api_key_id('$stolen'))" || true)
[ -z "$st" ] || fail "revoking the key failed with $st while its holder keeps a transaction open after using it"
out=$(q "SELECT mt.authenticate('$stolen')" 2>&1 || true)
grep -q "invalid API key" <<<"$out" || fail "the revoked key still authenticates: $out"
q "INSERT INTO public.go VALUES (1)" >/dev/null
wait "$holder" || fail "the holder failed: $(cat "$outdir/holder.out")"
holder=
echo "ok: a key's first use after the rotation locks nothing: its revocation does not wait for the user's transaction"

# --- two-phase commit --------------------------------------------------------
out=$(mt_psql -d $db 2>&1 <<SQL || true
BEGIN;
SELECT mt.authenticate('$xa') IS NOT NULL AS authenticated;
PREPARE TRANSACTION 'mt_rehash';
COMMIT PREPARED 'mt_rehash';
SQL
)
[ "$out" = t ] || fail "a two-phase transaction that uses a key not yet re-hashed cannot be prepared: $out"
echo "ok: PREPARE TRANSACTION after the first use of a key since the rotation works"

# --- the re-hash itself: written by the flush, also after a read-only use ----
out=$(mt_psql -d $db -c "BEGIN READ ONLY" -c "SELECT mt.authenticate('$ro')" -c "COMMIT" 2>&1)
[ "$out" = "$acme" ] || fail "read-only use: $out"
q "SELECT mt.flush_api_key_usage()" >/dev/null
[ "$(q "SELECT string_agg(name || ':' || pepper_version, ',' ORDER BY name) FROM mt.api_key_secrets")" \
    = "read-only:2,stolen:2,xa:2" ] \
    || fail "keys not re-hashed under version 2 after their use and a flush: $(q "SELECT name, pepper_version FROM mt.api_key_secrets")"
[ "$(q "SELECT mt.authenticate('$xa')")" = "$acme" ] || fail "the re-hashed key is refused"
q "SELECT mt.retire_secret('api_key', 1)" >/dev/null
[ "$(q "SELECT mt.authenticate('$ro')")" = "$acme" ] || fail "the re-hashed key is refused once version 1 is retired"
out=$(q "SELECT mt.authenticate('$stolen')" 2>&1 || true)
grep -q "invalid API key" <<<"$out" || fail "the revoked key authenticates after its re-hash: $out"
echo "ok: keys used since the rotation are re-hashed at the next flush (read-only use included); version 1 retires without force"
echo "all ok"
