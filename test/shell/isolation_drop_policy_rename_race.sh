#!/usr/bin/env bash
# The DDL guard and PostgreSQL agree on the table a DROP POLICY acts on even
# when the table owner swaps names between the guard's lookup and the
# command's own (locked) lookup: a second session holds a lock on a decoy
# (not isolated, with a policy of the generated name) and renames the
# decoy and the isolated table, which makes the window deterministic.  The
# generated restrictive policy of the isolated table survives, and a
# permissive USING (true) policy the owner adds afterwards still shows no
# rows without a context.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_isolation_drop_policy_race
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d postgres -c "DROP ROLE IF EXISTS mt_rr_owner" -c "CREATE ROLE mt_rr_owner LOGIN"
mt_psql -d $db <<'SQL'
CREATE EXTENSION multitenant;
CREATE SCHEMA app AUTHORIZATION mt_rr_owner;
SET ROLE mt_rr_owner;
CREATE TABLE app.victim (id int, tenant_id uuid NOT NULL, s text);
CREATE TABLE app.x (id int);
CREATE POLICY mt_tenant_isolation ON app.x USING (true);
RESET ROLE;
SELECT mt.enable_isolation('app.victim');
INSERT INTO app.victim VALUES (1, mt.create_tenant('Acme', 'acme'), 'acme-secret'),
                              (2, mt.create_tenant('Globex', 'globex'), 'globex-secret');
SQL

# session 2: holds the decoy "x", waits (up to 10 s) until session 1's DROP
# POLICY waits for that lock, then swaps the names and commits
mt_psql -d $db -U mt_rr_owner >/dev/null <<'SQL' &
BEGIN;
LOCK TABLE app.x IN ACCESS EXCLUSIVE MODE;
DO $$ BEGIN
    FOR i IN 1 .. 200 LOOP
        EXIT WHEN EXISTS (SELECT FROM pg_catalog.pg_locks WHERE relation = 'app.x'::regclass AND NOT granted);
        PERFORM pg_catalog.pg_sleep(0.05);
    END LOOP;
END $$;
ALTER TABLE app.x RENAME TO decoy;
ALTER TABLE app.victim RENAME TO x;
COMMIT;
SQL
swapper=$!
wait_for 10 lock_granted $db app.x AccessExclusiveLock || fail "session 2 did not take the lock"
# session 1: the guard sees the decoy, the DROP hits the isolated table
mt_psql -d $db -U mt_rr_owner -c "DROP POLICY mt_tenant_isolation ON app.x" 2>&1 || true
wait $swapper
mt_psql -d $db -U mt_rr_owner -c "CREATE POLICY wide_open ON app.x FOR SELECT USING (true)" 2>&1 || true

n=$(mt_psql -d $db -c "SELECT count(*) FROM pg_policy WHERE polrelid = 'app.x'::regclass AND polname = 'mt_tenant_isolation'")
[ "$n" = 1 ] || fail "the restrictive tenant policy of the isolated table was dropped by its owner"
echo "ok: the generated restrictive policy survived"
n=$(mt_psql -d $db -U mt_rr_owner -c "SELECT count(*) FROM app.x")
[ "$n" = 0 ] || fail "the owner without a context reads $n rows of the isolated table"
echo "ok: the owner still sees nothing without a context"
mt_psql -d postgres -c "DROP DATABASE $db"
echo "all ok"
