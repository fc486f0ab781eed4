#!/usr/bin/env bash
# Every function of the extension on a hot standby and in a read-only
# transaction on the primary: it works (and returns what the primary would),
# or it is refused with ONE error: SQLSTATE 25006, a message naming the
# function, a hint naming the primary (standby) or a read-write transaction,
# and no CONTEXT line (no internal SQL ran).  Trigger functions are refused
# as on the primary (39P01: they only run as triggers, and nothing fires on
# a standby).  The matrix below is the contract; doc/operations.md, section
# "Hot standby", shows the same table, and pg_proc of the extension must
# list exactly the functions of the matrix (a new function needs a row).
#
# Then: mt.authenticate on the standby counts nothing (no api_calls, no
# last-use time that a promotion would write later; the throttle is that
# server's own, in memory), mt.audit_digest records a digest only where it
# can write, and a promoted standby meters and flushes: mt.track and
# mt.consume count (also in a session opened before the promotion), the
# flush worker writes mt.usage_rollup and API keys' last-use times.
#
# The standby is a streaming replica (pg_basebackup -R) of the test cluster
# on port MT_PORT+2 in $MT_ROOT/standby-matrix, removed by the trap.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_standby_matrix
sb_port=$((MT_PORT + 2))
sb_root=$MT_ROOT/standby-matrix

