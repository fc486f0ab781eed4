# Helpers of the operations tests (test/shell/ops_*.sh): extra clusters
# next to the test cluster, and the multitenant state those tests carry
# through pg_upgrade, pg_dump/pg_restore and pg_basebackup.
# Source after test/lib.sh.
#
# Extra clusters live in $MT_ROOT/ops/<name> (data/, sock/, server.log) and
# take ports MT_PORT+1..+5; ops_cleanup (call it from the test's EXIT trap)
# stops them and removes the directory.  Each extra cluster is initialised
# with the initdb options doc/operations.md shows (and cluster_init uses),
# the library preloaded; test-only on top: --auth=trust, --no-sync and
# fsync = off (throwaway clusters on a shared machine).

OPS_ROOT=$MT_ROOT/ops

# ops_init <name> <port>: initdb a cluster and configure it (not started)
ops_init() {
    local d=$OPS_ROOT/$1
    rm -rf "$d"
    mkdir -p "$d/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$OPS_ROOT"
    as_pg "$MT_PGBIN/initdb" -D "$d/data" -U postgres --data-checksums -E UTF8 --locale=C \
        --auth=trust --no-sync >"$d/initdb.log" 2>&1 || {
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
fsync = off
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
# an auto_isolate schema (with a table isolated at creation), a third tenant
# at the schema level (mt.provision_schema, a row in its schema), usage
# (flushed), audit chains with a checkpoint left by mt.audit_prune and
# details encrypted under a subject key, consents, a GDPR request, a
# retention policy, a subject registration and a grant of an audit function.
# Writes the ids, keys and token to $OPS_ROOT/state.env (ops_check reads it).
ops_populate() {
    local n=$1 db=$2 acme globex initech
    ops_psql "$n" -d postgres >/dev/null <<SQL
CREATE ROLE mt_ops_app LOGIN;
CREATE ROLE mt_ops_auditor LOGIN;
CREATE DATABASE $db;
SQL
    ops_psql "$n" -d "$db" -c "CREATE EXTENSION multitenant" >/dev/null
    acme=$(ops_psql "$n" -d "$db" -c "SELECT mt.create_tenant('Acme', 'acme', 'pro')")
    globex=$(ops_psql "$n" -d "$db" -c "SELECT mt.create_tenant('Globex', 'globex')")
    initech=$(ops_psql "$n" -d "$db" -c "SELECT mt.create_tenant('Initech', 'initech', 'pro')")
    {
        echo "db_orig=$db"
        echo "acme=$acme"
        echo "globex=$globex"
        echo "initech=$initech"
        echo "key_initech=$(ops_psql "$n" -d "$db" -c "SELECT mt.create_api_key('$initech', 'ci')")"
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
-- Initech (plan pro) at the schema level (a tenant placed in a schema has
-- no rows in the shared tables: they refuse its context)
CREATE SCHEMA app_tmpl;
CREATE TABLE app_tmpl.docs (id serial PRIMARY KEY, body text NOT NULL);
GRANT USAGE ON SCHEMA app_tmpl TO mt_ops_app;
GRANT SELECT, INSERT ON app_tmpl.docs TO mt_ops_app;
GRANT USAGE ON SEQUENCE app_tmpl.docs_id_seq TO mt_ops_app;
SELECT mt.provision_schema('$initech', 'app_tmpl');
BEGIN;
SELECT mt.set_tenant('$initech');
INSERT INTO tenant_initech.docs (body) VALUES ('initech doc');
COMMIT;
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
    # the source's key fingerprints, which a target must show before cut-over
    echo "fingerprints='$(ops_psql "$n" -d "$db" -c "$OPS_FINGERPRINTS")'" >>"$OPS_ROOT/state.env"
}

# every key version with the fingerprint this server derives (doc/operations.md)
OPS_FINGERPRINTS="SELECT string_agg(purpose || ' v' || version || ' ' || coalesce(fingerprint, 'none'), ', ' ORDER BY purpose, version) FROM mt.secret_fingerprints()"

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
# fire, and new keys and audit events work.  Few sessions: each prints
# "label=value" lines that val() reads.
ops_check() {
    local n=$1 db=$2 out got newkey
    . "$OPS_ROOT/state.env"
    val() { echo "$out" | sed -n "s/^$1=//p"; }
    expect() {   # expect <label> <value> <what failed>
        [ "$(val "$1")" = "$2" ] || fail "$n/$db: $3 ($1 = '$(val "$1")', expected '$2')"
    }

    # the application role: keys, isolation, consent, the token (passed as a
    # startup option, never in statement text)
    out=$(PGOPTIONS="-c mt_ops.tok=$tok_acme" ops_psql "$n" -U mt_ops_app -d "$db" 2>&1 <<SQL
BEGIN;
SELECT 'auth_acme=' || mt.authenticate('$key_acme');
SELECT 'orders_acme=' || coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM orders;
SELECT 'consent=' || mt.has_consent('alice', 'marketing');
COMMIT;
BEGIN;
SELECT 'auth_initech=' || mt.authenticate('$key_initech');
SELECT 'docs_initech=' || count(*) FROM tenant_initech.docs;
SELECT 'route_initech=' || level || '/' || schema_name FROM mt.route();
COMMIT;
BEGIN;
SELECT 'auth_globex=' || mt.authenticate('$key_globex');
SELECT 'orders_globex=' || coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM orders;
SELECT 'contacts_globex=' || count(*) FROM crm.contacts;
SELECT 'docs_globex=' || count(*) FROM tenant_initech.docs;
COMMIT;
SELECT 'orders_none=' || count(*) FROM orders;
BEGIN;
SELECT set_config('multitenant.token', current_setting('mt_ops.tok'), true) IS NULL;
SELECT 'token=' || mt.current_tenant();
COMMIT;
SQL
) || true
    expect auth_acme "$acme" "Acme's API key does not authenticate: $out"
    expect orders_acme "1,2" "Acme does not see exactly its orders"
    expect auth_globex "$globex" "Globex's API key does not authenticate"
    expect orders_globex "3" "Globex does not see exactly its own orders"
    expect auth_initech "$initech" "Initech's API key does not authenticate"
    expect docs_initech 1 "Initech does not see its row of its tenant schema"
    expect route_initech "schema/tenant_initech" "Initech's placement (mt.route) is lost"
    expect docs_globex 0 "Globex sees Initech's tenant schema rows"
    expect contacts_globex 0 "Globex sees Acme's contacts"
    expect orders_none 0 "without a tenant context the app role sees orders"
    expect consent true "consent lost"
    # the token's audience is the database name: under another name it is refused
    if [ "$db" = "$db_orig" ]; then
        expect token "$acme" "the token minted before does not enter Acme: $out"
    else
        case $out in *"audience does not include this database"*) ;;
            *) fail "$n/$db: a token minted for $db_orig: $out" ;; esac
        echo "ok: $n/$db: a token minted for database $db_orig is refused here (audience)"
    fi
    echo "ok: $n/$db: keys and token authenticate, isolation enforced, consent there"

    # a superuser: catalogs, chains, the rest of the state; the checks
    # doc/operations.md ("After any restore") gives; a table created in the
    # auto_isolate schema
    out=$(ops_psql "$n" -d "$db" 2>&1 <<SQL
SELECT 'isolated=' || count(*) FROM mt.isolation_status()
 WHERE isolated AND rls_enabled AND rls_forced AND policies_ok AND cardinality(issues) = 0
   AND tbl IN ('orders'::regclass, 'crm.contacts'::regclass);
SELECT 'issues=' || coalesce(string_agg(tbl || ' ' || issues::text, '; '), '')
  FROM (SELECT tbl, issues FROM mt.isolation_status() WHERE cardinality(issues) > 0) i;
SELECT 'policies=' || (count(*) > 0) FROM pg_policy WHERE polrelid IN ('orders'::regclass, 'crm.contacts'::regclass);
SELECT 'default=' || pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
  JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
 WHERE d.adrelid = 'crm.contacts'::regclass AND a.attname = 'tenant_id';
SELECT 'evt=' || string_agg(evtname || ':' || evtenabled::text, ',' ORDER BY evtname)
  FROM (SELECT evtname, evtenabled FROM pg_event_trigger WHERE evtname LIKE 'mt\_%') e;
CREATE TABLE crm.notes (id int, tenant_id uuid, body text);
SELECT 'notes_isolated=' || count(*) FROM mt.isolated_tables WHERE tbl = 'crm.notes'::regclass;
CREATE TABLE tenant_initech.later (id int);
SELECT 'later_bound=' || count(*) FROM pg_policy WHERE polrelid = 'tenant_initech.later'::regclass;
SELECT 'docs_status=' || count(*) FROM mt.isolation_status() WHERE tbl = 'tenant_initech.docs'::regclass
   AND isolated AND rls_forced AND policies_ok AND cardinality(issues) = 0;
SELECT 'verify=' || (bool_and(ok) AND count(*) >= 2) FROM mt.audit_verify();
SELECT 'checkpoints=' || (count(*) >= 1) FROM mt.audit_checkpoints WHERE tenant_id = '$acme';
SELECT 'export=' || (count(*) >= 3) FROM mt.audit_export_tenant('$acme');
SELECT 'usage_acme=' || used FROM mt.usage('$acme') WHERE metric = 'calls';
SELECT 'usage_globex=' || used FROM mt.usage('$globex') WHERE metric = 'calls';
SELECT 'requests=' || count(*) FROM mt.gdpr_requests WHERE tenant_id = '$acme' AND kind = 'access';
SELECT 'retention=' || count(*) FROM mt.retention_policies WHERE tbl = 'orders'::regclass;
SELECT 'subjects=' || count(*) FROM mt.subject_tables WHERE tbl = 'orders'::regclass;
SELECT 'priv002=' || status FROM mt.run_compliance_checks() WHERE check_id = 'MT-PRIV-002';
SELECT 'newkey=' || mt.create_api_key('$acme', 'after');
SQL
) || fail "$n/$db: $out"
    expect isolated 2 "orders and crm.contacts are not fully isolated"
    expect issues "" "isolation issues"
    expect policies true "the generated policies are missing"
    expect default "mt.current_tenant()" "the generated tenant_id default is missing"
    expect evt "mt_ddl_forget_dropped:O,mt_ddl_guard:O,mt_ddl_isolate_new:O,mt_drop_guard:A,mt_gdpr_forget_dropped:O,mt_tenant_schema_dropped:O,mt_tenant_schema_guard:O,mt_tenant_schema_protect_new:O" \
        "event triggers missing or disabled"
    expect later_bound 2 "a table created in a tenant schema is not bound to its tenant (event trigger)"
    expect docs_status 1 "the tenant schema's table is not intact in mt.isolation_status()"
    expect notes_isolated 1 "a table created in an auto_isolate schema is not isolated (event trigger)"
    expect verify true "audit chains do not verify: $(ops_q "$n" "$db" "SELECT string_agg(tenant_id || ' ' || ok || ' ' || coalesce(problem, ''), '; ') FROM mt.audit_verify()")"
    expect checkpoints true "the audit_prune checkpoint is missing"
    expect export true "audit_export_tenant lost rows"
    expect usage_acme 7 "Acme's usage lost"
    expect usage_globex 2 "Globex's usage lost"
    expect requests 1 "GDPR request lost"
    expect retention 1 "retention policy lost"
    expect subjects 1 "subject registration lost"
    expect priv002 pass "MT-PRIV-002: $(ops_q "$n" "$db" "SELECT details FROM mt.compliance_checks WHERE check_id = 'MT-PRIV-002' ORDER BY id DESC LIMIT 1")"
    newkey=$(val newkey)
    echo "ok: $n/$db: policies, defaults, event triggers present; a new table in crm is isolated, one in a tenant schema bound"
    echo "ok: $n/$db: chains verify (with the prune checkpoint); usage, requests, retention, subjects there; MT-PRIV-002 passes"

    # the auditor's grant, encrypted details read back
    out=$(ops_psql "$n" -U mt_ops_auditor -d "$db" 2>&1 <<SQL
SELECT 'details=' || (details->>'email') || ',' || details_state FROM mt.audit_search_tenant('$acme', subject => 'alice');
SELECT 'verify=' || bool_and(ok) FROM mt.audit_verify('$acme');
SQL
) || fail "$n/$db: auditor: $out"
    expect details "alice@example.com,decrypted" "the encrypted audit details do not read back"
    [ "$(ops_q "$n" "$db" "$OPS_FINGERPRINTS")" = "$fingerprints" ] \
        || fail "$n/$db: key fingerprints differ from the source's: $(ops_q "$n" "$db" "$OPS_FINGERPRINTS") vs $fingerprints"
    [ "$(ops_q "$n" "$db" "SELECT string_agg(check_id || '=' || status, ',' ORDER BY check_id) FROM mt.run_compliance_checks() WHERE check_id LIKE 'MT-SEC-%'")" \
        = "MT-SEC-001=pass,MT-SEC-002=pass" ] || fail "$n/$db: MT-SEC checks do not pass with the secret copied"
    expect verify true "the auditor's grant or Acme's chain is lost"
    echo "ok: $n/$db: encrypted details read back, the auditor's grant works"

    # the restored state keeps working: the new table, a new key, a new
    # event that chains on
    out=$(ops_psql "$n" -U mt_ops_app -d "$db" 2>&1 <<SQL
BEGIN;
SELECT mt.authenticate('$key_acme') IS NULL;
INSERT INTO crm.notes (id, body) VALUES (1, 'x');
SELECT mt.audit('after.restore', NULL, NULL, '{"k": 1}', 'alice') IS NULL;
COMMIT;
BEGIN;
SELECT mt.authenticate('$key_globex') IS NULL;
SELECT 'notes_globex=' || count(*) FROM crm.notes;
COMMIT;
BEGIN;
SELECT 'newkey=' || mt.authenticate('$newkey');
SELECT 'notes_acme=' || count(*) FROM crm.notes;
COMMIT;
SQL
) || fail "$n/$db: $out"
    expect notes_globex 0 "Globex sees rows of Acme's new table"
    expect newkey "$acme" "a new key does not authenticate"
    expect notes_acme 1 "Acme does not see its row of the new table"
    [ "$(ops_q "$n" "$db" "SELECT bool_and(ok) FROM mt.audit_verify('$acme')")" = t ] \
        || fail "$n/$db: the chain does not verify after a new event"
    echo "ok: $n/$db: new tables, keys and events work"
}

# ops_check_without_secret <name> <db>: that cluster started with a secret
# of its own (the original one was not copied): the keys and the token are
# refused (28000), encrypted audit details read as undecryptable, the key
# fingerprints differ from the source's and MT-SEC-001/002 flag it, a
# search by subject finds nothing, the chains (plain SHA-256, no secret in
# them) still verify; prints the errors
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
    case $got in *28000*"invalid tenant token"*) ;; *) fail "$n/$db: without the secret file the token fails, but not with 28000: $got" ;; esac
    echo "ok: $n/$db without the secret: the token is refused: $(echo "$got" | head -1)"
    got=$(ops_q "$n" "$db" "SELECT coalesce(details::text, 'null') || ',' || details_state FROM mt.audit_search_tenant('$acme') WHERE action = 'customer.updated'" 2>&1) \
        || fail "$n/$db: without the secret file the audit search fails: $got"
    [ "$got" = "null,undecryptable" ] || fail "$n/$db: encrypted details without the secret: $got"
    echo "ok: $n/$db without the secret: encrypted details are marked undecryptable, the search still answers"
    # before cut-over the operator sees the difference: fingerprints and compliance
    [ "$(ops_q "$n" "$db" "$OPS_FINGERPRINTS")" != "$fingerprints" ] \
        || fail "$n/$db: without the secret file the fingerprints equal the source's"
    [ "$(ops_q "$n" "$db" "SELECT string_agg(check_id || '=' || status, ',' ORDER BY check_id) FROM mt.run_compliance_checks() WHERE check_id LIKE 'MT-SEC-%'")" \
        = "MT-SEC-001=warn,MT-SEC-002=fail" ] || fail "$n/$db: MT-SEC checks do not flag the missing secret"
    echo "ok: $n/$db without the secret: mt.secret_fingerprints() differs from the source, MT-SEC-001 warns, MT-SEC-002 fails"
    # the subject filter finds a subject's events through a keyed lookup: nothing
    [ "$(ops_q "$n" "$db" "SELECT count(*) FROM mt.audit_search_tenant('$acme', subject => 'alice')")" = 0 ] \
        || fail "$n/$db: without the secret file the subject filter still finds events"
    [ "$(ops_q "$n" "$db" "SELECT bool_and(ok) FROM mt.audit_verify()")" = t ] \
        || fail "$n/$db: without the secret file the chains do not verify (they do not depend on it)"
    echo "ok: $n/$db without the secret: the chains still verify"
}
