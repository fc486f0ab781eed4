#!/usr/bin/env bash
# Tenant tokens are readable by nobody but the session that sets them.
#
# Every tenant shares the application role, and pg_stat_activity shows a
# role's sessions the text of each other's statements (published before any
# check hook runs); pg_read_all_stats shows everyone's.  The server log can
# record statements and their bound parameters (log_statement = all,
# log_min_duration_statement = 0: "parameters: $1 = '...'"), auto_explain
# logs query text, pg_stat_statements keeps statement text.
#
# This test, with all of those switched on:
#  1. runs clients that enter tenant B through the bound-parameter form
#     (pgbench -M extended binds :tok as $1) while two other sessions -- one
#     of the same role inside tenant A, one with pg_read_all_stats -- poll
#     pg_stat_activity; no sample may hold the token, and the pollers must
#     have seen the clients' statements (so the test checked something);
#  2. checks that the literal forms (SET LOCAL multitenant.token = '<jwt>',
#     set_config('multitenant.token', '<jwt>', true)) are refused, that a
#     token refused that way is burned (refused afterwards in any form, and
#     a session already in it loses it at its next transaction), while a
#     forged token keeps its own error;
#  3. checks that neither the server log nor pg_stat_statements holds any
#     token or internal context value, although they did record the
#     statements and parameters.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_token_exposure
work=$(mktemp -d)
chmod 755 "$work"