cleanup() {
    sb_session_stop
    standby_stop
    rm -rf "$sb_root"
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# The matrix: function | on a hot standby | in a read-only transaction on the
# primary | the call.  "works": every line the call prints is t.  "refuses":
# 25006 as described above.  "trigger": 39P01 (called directly).  Each call
# runs in a new session, first in Acme's context (mt.set_tenant), with the
# psql variables set below (:'acme', :'key', ...).
# ---------------------------------------------------------------------------
matrix=$(cat <<'EOF'
current_tenant             | works   | works   | SELECT mt.current_tenant() = :'acme'
require_tenant             | works   | works   | SELECT mt.require_tenant() = :'acme'
current_subject            | works   | works   | BEGIN; SELECT set_config('multitenant.token', mt.tenant_token(:'acme', '1 hour', 'bob', 'viewer'), true) IS NOT NULL; SELECT mt.current_subject() = 'bob'; COMMIT;
current_tenant_role        | works   | works   | BEGIN; SELECT set_config('multitenant.token', mt.tenant_token(:'acme', '1 hour', 'bob', 'viewer'), true) IS NOT NULL; SELECT mt.current_tenant_role() = 'viewer'; COMMIT;
tenant_token               | works   | works   | BEGIN; SELECT set_config('multitenant.token', mt.tenant_token(:'globex'), true) IS NOT NULL; SELECT mt.current_tenant() = :'globex'; COMMIT;
set_tenant                 | works   | works   | SELECT mt.set_tenant(:'globex') = :'globex'
create_tenant              | refuses | refuses | SELECT mt.create_tenant('Initech', 'initech') IS NOT NULL
suspend_tenant             | refuses | refuses | SELECT mt.suspend_tenant(:'globex') IS NOT NULL
resume_tenant              | refuses | refuses | SELECT mt.resume_tenant(:'globex') IS NOT NULL
drop_tenant                | refuses | refuses | SELECT mt.drop_tenant(:'globex') IS NOT NULL
tenants_changed            | trigger | trigger | SELECT mt.tenants_changed() IS NOT NULL
enable_isolation           | refuses | refuses | SELECT mt.enable_isolation('public.notes') IS NOT NULL
disable_isolation          | refuses | refuses | SELECT mt.disable_isolation('public.orders') IS NOT NULL
auto_isolate               | refuses | refuses | SELECT mt.auto_isolate('public') IS NOT NULL
stop_auto_isolate          | refuses | refuses | SELECT mt.stop_auto_isolate('public') IS NOT NULL
isolation_status           | works   | works   | SELECT isolated AND policies_ok AND cardinality(issues) = 0 FROM mt.isolation_status() WHERE tbl = 'public.orders'::regclass
ddl_guard                  | trigger | trigger | SELECT mt.ddl_guard() IS NOT NULL
ddl_isolate_new            | trigger | trigger | SELECT mt.ddl_isolate_new() IS NOT NULL
ddl_forget_dropped         | trigger | trigger | SELECT mt.ddl_forget_dropped() IS NOT NULL
verify_api_key             | works   | works   | SELECT tenant_id = :'acme' AND key_id = :'key_id' AND scopes = '{read}' FROM mt.verify_api_key(:'key')
authenticate               | works   | works   | SELECT mt.authenticate(:'key') = :'acme'
require_scope              | works   | works   | BEGIN; SELECT mt.authenticate(:'key') = :'acme'; SELECT true FROM (SELECT mt.require_scope('read')) s; COMMIT;
has_scope                  | works   | works   | BEGIN; SELECT mt.authenticate(:'key') = :'acme'; SELECT mt.has_scope('read') AND NOT mt.has_scope('write'); COMMIT;
api_key_id                 | works   | works   | SELECT mt.api_key_id(:'key') = :'key_id'
create_api_key             | refuses | refuses | SELECT mt.create_api_key(:'acme', 'made on a standby') IS NOT NULL
revoke_api_key             | refuses | refuses | SELECT mt.revoke_api_key(:'key2_id')
rotate_api_key             | refuses | refuses | SELECT mt.rotate_api_key(:'key2_id', '1 day') IS NOT NULL
flush_api_key_usage        | refuses | refuses | SELECT mt.flush_api_key_usage() >= 0
api_key_throttle           | works   | works   | SELECT count(*) = 0 FROM mt.verify_api_key('mt_live_not-a-key'); SELECT count(*) = 1 FROM mt.api_key_throttle() WHERE key_id IS NULL AND failures >= 1
reset_api_key_throttle     | works   | works   | SELECT count(*) = 0 FROM mt.verify_api_key('mt_live_not-a-key'); SELECT mt.reset_api_key_throttle() >= 1; SELECT count(*) = 0 FROM mt.api_key_throttle()
track                      | refuses | works   | SELECT mt.track('ro_calls') >= 1
consume                    | refuses | works   | SELECT mt.consume('ro_calls') >= 1
usage                      | works   | works   | SELECT used = 5 FROM mt.usage() WHERE metric = 'exports'
usage_history              | works   | works   | SELECT sum(value) = 5 FROM mt.usage_history(:'acme', 'exports', granularity => 'hour')
usage_cost                 | works   | works   | SELECT count(*) = 1 FROM mt.usage_cost(:'acme') WHERE item = 'total'
rate_limit                 | works   | works   | SELECT mt.rate_limit(:'bucket', 0.001, 1); SELECT NOT mt.rate_limit(:'bucket', 0.001, 1)
set_quota                  | refuses | refuses | SELECT mt.set_quota(:'acme', 'exports', 100) IS NOT NULL
reset_quota                | refuses | refuses | SELECT mt.reset_quota(:'acme', 'exports')
flush_usage                | refuses | works   | SELECT mt.flush_usage() >= 0
usage_quota_changed        | trigger | trigger | SELECT mt.usage_quota_changed() IS NOT NULL
usage_export               | works   | works   | SELECT count(*) = count(DISTINCT cursor) FROM mt.usage_export(0)
usage_export_correct       | trigger | trigger | SELECT mt.usage_export_correct() IS NOT NULL
invoice_preview            | works   | works   | SELECT (mt.invoice_preview(:'acme', date_trunc('month', now(), 'UTC'))->>'total_cents')::numeric >= 0
tenant_plan_changed        | trigger | trigger | SELECT mt.tenant_plan_changed() IS NOT NULL
audit_guard                | trigger | trigger | SELECT mt.audit_guard() IS NOT NULL
audit                      | refuses | refuses | SELECT mt.audit('standby.event') > 0
audit_many                 | refuses | refuses | SELECT mt.audit_many(ARRAY['standby.event']) > 0
audit_verify               | works   | works   | SELECT ok AND rows_checked = :n_audit FROM mt.audit_verify(:'acme')
audit_digest               | works   | works   | SELECT seq = :n_audit AND hash = :'acme_head' FROM mt.audit_digest(:'acme')
audit_prune                | refuses | refuses | SELECT mt.audit_prune('400 days') >= 0
audit_seal                 | refuses | refuses | SELECT mt.audit_seal() >= 0
audit_row_change           | trigger | trigger | SELECT mt.audit_row_change() IS NOT NULL
audit_table                | refuses | refuses | SELECT mt.audit_table('public.orders') IS NOT NULL
audit_untable              | refuses | refuses | SELECT mt.audit_untable('public.orders')
audit_search               | works   | works   | SELECT count(*) = :n_audit FROM mt.audit_search()
audit_search_tenant        | works   | works   | SELECT count(*) = :n_audit AND bool_and(tenant_id = :'acme') FROM mt.audit_search_tenant(:'acme')
audit_export               | works   | works   | SELECT count(*) = :n_export FROM mt.audit_export()
audit_export_tenant        | works   | works   | SELECT count(*) = :n_export FROM mt.audit_export_tenant(:'acme')
audit_forget_subject       | refuses | refuses | SELECT mt.audit_forget_subject('alice') >= 0
register_subject           | refuses | refuses | SELECT mt.register_subject('public.notes', 'author') IS NOT NULL
unregister_subject         | refuses | refuses | SELECT mt.unregister_subject('public.orders') >= 0
gdpr_export                | works   | works   | SELECT e->>'subject' = 'alice' AND jsonb_array_length(e->'tables'->0->'rows') = 2 AND jsonb_array_length(e->'consents') = 1 FROM mt.gdpr_export('alice') e
gdpr_erase                 | refuses | refuses | SELECT mt.gdpr_erase('alice') IS NOT NULL
record_consent             | refuses | refuses | SELECT mt.record_consent('alice', 'newsletter', true) > 0
has_consent                | works   | works   | SELECT mt.has_consent('alice', 'marketing') AND NOT mt.has_consent('alice', 'newsletter')
consents_guard             | trigger | trigger | SELECT mt.consents_guard() IS NOT NULL
gdpr_request               | refuses | refuses | SELECT mt.gdpr_request('alice', 'access') > 0
gdpr_process               | refuses | refuses | SELECT mt.gdpr_process(:access_request) IS NOT NULL
is_restricted              | works   | works   | SELECT mt.is_restricted('carol') AND NOT mt.is_restricted('alice')
lift_restriction           | refuses | refuses | SELECT mt.lift_restriction('carol')
report_breach              | refuses | refuses | SELECT mt.report_breach('laptop lost') > 0
add_breach_subjects        | refuses | refuses | SELECT mt.add_breach_subjects(:breach, '{alice}') >= 0
record_breach_notification | refuses | refuses | SELECT mt.record_breach_notification(:breach, 'the authority') IS NOT NULL
set_retention              | refuses | refuses | SELECT mt.set_retention('public.orders', 'created_at', '1 year') IS NOT NULL
drop_retention             | refuses | refuses | SELECT mt.drop_retention('public.orders')
run_retention              | refuses | refuses | SELECT count(*) >= 0 FROM mt.run_retention()
gdpr_forget_dropped        | trigger | trigger | SELECT mt.gdpr_forget_dropped() IS NOT NULL
run_compliance_checks      | refuses | refuses | SELECT count(*) > 0 FROM mt.run_compliance_checks()
compliance_catalog         | works   | works   | SELECT count(*) = :n_checks FROM mt.compliance_catalog()
compliance_report          | works   | works   | SELECT (mt.compliance_report('SOC2')->'standards'->0->'summary'->>'pass')::int > 0
compliance_report_text     | works   | works   | SELECT mt.compliance_report_text('GDPR') LIKE '%GDPR%'
secret_fingerprints        | works   | works   | SELECT count(*) = 3 AND bool_and(usable) FROM mt.secret_fingerprints()
rotate_secret              | refuses | refuses | SELECT mt.rotate_secret('token') IS NOT NULL
retire_secret              | refuses | refuses | SELECT mt.retire_secret('token', 1) IS NULL
rewrap_audit_keys          | refuses | refuses | SELECT mt.rewrap_audit_keys(10) >= 0
drop_guard                 | trigger | trigger | SELECT mt.drop_guard() IS NOT NULL
placement_isolation_issues | works   | works   | SELECT mt.placement_isolation_issues('public.orders', 'tenant_id') = '{}'
export_tenant              | works   | works   | SELECT count(*) FILTER (WHERE section = 'header') = 1 AND count(*) FILTER (WHERE section = 'end') = 1 FROM mt.export_tenant(:'acme')
import_tenant              | refuses | refuses | SELECT count(*) FROM mt.import_tenant('pg_catalog.pg_class')
tenant_placement           | works   | works   | SELECT level = 'schema' AND schema_name = 'tenant_initech' AND host IS NULL FROM mt.tenant_placement(:'initech')
route                      | works   | works   | BEGIN; SELECT set_config('multitenant.token', mt.tenant_token(:'initech'), true) IS NOT NULL; SELECT level = 'schema' AND schema_name = 'tenant_initech' AND dbname IS NULL FROM mt.route(); COMMIT;
provision_schema           | refuses | refuses | SELECT mt.provision_schema(:'globex', 'tmpl') IS NOT NULL
provision_database         | refuses | refuses | SELECT mt.provision_database(:'globex', 'db1', 5432, 'x') IS NULL
apply_template             | refuses | refuses | SELECT count(*) >= 0 FROM mt.apply_template('tmpl')
move_tenant                | refuses | refuses | SELECT count(*) >= 0 FROM mt.move_tenant(:'globex', 'schema', 'tmpl')
tenant_schema              | works   | works   | BEGIN; SELECT set_config('multitenant.token', mt.tenant_token(:'initech'), true) IS NOT NULL; SELECT mt.tenant_schema() = 'tenant_initech'; COMMIT;
use_tenant_schema          | works   | works   | BEGIN; SELECT set_config('multitenant.token', mt.tenant_token(:'initech'), true) IS NOT NULL; SELECT mt.use_tenant_schema() = 'tenant_initech'; SELECT current_schemas(false) = '{tenant_initech,public}' AND to_regclass('docs') = 'tenant_initech.docs'::regclass; COMMIT;
tenant_schema_guard        | trigger | trigger | SELECT mt.tenant_schema_guard() IS NOT NULL
tenant_schema_protect_new  | trigger | trigger | SELECT mt.tenant_schema_protect_new() IS NOT NULL
tenant_schema_dropped      | trigger | trigger | SELECT mt.tenant_schema_dropped() IS NOT NULL
set_tenant_subject         | works   | works   | BEGIN; SELECT mt.set_tenant_subject(:'acme', 'bob') = :'acme'; SELECT mt.current_subject() = 'bob'; COMMIT;
has_permission             | works   | works   | BEGIN; SELECT mt.set_tenant_subject(:'acme', 'bob') = :'acme'; SELECT mt.has_permission('invoices:read') AND NOT mt.has_permission('invoices:write'); COMMIT;
require_permission         | works   | works   | BEGIN; SELECT mt.set_tenant_subject(:'acme', 'bob') = :'acme'; SELECT true FROM (SELECT mt.require_permission('invoices:read')) s; COMMIT;
current_workspace          | works   | works   | BEGIN; SELECT mt.set_tenant_subject(:'acme', 'bob', NULL, :'ws') = :'acme'; SELECT mt.current_workspace() = :'ws'; COMMIT;
workspace_visible          | works   | works   | BEGIN; SELECT mt.set_tenant_subject(:'acme', 'wendy', NULL, :'ws') = :'acme'; SELECT mt.workspace_visible(:'ws') AND mt.has_permission('projects:read'); COMMIT;
create_role                | refuses | refuses | SELECT mt.create_role('standby_role', '{a:b}') IS NOT NULL
alter_role                 | refuses | refuses | SELECT mt.alter_role('billing', '{a:b}') IS NOT NULL
drop_role                  | refuses | refuses | SELECT mt.drop_role('billing') IS NOT NULL
grant_role                 | refuses | refuses | SELECT mt.grant_role('carl', 'viewer') IS NOT NULL
revoke_role                | refuses | refuses | SELECT mt.revoke_role('bob', 'billing')
create_workspace           | refuses | refuses | SELECT mt.create_workspace('made on a standby') IS NOT NULL
add_domain                 | refuses | refuses | SELECT mt.add_domain(:'globex', 'app.globex.example') IS NOT NULL
verify_domain              | refuses | refuses | SELECT mt.verify_domain('pending.acme.example') IS NOT NULL
set_branding               | refuses | refuses | SELECT mt.set_branding(:'acme', '{"name": "Made on a standby"}') IS NOT NULL
branding_for_host          | works   | works   | SELECT mt.branding_for_host('App.Acme.Example.') ->> 'name' = 'Acme' AND mt.branding_for_host('pending.acme.example') IS NULL
set_security_policy        | refuses | refuses | SELECT mt.set_security_policy(:'acme', '{}') IS NOT NULL
security_policy            | works   | works   | SELECT mt.security_policy() = '{"api_key_max_lifetime": 86400}' AND mt.security_policy(:'acme') = mt.security_policy()
remove_domain              | refuses | refuses | SELECT mt.remove_domain('app.acme.example')
tenant_by_host             | works   | works   | SELECT mt.tenant_by_host('App.Acme.Example.') = :'acme' AND mt.tenant_by_host('pending.acme.example') IS NULL
totp_code                  | works   | works   | SELECT mt.totp_code(convert_to('12345678901234567890', 'UTF8'), to_timestamp(59), 'SHA1', 8) = '94287082'
totp_enroll                | refuses | refuses | SELECT mt.totp_enroll('dave') IS NOT NULL
totp_verify                | refuses | refuses | SELECT mt.totp_verify('erin', '123456') IS NOT NULL
totp_recovery_codes        | refuses | refuses | SELECT count(*) > 0 FROM mt.totp_recovery_codes('erin')
totp_disable               | refuses | refuses | SELECT mt.totp_disable('erin')
current_mfa                | works   | works   | SELECT NOT mt.current_mfa()
enter_from_request         | works   | works   | BEGIN; SELECT set_config('request.headers', json_build_object('authorization', 'Bearer ' || mt.tenant_token(:'globex'))::text, true) IS NOT NULL; SELECT mt.enter_from_request() = :'globex' AND mt.current_tenant() = :'globex'; SELECT set_config('request.headers', '{}', true) IS NOT NULL; SELECT mt.enter_from_request() IS NULL AND mt.current_tenant() IS NULL; COMMIT;
add_sso_provider           | refuses | refuses | SELECT mt.add_sso_provider(:'globex', 'oidc', 'G', 'https://g.example', ARRAY['globex.example']) IS NOT NULL
remove_sso_provider        | refuses | refuses | SELECT mt.remove_sso_provider(provider_id) FROM mt.sso_provider_for('a@acme.example')
sso_client_secret          | works   | works   | SELECT mt.sso_client_secret(provider_id) = 'client-secret' FROM mt.sso_provider_for('a@acme.example')
sso_provider_for           | works   | works   | SELECT tenant_id = :'acme' AND kind = 'oidc' FROM mt.sso_provider_for('Alice@Acme.Example')
link_identity              | refuses | refuses | SELECT mt.link_identity(provider_id, 'ext-2', 'bob') IS NULL FROM mt.sso_provider_for('a@acme.example')
unlink_identity            | refuses | refuses | SELECT mt.unlink_identity(provider_id, 'ext-1') FROM mt.sso_provider_for('a@acme.example')
resolve_identity           | works   | works   | SELECT r.tenant_id = :'acme' AND r.subject = 'alice' FROM mt.sso_provider_for('a@acme.example') p, mt.resolve_identity(p.provider_id, 'ext-1') r
stat_tenants_rows          | works   | works   | BEGIN; SELECT mt.authenticate(:'key') = :'acme'; SELECT count(*) = 1 FROM mt.stat_tenants WHERE tenant_id = :'acme' AND auth_ok >= 1; COMMIT;
stat_tenants_reset         | works   | works   | SELECT mt.stat_tenants_reset() >= 0
metrics                    | works   | works   | RESET multitenant.token; SELECT mt.metrics() LIKE '%# TYPE mt_tenant_auth_ok_total counter%' AND mt.metrics() ~ '\nmt_audit_unsealed_events [0-9]+\n' AND mt.metrics() ~ '\nmt_audit_seal_lag_seconds [0-9.]+\n'
metrics_series             | works   | works   | RESET multitenant.token; SELECT count(*) >= 1 FROM mt.metrics_series() WHERE series = 'plan'
detect_anomalies           | refuses | refuses | SELECT count(*) >= 0 FROM mt.detect_anomalies()
EOF
)

# ---------------------------------------------------------------------------
# The primary: state for every read to find
# ---------------------------------------------------------------------------
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme', 'pro')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex')")
# the schema-level tenant (a tenant placed in a schema is refused by the shared tables: Acme keeps its shared rows)
initech=$(mt_psql -d $db -c "SELECT mt.create_tenant('Initech', 'initech', 'pro')")
# one key for the calls on the standby, one for those on the primary
key=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'reader on the standby', '{read}')")
key_ro=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'reader on the primary', '{read}')")
key2=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'other')")
key_id=$(mt_psql -d $db -c "SELECT mt.api_key_id('$key')")
key_ro_id=$(mt_psql -d $db -c "SELECT mt.api_key_id('$key_ro')")
key2_id=$(mt_psql -d $db -c "SELECT mt.api_key_id('$key2')")
mt_psql -d $db >/dev/null <<SQL
CREATE TABLE public.orders (id int, tenant_id uuid NOT NULL DEFAULT mt.current_tenant(),
                            customer text, created_at timestamptz NOT NULL DEFAULT now(),
                            PRIMARY KEY (tenant_id, id));
