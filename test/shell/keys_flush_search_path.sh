#!/usr/bin/env bash
# Finding 1 (privilege escalation through the flush worker): a database
# owner that is not a superuser sets the database's search_path to
# "public, pg_catalog" and creates public.=(text, text) whose function
# makes it a superuser.  The flush worker (which connects as the bootstrap
# superuser) writes API keys' last-use times; it must not run that operator
# (nor anything else the database owner controls) with its rights.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_keys_flush_sp
attacker=mt_kfsp_attacker
cleanup() {
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP ROLE IF EXISTS $attacker" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
mt_psql -d postgres -c "CREATE ROLE $attacker LOGIN NOSUPERUSER" -c "CREATE DATABASE $db OWNER $attacker"

# the superuser installs the extension and creates a key (its own sessions
# pin search_path, so that only the worker picks up the database default)
export PGOPTIONS="-c search_path=pg_catalog"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
key=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'ci')")

# the attacker: database owner, CREATE on public (PG15: pg_database_owner)
PGOPTIONS="" mt_psql -d $db -U $attacker <<SQL
CREATE TABLE public.loot (fn text, cur text, sess text, su boolean, at timestamptz DEFAULT pg_catalog.now());
GRANT INSERT ON public.loot TO PUBLIC;
CREATE FUNCTION public.evil_texteq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS \$f\$
BEGIN
    INSERT INTO public.loot (fn, cur, sess, su)
    SELECT 'text =', current_user, session_user, r.rolsuper FROM pg_catalog.pg_roles r
    WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    BEGIN
        EXECUTE 'ALTER ROLE $attacker SUPERUSER';
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
    RETURN pg_catalog.texteq(a, b);
END \$f\$;
CREATE FUNCTION public.evil_tslt(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE plpgsql AS \$f\$
BEGIN
    INSERT INTO public.loot (fn, cur, sess, su)
    SELECT 'timestamptz <', current_user, session_user, r.rolsuper FROM pg_catalog.pg_roles r
    WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    BEGIN
        EXECUTE 'ALTER ROLE $attacker SUPERUSER';
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
    RETURN pg_catalog.timestamptz_lt(a, b);
END \$f\$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.evil_texteq);
CREATE OPERATOR public.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.evil_tslt);
ALTER DATABASE $db SET search_path = public, pg_catalog;
SQL
echo "ok: attacker planted public.= (text, text) and public.< (timestamptz, timestamptz) and set the database search_path"

# a use of the key records its last-use time; the flush worker writes it
t=$(mt_psql -d $db -c "SELECT mt.authenticate('$key')")
[ "$t" = "$acme" ] || fail "authenticate returned '$t'"
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
used=$(mt_psql -d $db -c "SELECT count(*) FROM mt.api_key_secrets WHERE last_used_at IS NOT NULL")
[ "$used" = 1 ] || fail "the flush did not write the key's last-use time ($used keys with last_used_at)"
echo "ok: the flush worker wrote the key's last-use time"

mt_psql -d $db -c "SELECT fn, cur, sess, su FROM public.loot"
su=$(mt_psql -d postgres -c "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = '$attacker'")
[ "$su" = f ] || fail "the database owner became a superuser through the flush worker"
ran=$(mt_psql -d $db -c "SELECT count(*) FROM public.loot")
[ "$ran" = 0 ] || fail "the flush ran $ran of the database owner's operators"
echo "ok: the flush ran none of the database owner's operators; the owner is not a superuser"

# a second flush (a new worker, the database default still set) changes nothing
mt_psql -d $db -c "SELECT mt.authenticate('$key')" >/dev/null
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
su=$(mt_psql -d postgres -c "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = '$attacker'")
ran=$(mt_psql -d $db -c "SELECT count(*) FROM public.loot")
[ "$su:$ran" = "f:0" ] || fail "second flush: superuser=$su, operators run=$ran"
echo "ok: a second flush neither"
echo "all ok"