cluster_settings_save   # preload list and log settings change below
restore() {
    cluster_settings_restore restart >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS mt_tx_app" \
        -c "DROP ROLE IF EXISTS mt_tx_stats" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap restore EXIT

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d postgres -c "DROP ROLE IF EXISTS mt_tx_app" -c "CREATE ROLE mt_tx_app LOGIN" \
    -c "DROP ROLE IF EXISTS mt_tx_stats" -c "CREATE ROLE mt_tx_stats LOGIN" \
    -c "GRANT pg_read_all_stats TO mt_tx_stats" >/dev/null

# every log path on
mt_psql -d postgres -c "LOAD 'auto_explain'" -c "ALTER SYSTEM SET shared_preload_libraries = multitenant, pg_stat_statements, auto_explain" \
    -c "ALTER SYSTEM SET log_statement = 'all'" -c "ALTER SYSTEM SET log_min_duration_statement = 0" \
    -c "ALTER SYSTEM SET log_parameter_max_length_on_error = -1" \
    -c "ALTER SYSTEM SET auto_explain.log_min_duration = 0" -c "ALTER SYSTEM SET auto_explain.log_analyze = on" \
    -c "ALTER SYSTEM SET auto_explain.log_nested_statements = on" >/dev/null
cluster_restart
log_from=$(stat -c %s "$MT_LOG")

mt_psql -d $db >/dev/null <<SQL
CREATE EXTENSION multitenant;
CREATE EXTENSION pg_stat_statements;
CREATE TABLE notes (id int GENERATED ALWAYS AS IDENTITY, body text);
SELECT mt.enable_isolation('notes');
GRANT SELECT, INSERT ON notes TO mt_tx_app;
-- what the pollers saw
CREATE UNLOGGED TABLE seen (poller text, query text);
CREATE UNLOGGED TABLE poll_stats (poller text, samples int, victim_samples int);
CREATE UNLOGGED TABLE poll_done (done bool);
GRANT INSERT, SELECT ON seen, poll_stats, poll_done TO mt_tx_app, mt_tx_stats;
SQL
a=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
b=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex')")
# distinct subjects: tokens minted in the same second are otherwise identical
mint() { mt_psql -d $db -c "SELECT mt.tenant_token('$1', '1 hour', '$2')"; }
tok_a=$(mint "$a" poller)
tok_b=$(mint "$b" client)
mt_psql -d $db -c "SELECT mt.set_tenant('$b', false)" -c "INSERT INTO notes (body) SELECT 'globex ' || g FROM generate_series(1, 30) g" >/dev/null
mt_psql -d $db -c "SELECT mt.set_tenant('$a', false)" -c "INSERT INTO notes (body) SELECT 'acme ' || g FROM generate_series(1, 10) g" >/dev/null

sig() { printf '%s' "${1##*.}"; }   # the signature segment: what makes a token usable

# --- 1. bound parameters under observation ---------------------------------
poll() {   # poll <name> <role> [PGOPTIONS]: samples pg_stat_activity until poll_done
    PGOPTIONS="${3:-}" "$MT_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -U "$2" -d $db \
        -c "SET application_name = 'poller_$1'" -c "
DO \$\$
DECLARE n int := 0; v int := 0; r record;
BEGIN
    LOOP
        PERFORM pg_catalog.pg_stat_clear_snapshot();
        n := n + 1;
        FOR r IN SELECT query FROM pg_catalog.pg_stat_activity
                 WHERE pid <> pg_catalog.pg_backend_pid() AND datname = current_database()
                   AND application_name = 'pgbench' LOOP
            v := v + 1;
            IF r.query ~ 'eyJ|mt-internal' THEN
                INSERT INTO seen VALUES ('$1', r.query);
            END IF;
        END LOOP;
        EXIT WHEN EXISTS (SELECT 1 FROM poll_done);
    END LOOP;
    INSERT INTO poll_stats VALUES ('$1', n, v);
END \$\$"
}
poll same_role mt_tx_app "-c multitenant.token=$tok_a" >"$work/poll1.log" 2>&1 &
p1=$!
poll read_all_stats mt_tx_stats >"$work/poll2.log" 2>&1 &
p2=$!
wait_for 30 mt_true $db "SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name LIKE 'poller_%' AND state = 'active'" || true

cat >"$work/victim.sql" <<'SQL'
BEGIN;
SELECT set_config('multitenant.token', :tok, true);
SELECT 1 / (count(*) = 30)::int FROM notes;
SELECT pg_sleep(0.002);
COMMIT;
SQL
"$MT_PGBIN/pgbench" -n -M extended -c 4 -j 4 -t 150 -U mt_tx_app -D tok="$tok_b" -f "$work/victim.sql" $db \
    >"$work/pgbench.log" 2>&1 || { cat "$work/pgbench.log"; fail "the bound-parameter clients failed"; }
mt_psql -d $db -c "INSERT INTO poll_done VALUES (true)" >/dev/null
wait $p1 || { cat "$work/poll1.log"; fail "the same-role poller failed"; }
wait $p2 || { cat "$work/poll2.log"; fail "the pg_read_all_stats poller failed"; }
grep -q "number of transactions actually processed: 600/600" "$work/pgbench.log" ||
    { cat "$work/pgbench.log"; fail "not every bound-parameter transaction saw tenant B's 30 rows"; }
echo "ok: 600 transactions entered tenant B through set_config('multitenant.token', \$1, true)"

stats=$(mt_psql -d $db -c "SELECT string_agg(poller || '=' || samples || '/' || victim_samples, ' ' ORDER BY poller) FROM poll_stats")
echo "pollers (samples/victim statements seen): $stats"
for p in same_role read_all_stats; do
    v=$(mt_psql -d $db -c "SELECT victim_samples FROM poll_stats WHERE poller = '$p'")
    [ "${v:-0}" -gt 0 ] || fail "the $p poller never saw the clients' statements: the test checked nothing"
done
leaked=$(mt_psql -d $db -c "SELECT count(*) FROM seen")
[ "$leaked" = 0 ] || fail "pg_stat_activity showed a token to another session: $(mt_psql -d $db -c 'SELECT query FROM seen LIMIT 1')"
echo "ok: neither another session of the role nor pg_read_all_stats saw a token in pg_stat_activity"

# --- 2. literal forms are refused, and the refused token is burned ---------
app() { PGOPTIONS="${PGOPTIONS_APP:-}" "$MT_PGBIN/psql" -X -q -At -U mt_tx_app -d $db "$@" 2>&1 || true; }
tok_l1=$(mint "$b" l1); tok_l2=$(mint "$b" l2); tok_l3=$(mint "$b" l3)
out=$(app -c "BEGIN" -c "SET LOCAL multitenant.token = '$tok_l1'" -c "SELECT count(*) FROM notes" -c "COMMIT")
case $out in
    *"must not appear in the statement text"*) ;;
    *) fail "SET LOCAL with the token's literal text was not refused: $out" ;;