CREATE TABLE public.notes (id int, tenant_id uuid NOT NULL DEFAULT mt.current_tenant(), author text,
                           PRIMARY KEY (tenant_id, id));
CREATE INDEX ON public.orders (tenant_id, customer);
SELECT mt.enable_isolation('public.orders');
SELECT mt.audit_table('public.orders');
SELECT mt.register_subject('public.orders', 'customer');
SELECT mt.set_retention('public.orders', 'created_at', '10 years');
SELECT mt.set_tenant('$acme', false);
INSERT INTO public.orders (id, customer) VALUES (1, 'alice'), (2, 'alice'), (3, 'bob');
SELECT mt.audit('invoice.sent', 'invoice', '7', '{"amount": 10}');
SELECT mt.record_consent('alice', 'marketing', true);
SELECT mt.gdpr_process(mt.gdpr_request('carol', 'restriction'));
SELECT mt.track('exports', 5);
SELECT mt.add_domain('$acme', 'app.acme.example'), mt.verify_domain('app.acme.example');
SELECT mt.add_domain('$acme', 'pending.acme.example');
SELECT mt.set_branding('$acme', '{"name": "Acme"}');
SELECT mt.set_security_policy('$acme', '{"api_key_max_lifetime": 86400}');
SELECT mt.totp_enroll('erin') IS NOT NULL;
SELECT mt.link_identity(mt.add_sso_provider('$acme', 'oidc', 'Acme IdP', 'https://idp.acme.example', ARRAY['acme.example'], '{}', 'client', 'client-secret'), 'ext-1', 'alice');
RESET multitenant.token;
CREATE SCHEMA tmpl;
CREATE TABLE tmpl.docs (id serial PRIMARY KEY, body text NOT NULL);
SELECT mt.provision_schema('$initech', 'tmpl');
SQL
ws=$(mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.create_role('billing', '{invoices:read}')" \
    -c "SELECT mt.grant_role('bob', 'billing')" -c "SELECT mt.create_workspace('alpha')" | tail -1)
mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.grant_role('wendy', 'viewer', '$ws')" >/dev/null
access_request=$(mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.gdpr_request('alice', 'access')" | tail -1)
breach=$(mt_psql -d $db -c "SELECT mt.report_breach('backup tape lost', affected_tenants => ARRAY['$acme'::uuid])")
mt_psql -d $db -c "SELECT mt.flush_usage()" -c "SELECT count(*) FROM mt.run_compliance_checks()" >/dev/null
n_audit=$(mt_psql -d $db -c "SELECT rows_checked FROM mt.audit_verify('$acme')")
acme_head=$(mt_psql -d $db -c "SELECT hash FROM mt.audit_digest('$acme')")
n_export=$(mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT count(*) FROM mt.audit_export()" | tail -1)
n_checks=$(mt_psql -d $db -c "SELECT count(*) FROM mt.compliance_catalog()")
[ "$n_audit" -ge 4 ] || fail "setup: Acme's audit chain has $n_audit rows"

# ---------------------------------------------------------------------------
# The standby
# ---------------------------------------------------------------------------
standby_start <<CONF
multitenant.flush_interval = '200ms'
CONF
standby_catch_up

# ---------------------------------------------------------------------------
# Every function of the extension has a row, and the documentation shows
# the same table
# ---------------------------------------------------------------------------
rows=$(echo "$matrix" | awk -F'|' '{gsub(/ /, "", $1); gsub(/ /, "", $2); gsub(/ /, "", $3); print $1 "|" $2 "|" $3}')
names=$(echo "$rows" | cut -d'|' -f1 | sort)
[ -z "$(echo "$names" | uniq -d)" ] || fail "the matrix lists a function twice: $(echo "$names" | uniq -d)"
procs=$(sb_psql -d $db -c "SELECT p.proname FROM pg_catalog.pg_proc p
    JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
     AND d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
    JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'multitenant'
    ORDER BY 1" | sort)
[ -z "$(echo "$procs" | uniq -d)" ] || fail "overloaded functions: key the matrix by signature: $(echo "$procs" | uniq -d)"
missing=$(comm -13 <(echo "$names") <(echo "$procs"))
extra=$(comm -23 <(echo "$names") <(echo "$procs"))
[ -z "$missing" ] || fail "functions of the extension without a row in the standby matrix (add one, and to doc/operations.md): $(echo $missing)"
[ -z "$extra" ] || fail "rows of the standby matrix for functions the extension does not have: $(echo $extra)"
echo "ok: the matrix has a row for each of the $(echo "$procs" | wc -l) functions of the extension"

doc_rows=$(awk '/^## Hot standby/ {on = 1; next} /^## / {on = 0} on' doc/operations.md |
    sed -n 's/^| `mt\.\([a-z_]*\)()` | \([a-z]*\) | \([a-z]*\) |.*/\1|\2|\3/p' | sort)
if [ "$doc_rows" != "$(echo "$rows" | sort)" ]; then
    diff <(echo "$rows" | sort) <(echo "$doc_rows") || true
    fail "doc/operations.md, section Hot standby, does not show the matrix of this test (diff: test < > doc)"
fi
echo "ok: doc/operations.md shows the same matrix"

# ---------------------------------------------------------------------------
# Running the matrix
# ---------------------------------------------------------------------------
psql_vars=(-v acme="$acme" -v globex="$globex" -v initech="$initech" -v key2_id="$key2_id"
           -v n_audit="$n_audit" -v acme_head="$acme_head" -v n_export="$n_export" -v n_checks="$n_checks"
           -v access_request="$access_request" -v breach="$breach" -v ws="$ws")

# call <host> <port> <where> <sql>: runs the call in a new session in Acme's
# context; prints its output.  The standby and the primary use their own API
# key (so that what the primary counts is not mistaken for the standby's)
# and rate-limit bucket.
call() {
    local k=$key kid=$key_id
    [ "$3" = standby ] || { k=$key_ro; kid=$key_ro_id; }
    printf '%s\n' '\o /dev/null' "SELECT mt.set_tenant(:'acme', false);" '\o' "$4" |
        PGHOST=$1 PGPORT=$2 "$MT_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
            "${psql_vars[@]}" -v key="$k" -v key_id="$kid" -v bucket="bucket-$3" -d $db 2>&1 || true
}

# run_matrix <where: standby|read-only> <column> <host> <port> [PGOPTIONS]
run_matrix() {
    local where=$1 col=$2 host=$3 port=$4 name expect sql out bad=0 msg hint
    if [ "$where" = standby ]; then
        msg="cannot run on a hot standby"; hint="HINT:  Run it on the primary server."
    else
        msg="cannot run in a read-only transaction"; hint="HINT:  Run it in a read-write transaction."
    fi
    while IFS= read -r line; do
        name=$(echo "$line" | cut -d'|' -f1 | tr -d ' ')
        expect=$(echo "$line" | cut -d'|' -f"$col" | tr -d ' ')
        sql=$(echo "$line" | cut -d'|' -f4-)
        out=$(call "$host" "$port" "$where" "$sql")
        case $expect in
            works)
                if [ -z "$out" ] || grep -qv '^t$' <<<"$out"; then
                    echo "FAIL ($where): mt.$name() should work and return the primary's answer; got: $out"; bad=1
                fi ;;
            refuses)
                if [ "$(echo "$out" | grep -c '^ERROR:')" != 1 ] ||
                   ! grep -q "^ERROR:  25006: mt\.$name() $msg\$" <<<"$out" ||
                   ! grep -qx "$hint" <<<"$out" ||
                   grep -c '^CONTEXT:' >/dev/null <<<"$out"; then
                    echo "FAIL ($where): mt.$name() should be refused with 25006 \"mt.$name() $msg\", the hint and no CONTEXT; got: $out"; bad=1
                fi ;;
            trigger)
                if ! grep -q "^ERROR:  39P01: mt\.$name() must be called as" <<<"$out"; then
                    echo "FAIL ($where): mt.$name() called directly should raise 39P01; got: $out"; bad=1
                fi ;;
            *) fail "matrix row for $name: unknown expectation '$expect'" ;;
        esac
    done <<<"$matrix"
    return $bad
}

