# Helpers of the operations tests (test/shell/ops_*.sh): extra clusters
# next to the test cluster, and the multitenant state those tests carry
# through pg_upgrade, pg_dump/pg_restore and pg_basebackup.
# Source after test/lib.sh.
#
# Extra clusters live in $MT_ROOT/ops/<name> (data/, sock/, server.log) and
# take ports MT_PORT+1..+5; ops_cleanup (call it from the test's EXIT trap)
# stops them and removes the directory.  Each extra cluster is initialised
# like cluster_init's (initdb options and settings) with the library
# preloaded.

OPS_ROOT=$MT_ROOT/ops

# ops_init <name> <port>: initdb a cluster and configure it (not started)
ops_init() {
    local d=$OPS_ROOT/$1
    rm -rf "$d"
    mkdir -p "$d/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$OPS_ROOT"
    as_pg "$MT_PGBIN/initdb" -D "$d/data" -U postgres --auth=trust \
        --data-checksums -E UTF8 --locale=C >"$d/initdb.log" 2>&1 || {
        cat "$d/initdb.log"; return 1; }
    ops_conf "$1" "$2"
}

# ops_conf <name> <port>: point a data directory at its own port and socket
# directory, library preloaded (appended: the last setting wins)
ops_conf() {
    local d=$OPS_ROOT/$1
    mkdir -p "$d/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$d/sock"
    echo "$2" >"$d/port"
    cat >>"$d/data/postgresql.conf" <<CONF
port = $2
listen_addresses = ''
unix_socket_directories = '$d/sock'
shared_preload_libraries = 'multitenant'
max_connections = 50
max_worker_processes = 16
log_min_messages = warning
CONF
}

ops_start() {
    local d=$OPS_ROOT/$1
    as_pg "$MT_PGBIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 start >/dev/null || {
        tail -20 "$d/server.log"; return 1; }
}

ops_stop() {
    as_pg "$MT_PGBIN/pg_ctl" -D "$OPS_ROOT/$1/data" -w -t 60 -m fast stop >/dev/null
}

# ops_env <name>: PGHOST/PGPORT of that cluster (for a subshell or a prefix)
ops_host() { echo "$OPS_ROOT/$1/sock"; }
ops_port() { cat "$OPS_ROOT/$1/port"; }

# ops_psql <name> <psql args...>: mt_psql against that cluster
ops_psql() {
    local n=$1
    shift
    PGHOST=$(ops_host "$n") PGPORT=$(ops_port "$n") mt_psql "$@"
}