esac
echo "ok: SET LOCAL multitenant.token = '<jwt>' is refused"
out=$(app -c "SELECT set_config('multitenant.token', '$tok_l2', true)")
case $out in *"must not appear in the statement text"*) ;; *) fail "set_config with a literal token was not refused: $out" ;; esac
out=$(app -c "SELECT set_config('multitenant.token', '$(printf '%s' "$tok_l3" | cut -c1-40)' || '$(printf '%s' "$tok_l3" | cut -c41-)', true)")
case $out in *"must not appear in the statement text"*) ;; *) fail "a token split into concatenated literals was not refused: $out" ;; esac
# split inside the signature: neither literal holds the whole signature
tok_l5=$(mint "$b" l5); cut5=$((${#tok_l5} - 20))
out=$(app -c "SELECT set_config('multitenant.token', '${tok_l5:0:$cut5}' || '${tok_l5:$cut5}', true)")
case $out in *"must not appear in the statement text"*) ;; *) fail "a token split inside its signature was not refused: $out" ;; esac
out=$(PGOPTIONS_APP="-c test.tok=$tok_l5" app -c "SELECT set_config('multitenant.token', current_setting('test.tok'), true)")
case $out in *"withdrawn"*) ;; *) fail "a token split inside its signature was not burned: $out" ;; esac
echo "ok: set_config('multitenant.token', '<jwt>', true) is refused, also when split (inside the signature too)"
# burned: refused afterwards, even through a bound parameter
out=$(PGOPTIONS_APP="-c test.tok=$tok_l1" app -c "SELECT set_config('multitenant.token', current_setting('test.tok'), true)")
case $out in *"withdrawn"*) ;; *) fail "a token refused as a literal is still accepted afterwards: $out" ;; esac
"$MT_PGBIN/pgbench" -n -M extended -c 1 -t 1 -U mt_tx_app -D tok="$tok_l2" -f "$work/victim.sql" $db >"$work/burned.log" 2>&1 &&
    fail "a token refused as a literal still works through a bound parameter"
echo "ok: a token refused as a literal is burned (also for bound parameters)"
# a session already inside a token loses it at its next transaction once the token is burned
tok_l4=$(mint "$b" l4)
out=$(PGOPTIONS_APP="-c test.tok=$tok_l4" app -c "SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL" \
    -c "SELECT mt.current_tenant()" -c "SET multitenant.token = '$tok_l4'" -c "SELECT coalesce(mt.current_tenant()::text, 'none')")
case $out in
    *"$b"*"must not appear"*none) ;;
    *) fail "a session inside a burned token kept its tenant: $out" ;;
esac
echo "ok: a session inside a token that gets burned loses the tenant at its next transaction"
# error ordering: a forged token keeps its own error, and is not burned
forged="${tok_a%.*}.$(sig "$tok_b")"
out=$(app -c "SET multitenant.token = '$forged'")
case $out in *"signature does not verify"*) ;; *) fail "a forged literal token lost its specific error: $out" ;; esac
echo "ok: a forged token still gets 'signature does not verify'"
# the internal context value is refused as before
ival=$(mt_psql -d $db -c "BEGIN" -c "SELECT mt.set_tenant('$b') IS NOT NULL" -c "SELECT current_setting('multitenant.token')" -c "COMMIT" | tail -1)
case $ival in mt-internal\|*) ;; *) fail "setup: no internal context value: $ival" ;; esac
out=$(app -c "SET multitenant.token = '$ival'")
case $out in *"cannot be set directly"*) ;; *) fail "the internal value was not refused: $out" ;; esac

# --- 3. nothing in the server log or pg_stat_statements ---------------------
# wait until everything is written: auto_explain and the statements above
logged() { tail -c +"$((log_from + 1))" "$MT_LOG" | grep -c -- "$1" >/dev/null; }
wait_for 10 logged "Query Text:" || true
wait_for 10 logged "parameters: \$1 = 'eyJ" || true
tail -c +"$((log_from + 1))" "$MT_LOG" >"$work/log"
grep -q "parameters: \$1 = 'eyJ" "$work/log" || fail "the log has no parameters detail: log_statement did not run"
grep -q "Query Text:" "$work/log" || fail "auto_explain did not log"
grep -q "statement: SET LOCAL multitenant.token" "$work/log" || fail "log_statement did not log the literal SET"
n=$(mt_psql -d $db -c "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%set_config(%'")
[ "$n" -gt 0 ] || fail "pg_stat_statements did not record the set_config statements"
for t in "$tok_a" "$tok_b" "$tok_l1" "$tok_l2" "$tok_l3" "$tok_l4"; do
    s=$(sig "$t")
    if grep -q -- "$s" "$work/log"; then
        fail "the server log holds a token: $(grep -m1 -- "$s" "$work/log")"
    fi
    n=$(mt_psql -d $db -c "SELECT count(*) FROM pg_stat_statements WHERE strpos(query, '$s') > 0")
    [ "$n" = 0 ] || fail "pg_stat_statements holds a token"
done
body=${ival#mt-internal|}
if grep -qF -- "$body" "$work/log"; then
    fail "the server log holds the internal context value: $(grep -m1 -F -- "$body" "$work/log")"
fi
echo "ok: no token or internal context value in the server log (log_statement, log_min_duration_statement, auto_explain) or pg_stat_statements"
echo "all ok"