digests_before=$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_digests")
bad=0
run_matrix standby 2 "$sb_sock" "$sb_port" || bad=1
[ $bad = 0 ] && echo "ok: on the hot standby every function works or is refused as the matrix says"

# mt.authenticate on the standby (the matrix authenticated several times
# there) counted no api_calls; its throttle was the standby's own (rows
# api_key_throttle and reset_api_key_throttle)
got=$(sb_psql -d $db -c "SELECT coalesce(sum(used), 0) FROM mt.usage('$acme', 'day') WHERE metric = 'api_calls'")
[ "$got" = 0 ] || fail "the standby counted $got api_calls for mt.authenticate"
echo "ok: mt.authenticate on the standby counts no api_calls"

PGOPTIONS="-c default_transaction_read_only=on" run_matrix read-only 3 "$PGHOST" "$PGPORT" || bad=1
[ $bad = 0 ] || fail "functions behave otherwise than the matrix says (see above)"
echo "ok: in a read-only transaction on the primary every function works or is refused as the matrix says"

# mt.audit_digest took digests read-only without recording them; read-write it records
[ "$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_digests")" = "$digests_before" ] ||
    fail "mt.audit_digest() recorded a digest in a read-only transaction"
mt_psql -d $db -c "SELECT count(*) FROM mt.audit_digest()" >/dev/null
[ "$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_digests")" = $((digests_before + 1)) ] ||
    fail "mt.audit_digest() in a read-write transaction did not record the digest"