ops_cleanup() {
    local d
    for d in "$OPS_ROOT"/*/data; do
        [ -f "$d/postmaster.pid" ] &&
            as_pg "$MT_PGBIN/pg_ctl" -D "$d" -w -m immediate stop >/dev/null 2>&1
    done
    rm -rf "$OPS_ROOT"
}

# ops_populate <name> <db>: in that (running) cluster, create the roles
# mt_ops_app (an application role: no superuser, no BYPASSRLS) and
# mt_ops_auditor, the database <db>, and in it the state an operator must
# not lose: two tenants, API keys, a context token, an isolated table and
# an auto_isolate schema (with a table isolated at creation), usage
# (flushed), audit chains with a checkpoint left by mt.audit_prune and
# details encrypted under a subject key, consents, a GDPR request, a
# retention policy, a subject registration and a grant of an audit function.
# Writes the ids, keys and token to $OPS_ROOT/state.env (ops_check reads it).
ops_populate() {
    local n=$1 db=$2 acme globex
    ops_psql "$n" -d postgres >/dev/null <<SQL
CREATE ROLE mt_ops_app LOGIN;
CREATE ROLE mt_ops_auditor LOGIN;
CREATE DATABASE $db;
SQL
    ops_psql "$n" -d "$db" -c "CREATE EXTENSION multitenant" >/dev/null
    acme=$(ops_psql "$n" -d "$db" -c "SELECT mt.create_tenant('Acme', 'acme', 'pro')")
    globex=$(ops_psql "$n" -d "$db" -c "SELECT mt.create_tenant('Globex', 'globex')")
    {
        echo "acme=$acme"
        echo "globex=$globex"
        echo "key_acme=$(ops_psql "$n" -d "$db" -c "SELECT mt.create_api_key('$acme', 'ci', '{read}')")"
        echo "key_globex=$(ops_psql "$n" -d "$db" -c "SELECT mt.create_api_key('$globex', 'ci')")"
        echo "tok_acme=$(ops_psql "$n" -d "$db" -c "SELECT mt.tenant_token('$acme', '2 hours')")"
    } >"$OPS_ROOT/state.env"
    ops_psql "$n" -d "$db" >/dev/null <<SQL
GRANT EXECUTE ON FUNCTION mt.audit_verify(uuid, jsonb),
    mt.audit_search_tenant(uuid, timestamptz, timestamptz, text, text, text, text, text, bigint, integer, boolean)
  TO mt_ops_auditor;
CREATE TABLE orders (id int, amount numeric, email text, created_at timestamptz NOT NULL DEFAULT now());
SELECT mt.enable_isolation('orders');
CREATE INDEX ON orders (tenant_id, email);
SELECT mt.register_subject('orders', 'email');
SELECT mt.set_retention('orders', 'created_at', '1 year');
GRANT SELECT, INSERT ON orders TO mt_ops_app;
CREATE SCHEMA crm;
GRANT USAGE ON SCHEMA crm TO mt_ops_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA crm GRANT SELECT, INSERT ON TABLES TO mt_ops_app;
SELECT mt.auto_isolate('crm');
CREATE TABLE crm.contacts (id int, tenant_id uuid, email text);
BEGIN;
SELECT mt.set_tenant('$acme');
INSERT INTO orders (id, amount, email) VALUES (1, 10, 'alice@example.com'), (2, 20, 'bob@example.com');
INSERT INTO crm.contacts (id, email) VALUES (1, 'alice@example.com');
SELECT mt.audit('order.created', 'order', '1', '{"amount": 10}');
SELECT mt.audit('order.created', 'order', '2', '{"amount": 20}');
COMMIT;
-- a checkpoint: the two events above are pruned, the chain verifies from it
SELECT mt.audit_prune('0 seconds', '$acme');
BEGIN;
SELECT mt.set_tenant('$acme');
SELECT mt.audit('customer.updated', 'customer', 'alice', '{"email": "alice@example.com"}', 'alice');
SELECT mt.track('calls', 7);
SELECT mt.record_consent('alice', 'marketing', true);
SELECT mt.gdpr_request('alice', 'access');
COMMIT;
BEGIN;
SELECT mt.set_tenant('$globex');
INSERT INTO orders (id, amount, email) VALUES (3, 99, 'carol@example.com');
SELECT mt.audit('order.created', 'order', '3', '{"amount": 99}', 'carol');
SELECT mt.track('calls', 2);
COMMIT;
SELECT mt.flush_usage();
SQL
}

# ops_q <name> <db> <sql>: one value
ops_q() { ops_psql "$1" -d "$2" -c "$3"; }

# ops_app <name> <db> <sql...>: run statements as the application role in
# one transaction; prints the output of the last one
ops_app() {
    local n=$1 db=$2 args=() s
    shift 2
    for s in "BEGIN" "$@" "COMMIT"; do args+=(-c "$s"); done
    ops_psql "$n" -U mt_ops_app -d "$db" "${args[@]}" | tail -n 1
}

# ops_check <name> <db>: the state ops_populate wrote works in that
# cluster (which holds the original server secret): keys authenticate and
# the token is accepted, isolation is enforced (generated policies,
# defaults, FORCE RLS; another tenant and no tenant see nothing), chains
# verify, encrypted details read back, usage, consents, requests,
# retention, checkpoints and grants are there, the event triggers exist and
# fire, and new keys and audit events work.
ops_check() {
    local n=$1 db=$2 got
    . "$OPS_ROOT/state.env"
    q() { ops_q "$n" "$db" "$1"; }

    got=$(ops_app "$n" "$db" "SELECT mt.authenticate('$key_acme')")
    [ "$got" = "$acme" ] || fail "$n/$db: Acme's API key does not authenticate: $got"
    got=$(ops_app "$n" "$db" "SELECT mt.authenticate('$key_acme')" "SELECT string_agg(id::text, ',' ORDER BY id) FROM orders")
    [ "$got" = "1,2" ] || fail "$n/$db: Acme sees orders '$got', expected 1,2"
    got=$(ops_app "$n" "$db" "SELECT mt.authenticate('$key_globex')" "SELECT string_agg(id::text, ',' ORDER BY id) FROM orders")
    [ "$got" = "3" ] || fail "$n/$db: Globex sees orders '$got', expected only its own (3)"
    got=$(ops_app "$n" "$db" "SELECT mt.authenticate('$key_globex')" "SELECT count(*) FROM crm.contacts")
    [ "$got" = 0 ] || fail "$n/$db: Globex sees $got of Acme's contacts"
    got=$(ops_app "$n" "$db" "SELECT count(*) FROM orders")
    [ "$got" = 0 ] || fail "$n/$db: without a tenant context the app role sees $got orders"
    # the token travels as a startup option, never in statement text
    got=$(PGOPTIONS="-c mt_ops.tok=$tok_acme" ops_app "$n" "$db" \
        "SELECT set_config('multitenant.token', current_setting('mt_ops.tok'), true) IS NOT NULL" \
        "SELECT mt.current_tenant()")
    [ "$got" = "$acme" ] || fail "$n/$db: the token minted before does not enter Acme: $got"
    echo "ok: $n/$db: keys and token authenticate, isolation enforced"

    [ "$(q "SELECT count(*) FROM mt.isolation_status() WHERE isolated AND rls_enabled AND rls_forced AND policies_ok AND cardinality(issues) = 0 AND tbl IN ('orders'::regclass, 'crm.contacts'::regclass)")" = 2 ] \
        || fail "$n/$db: isolation status: $(q "SELECT string_agg(tbl || ' ' || issues::text, '; ') FROM mt.isolation_status()")"
    [ "$(q "SELECT count(*) FROM pg_policy WHERE polrelid IN ('orders'::regclass, 'crm.contacts'::regclass)")" -gt 0 ] \
        || fail "$n/$db: the generated policies are missing"
    [ "$(q "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = 'crm.contacts'::regclass AND a.attname = 'tenant_id'")" = "mt.current_tenant()" ] \
        || fail "$n/$db: the generated tenant_id default is missing"
    [ "$(q "SELECT count(*) FROM pg_event_trigger WHERE evtname IN ('mt_ddl_guard', 'mt_ddl_isolate_new', 'mt_ddl_forget_dropped', 'mt_gdpr_forget_dropped') AND evtenabled = 'O'")" = 4 ] \
        || fail "$n/$db: event triggers missing or disabled: $(q "SELECT string_agg(evtname || '=' || evtenabled, ', ') FROM pg_event_trigger")"
    q "CREATE TABLE crm.notes (id int, tenant_id uuid, body text)" >/dev/null
    [ "$(q "SELECT count(*) FROM mt.isolated_tables WHERE tbl = 'crm.notes'::regclass")" = 1 ] \
        || fail "$n/$db: a table created in an auto_isolate schema is not isolated (event trigger)"
    ops_app "$n" "$db" "SELECT mt.authenticate('$key_acme')" "INSERT INTO crm.notes (id, body) VALUES (1, 'x')" >/dev/null
    got=$(ops_app "$n" "$db" "SELECT mt.authenticate('$key_globex')" "SELECT count(*) FROM crm.notes")
    [ "$got" = 0 ] || fail "$n/$db: Globex sees $got rows of Acme's new table"
    got=$(ops_app "$n" "$db" "SELECT mt.authenticate('$key_acme')" "SELECT count(*) FROM crm.notes")
    [ "$got" = 1 ] || fail "$n/$db: Acme does not see its row of the new table ($got)"
    echo "ok: $n/$db: policies, defaults, event triggers present; a new table in crm is isolated"

    [ "$(q "SELECT bool_and(ok) AND count(*) >= 2 FROM mt.audit_verify()")" = t ] \
        || fail "$n/$db: audit chains do not verify: $(q "SELECT string_agg(tenant_id || ' ' || ok || ' ' || coalesce(problem, ''), '; ') FROM mt.audit_verify()")"
    [ "$(q "SELECT count(*) FROM mt.audit_checkpoints WHERE tenant_id = '$acme'")" -ge 1 ] \
        || fail "$n/$db: the audit_prune checkpoint is missing"
    got=$(ops_psql "$n" -U mt_ops_auditor -d "$db" -c \
        "SELECT details->>'email', details_state FROM mt.audit_search_tenant('$acme', subject => 'alice')")
    [ "$got" = "alice@example.com|decrypted" ] || fail "$n/$db: the encrypted audit details do not read back: $got"
    [ "$(ops_psql "$n" -U mt_ops_auditor -d "$db" -c "SELECT bool_and(ok) FROM mt.audit_verify('$acme')")" = t ] \
        || fail "$n/$db: the auditor's grant or Acme's chain is lost"
    [ "$(q "SELECT count(*) FROM mt.audit_export_tenant('$acme')")" -ge 3 ] \
        || fail "$n/$db: audit_export_tenant lost rows"
    echo "ok: $n/$db: chains verify (with the prune checkpoint), encrypted details read back, the auditor's grant works"

    [ "$(q "SELECT used FROM mt.usage('$acme') WHERE metric = 'calls'")" = 7 ] || fail "$n/$db: Acme's usage lost"
    [ "$(q "SELECT used FROM mt.usage('$globex') WHERE metric = 'calls'")" = 2 ] || fail "$n/$db: Globex's usage lost"
    got=$(ops_app "$n" "$db" "SELECT mt.authenticate('$key_acme')" "SELECT mt.has_consent('alice', 'marketing')")
    [ "$got" = t ] || fail "$n/$db: consent lost ($got)"
    [ "$(q "SELECT count(*) FROM mt.gdpr_requests WHERE tenant_id = '$acme' AND kind = 'access'")" = 1 ] || fail "$n/$db: GDPR request lost"
    [ "$(q "SELECT count(*) FROM mt.retention_policies WHERE tbl = 'orders'::regclass")" = 1 ] || fail "$n/$db: retention policy lost"
    [ "$(q "SELECT count(*) FROM mt.subject_tables WHERE tbl = 'orders'::regclass")" = 1 ] || fail "$n/$db: subject registration lost"
    [ "$(q "SELECT status FROM mt.run_compliance_checks() WHERE check_id = 'MT-PRIV-002'")" = pass ] \
        || fail "$n/$db: MT-PRIV-002: $(q "SELECT details FROM mt.compliance_checks WHERE check_id = 'MT-PRIV-002' ORDER BY id DESC LIMIT 1")"
    echo "ok: $n/$db: usage, consents, requests, retention, subjects there; MT-PRIV-002 passes"

    # and the restored state keeps working: a new key, a new event that chains on
    got=$(q "SELECT mt.create_api_key('$acme', 'after')")
    [ "$(ops_app "$n" "$db" "SELECT mt.authenticate('$got')")" = "$acme" ] || fail "$n/$db: a new key does not authenticate"
    ops_app "$n" "$db" "SELECT mt.authenticate('$key_acme')" \
        "SELECT mt.audit('after.restore', NULL, NULL, '{\"k\": 1}', 'alice')" >/dev/null
    [ "$(q "SELECT bool_and(ok) FROM mt.audit_verify('$acme')")" = t ] || fail "$n/$db: the chain does not verify after a new event"
    echo "ok: $n/$db: new keys and new events work"
}

# ops_check_without_secret <name> <db>: that cluster started with a secret
# of its own (the original one was not copied): the keys and the token are
# refused (prints the errors it saw)
ops_check_without_secret() {
    local n=$1 db=$2 got
    . "$OPS_ROOT/state.env"
    got=$(ops_psql "$n" -U mt_ops_app -d "$db" -v VERBOSITY=verbose -c "SELECT mt.authenticate('$key_acme')" 2>&1) \
        && fail "$n/$db: without the secret file Acme's key still authenticates: $got"
    case $got in *28000*) ;; *) fail "$n/$db: without the secret file the key fails, but not with 28000: $got" ;; esac
    echo "ok: $n/$db without the secret: the key is refused: $(echo "$got" | head -1)"
    got=$(PGOPTIONS="-c mt_ops.tok=$tok_acme" ops_psql "$n" -U mt_ops_app -d "$db" -v VERBOSITY=verbose \
        -c "SELECT set_config('multitenant.token', current_setting('mt_ops.tok'), false)" 2>&1) \
        && fail "$n/$db: without the secret file the token is accepted: $got"
    echo "ok: $n/$db without the secret: the token is refused: $(echo "$got" | head -1)"
}