echo "ok: mt.audit_digest() records a digest only where it can write"

# ---------------------------------------------------------------------------
# Promotion: the new primary meters and flushes
# ---------------------------------------------------------------------------
# a standby session opened before the promotion (a pooled backend)
sb_session_start -v VERBOSITY=verbose -d $db
got=$(sb_run "SELECT mt.set_tenant('$acme', false) = '$acme';")
[ "$got" = t ] || fail "setup: the standby session did not enter Acme: $got"
got=$(sb_run "SELECT mt.track('promoted', 1);")
case $got in *25006*"cannot run on a hot standby"*) ;; *) fail "the standby session counted before the promotion: $got" ;; esac

as_pg "$MT_PGBIN/pg_ctl" -D "$sb_data" -w -t 60 promote >/dev/null || fail "pg_ctl promote failed"
wait_for 30 sb_true postgres "SELECT NOT pg_is_in_recovery()" || fail "the standby did not leave recovery"
echo "ok: the standby was promoted"

got=$(sb_run "SELECT mt.track('promoted', 2);")
[ "$got" = 2 ] || fail "mt.track() in a session opened before the promotion: $got"
got=$(sb_run "SELECT mt.consume('promoted', 3);")
[ "$got" = 5 ] || fail "mt.consume() in a session opened before the promotion: $got"
got=$(sb_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.track('promoted', 4)" | tail -1)
[ "$got" = 9 ] || fail "mt.track() in a new session of the promoted server: $got"
echo "ok: mt.track() and mt.consume() count on the promoted server (old and new sessions)"

wait_for 30 sb_true $db "SELECT coalesce(sum(value), 0) = 9 FROM mt.usage_rollup WHERE tenant_id = '$acme' AND metric = 'promoted'" ||
    fail "the flush worker of the promoted server did not write mt.usage_rollup: $(sb_psql -d $db -c "SELECT * FROM mt.usage_rollup WHERE metric = 'promoted'")"
echo "ok: the flush worker of the promoted server wrote the counts to mt.usage_rollup"

# the standby's authentications left no last-use time behind: the flush
# above (which also writes last-use times) wrote none for the key
[ "$(sb_psql -d $db -c "SELECT last_used_at IS NULL FROM mt.api_key_secrets WHERE key_id = '$key_id'")" = t ] ||
    fail "mt.authenticate on the standby left a last-use time that the promoted server wrote: $(sb_psql -d $db -c "SELECT last_used_at FROM mt.api_key_secrets WHERE key_id = '$key_id'")"
echo "ok: mt.authenticate on the standby recorded no last-use time"

# an authentication on the promoted server counts and its last use is flushed
calls=$(sb_psql -d $db -c "SELECT coalesce(sum(used), 0) FROM mt.usage('$acme', 'day') WHERE metric = 'api_calls'")
got=$(sb_psql -d $db -c "SELECT mt.authenticate('$key')")
[ "$got" = "$acme" ] || fail "mt.authenticate() on the promoted server: $got"
wait_for 30 sb_true $db "SELECT last_used_at IS NOT NULL FROM mt.api_key_secrets WHERE key_id = '$key_id'" ||
    fail "the promoted server did not flush the key's last-use time"
got=$(sb_psql -d $db -c "SELECT coalesce(sum(used), 0) FROM mt.usage('$acme', 'day') WHERE metric = 'api_calls'")
[ "$got" = $((calls + 1)) ] || fail "api_calls on the promoted server: $got after one mt.authenticate (before: $calls)"
echo "ok: the promoted server counts mt.authenticate and flushes the key's last-use time"

# the promoted server records digests again
before=$(sb_psql -d $db -c "SELECT count(*) FROM mt.audit_digests")
sb_psql -d $db -c "SELECT count(*) FROM mt.audit_digest()" >/dev/null
[ "$(sb_psql -d $db -c "SELECT count(*) FROM mt.audit_digests")" = $((before + 1)) ] ||
    fail "mt.audit_digest() on the promoted server did not record the digest"
echo "ok: the promoted server records audit digests"
echo "all ok"
