#!/usr/bin/env bash
# Export one tenant with bin/mt-tenant (mt.export_tenant) and import it
#   (a) into a fresh database of the same cluster,
#   (b) into a second cluster (initdb, the source's multitenant.secret
#       copied before its first start, a database of the same name),
#   (c) into the source database itself under a new tenant id (a clone;
#       the tenant's user tables key their rows by (tenant_id, id)),
# and in (a) and (b): every isolated table's rows of the tenant are equal
# (row count and an md5 per table), the extension state is there (registry
# row, custom plan, quota, consents, GDPR request, usage, key metadata),
# the API key authenticates, a token minted there works and sees exactly
# the tenant's rows, the audit chain verifies (in (b) also against the
# digest saved at the source: same ids and hashes) and its encrypted
# details read back; the state built since travels too and works: custom
# roles, role assignments (a tenant-wide one and one in a workspace still
# grant), workspaces and a workspace-bound key (authenticates into its
# workspace), a custom domain (still resolves), a TOTP enrolment (a code
# still verifies: the secret is sealed under the audit_kek, the same in
# both clusters), an SSO provider (its sealed client secret reads back,
# its email domain routes) and a linked identity (still resolves).  The
# other tenant's rows never travel.
# Bad input, each with its SQLSTATE and nothing imported (the tenant count
# of the target is unchanged): an unknown tenant (42704), a tenant id that
# exists (42710), sealed secrets the target's audit_kek cannot open (55000:
# refused rather than importing undecryptable rows), an export from a
# newer extension version and one of an
# unknown format (0A000), a truncated file (22P04), a file with one row
# removed (22P04), an edited audit event (XX001), a table that does not
# exist in the target (42P01).  A role without EXECUTE (the application
# role, an auditor) cannot export any tenant (42501).
#
# Second cluster on MT_PORT+5 in $MT_ROOT/ops (test/ops_lib.sh), removed by
# the trap with the test's databases.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/ops_lib.sh

src_db=mt_texport_src
fresh_db=mt_texport_fresh
empty_db=mt_texport_empty
work=$MT_ROOT/texport
export PSQL=$MT_PGBIN/psql

cleanup() {
    ops_cleanup
    rm -rf "$work"
    for d in $src_db $fresh_db $empty_db; do
        mt_psql -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true
    done
    mt_psql -d postgres -c "DROP ROLE IF EXISTS mt_texport_app" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
mkdir -p "$work"
chmod 777 "$work"

# the application's schema: the same migrations run in every database
schema() {
    cat <<'SQL'
CREATE EXTENSION multitenant;
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE TABLE customers (tenant_id uuid NOT NULL, id int NOT NULL, name text, mood mood,
                        PRIMARY KEY (tenant_id, id));
CREATE TABLE orders (tenant_id uuid NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY,
                     customer_id int NOT NULL, amount numeric(10,2),
                     total numeric GENERATED ALWAYS AS (amount * 2) STORED,
                     tags text[], doc jsonb, note text,
                     PRIMARY KEY (tenant_id, id),
                     FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id));
CREATE TABLE events (tenant_id uuid NOT NULL, at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT mt.enable_isolation('customers');
SELECT mt.enable_isolation('orders');
SELECT mt.enable_isolation('events');
-- a table that only the source has: its rows make (a) fail with 42P01 when exported
SQL
}

# per isolated table: "name count md5" of one tenant's rows (the tenant
# column left out: it is rewritten under a new id)
fingerprint() {   # fingerprint <psql...> <tenant>
    local t=${*: -1}
    "${@:1:$#-1}" -v t="$t" <<'SQL'
SELECT 'customers ' || count(*) || ' ' || md5(coalesce(string_agg(format('%s|%s|%s', id, name, mood), ',' ORDER BY id), ''))
FROM customers WHERE tenant_id = :'t';
SELECT 'orders ' || count(*) || ' ' || md5(coalesce(string_agg(format('%s|%s|%s|%s|%s|%s|%s', id, customer_id, amount, total, tags, doc, note), ',' ORDER BY id), ''))
FROM orders WHERE tenant_id = :'t';
SELECT 'events ' || count(*) || ' ' || md5(coalesce(string_agg(format('%s|%s|%s', tableoid::regclass, at, what), ',' ORDER BY at, what), ''))
FROM events WHERE tenant_id = :'t';
SELECT 'state ' || (SELECT format('%s|%s|%s', name, slug, plan) FROM mt.tenants WHERE id = :'t')
  || ' quota=' || (SELECT hard_limit FROM mt.tenant_quotas WHERE tenant_id = :'t' AND metric = 'seats')
  || ' keys=' || (SELECT string_agg(format('%s|%s|%s', key_id, name, scopes), ',' ORDER BY key_id) FROM mt.api_key_secrets WHERE tenant_id = :'t')
  || ' consents=' || (SELECT string_agg(format('%s|%s|%s', subject, purpose, granted), ',') FROM mt.consents WHERE tenant_id = :'t')
  || ' requests=' || (SELECT string_agg(format('%s|%s|%s', subject, kind, status), ',') FROM mt.gdpr_requests WHERE tenant_id = :'t')
  || ' usage=' || (SELECT sum(value) FROM mt.usage_rollup WHERE tenant_id = :'t')
  || ' plan=' || (SELECT format('%s|%s', p.price_monthly_cents, l.hard_limit) FROM mt.plans p JOIN mt.plan_limits l ON l.plan = p.name WHERE p.name = 'custom_gold' AND l.metric = 'seats');
SELECT 'authz workspaces=' || (SELECT string_agg(format('%s|%s', id, name), ',' ORDER BY id) FROM mt.workspaces WHERE tenant_id = :'t')
  || ' roles=' || (SELECT string_agg(format('%s|%s|%s', name, parent, permissions), ',' ORDER BY name) FROM mt.roles WHERE tenant_id = :'t')
  || ' assignments=' || (SELECT string_agg(format('%s|%s|%s|%s|%s', id, subject, role, workspace_id, valid_until), ',' ORDER BY id) FROM mt.role_assignments WHERE tenant_id = :'t')
  || ' key_workspaces=' || (SELECT string_agg(format('%s|%s', key_id, workspace_id), ',' ORDER BY key_id) FROM mt.api_key_secrets WHERE tenant_id = :'t');
SELECT 'identity domains=' || (SELECT string_agg(format('%s|%s|%s', host, verification_token, verified_at IS NOT NULL), ',' ORDER BY host) FROM mt.domains WHERE tenant_id = :'t')
  || ' totp=' || (SELECT string_agg(format('%s|%s|%s|%s|%s', subject, algorithm, digits, kek_version, md5(secret_enc)), ',' ORDER BY subject) FROM mt.totp_secrets WHERE tenant_id = :'t')
  || ' recovery=' || (SELECT count(*) FROM mt.totp_recovery_codes WHERE tenant_id = :'t')
  || ' sso=' || (SELECT string_agg(format('%s|%s|%s|%s|%s|%s', id, kind, name, issuer, client_id, md5(client_secret_enc)), ',' ORDER BY id) FROM mt.sso_providers WHERE tenant_id = :'t')
  || ' sso_domains=' || (SELECT string_agg(format('%s|%s', d.domain, d.provider_id), ',' ORDER BY d.domain) FROM mt.sso_email_domains d JOIN mt.sso_providers p ON p.id = d.provider_id WHERE p.tenant_id = :'t')
  || ' identities=' || (SELECT string_agg(format('%s|%s|%s', provider_id, external_id, subject), ',' ORDER BY external_id) FROM mt.sso_identities WHERE tenant_id = :'t');
SQL
}

# --- the source -------------------------------------------------------------
mt_psql -d postgres -c "CREATE DATABASE $src_db" -c "CREATE ROLE mt_texport_app LOGIN" >/dev/null
schema | mt_psql -d $src_db >/dev/null
mt_psql -d $src_db -c "CREATE TABLE only_here (tenant_id uuid, x int); SELECT mt.enable_isolation('only_here');" >/dev/null
acme=$(mt_psql -d $src_db -c "INSERT INTO mt.plans (name, display_name, price_monthly_cents) VALUES ('custom_gold', 'Gold', 12345);
  INSERT INTO mt.plan_limits (plan, metric, period, hard_limit) VALUES ('custom_gold', 'seats', 'month', 77);
  SELECT mt.create_tenant('Acme', 'acme', 'custom_gold')")
globex=$(mt_psql -d $src_db -c "SELECT mt.create_tenant('Globex', 'globex')")
key=$(mt_psql -d $src_db -c "SELECT mt.create_api_key('$acme', 'ci', '{read}')")
mt_psql -d $src_db -v acme="$acme" -v globex="$globex" >/dev/null <<'SQL'
GRANT SELECT, INSERT ON customers, orders, events TO mt_texport_app;
SELECT mt.set_quota(:'acme', 'seats', 40);
BEGIN;
SELECT mt.set_tenant(:'acme');
INSERT INTO customers (id, name, mood) SELECT g, 'cust ' || g || E' "quoted", back\\slash\ttab\nnl', 'ok' FROM generate_series(1, 300) g;
INSERT INTO orders (customer_id, amount, tags, doc, note)
SELECT 1 + g % 300, g / 7.0, ARRAY['a', 'b c', NULL], jsonb_build_object('g', g, 's', 'x"y'), CASE WHEN g % 5 = 0 THEN NULL ELSE 'n' || g END
FROM generate_series(1, 3000) g;
INSERT INTO events VALUES (mt.current_tenant(), '2026-05-01', 'a'), (mt.current_tenant(), '2027-05-01', 'b,c');
SELECT mt.audit('order.created', 'order', '1', '{"amount": 10}');
COMMIT;
-- a checkpoint: the first events are pruned, the chain verifies from it
SELECT mt.audit_prune('0 seconds', :'acme');
BEGIN;
SELECT mt.set_tenant(:'acme');
SELECT mt.audit('customer.updated', 'customer', '1', '{"email": "alice@example.com"}', 'alice');
SELECT mt.audit('order.shipped', 'order', '2', '{"carrier": "x"}');
SELECT mt.record_consent('alice', 'marketing', true);
SELECT mt.gdpr_request('alice', 'access');
SELECT mt.track('calls', 7);
COMMIT;
BEGIN;
SELECT mt.set_tenant(:'globex');
INSERT INTO customers (id, name) VALUES (1, 'globex one');
INSERT INTO orders (customer_id, amount) VALUES (1, 5);
SELECT mt.audit('order.created', 'order', '9', '{"amount": 5}');
COMMIT;
SELECT mt.flush_usage();
SQL
# the state built since: authorization, a custom domain, TOTP, SSO
ws=$(mt_psql -d $src_db -c "BEGIN" -c "SELECT mt.set_tenant('$acme')" -c "SELECT mt.create_workspace('Website')" -c "COMMIT" | sed -n 2p)
mt_psql -d $src_db -v acme="$acme" -v ws="$ws" >/dev/null <<'SQL'
BEGIN;
SELECT mt.set_tenant(:'acme');
SELECT mt.create_role('project-lead', '{projects:close}', 'member');
SELECT mt.grant_role('bob', 'admin');
SELECT mt.grant_role('carol', 'project-lead', :'ws');
SELECT mt.totp_recovery_codes('dave') FROM (SELECT mt.totp_enroll('dave')) e;
COMMIT;
SELECT mt.add_domain(:'acme', 'app.acme.example');
SELECT mt.verify_domain('app.acme.example');
SQL
wskey=$(mt_psql -d $src_db -c "SELECT mt.create_api_key('$acme', 'website ci', '{tasks:read}', workspace => '$ws')")
totp_uri=$(mt_psql -d $src_db -c "BEGIN" -c "SELECT mt.set_tenant('$acme')" -c "SELECT mt.totp_enroll('alice')" -c "COMMIT" | sed -n 2p)
totp_secret=$(sed -n 's/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' <<<"$totp_uri")
[ -n "$totp_secret" ] || fail "no TOTP secret in the enrolment URI: $totp_uri"
prov=$(mt_psql -d $src_db -c "SELECT mt.add_sso_provider('$acme', 'oidc', 'Okta', 'https://acme.okta.example', '{acme.example}', '{}', 'cid-1', 'client-secret-1')")
mt_psql -d $src_db -c "SELECT mt.link_identity('$prov', 'okta|alice', 'alice')" >/dev/null
digest=$(mt_psql -d $src_db -c "SELECT jsonb_agg(to_jsonb(d) - 'at') FROM mt.audit_digest('$acme') d")
want=$(fingerprint mt_psql -d $src_db "$acme")

# the export, by the tool; only_here is dropped from the registry again so
# that (a) and (b) have every table
mt_psql -d $src_db -c "DROP TABLE only_here" >/dev/null
bin/mt-tenant export "$acme" "$work/acme.mtx" -d $src_db
[ -s "$work/acme.mtx" ] || fail "the export wrote nothing"
head -1 "$work/acme.mtx" | grep -c '"format": 1, "extension": "multitenant", "extension_version": "0.8.0"' >/dev/null \
    || fail "the export has no header with format and extension version: $(head -c 200 "$work/acme.mtx")"
grep -q "$globex" "$work/acme.mtx" && fail "the export holds rows of another tenant"
grep -qF "$key" "$work/acme.mtx" && fail "the export holds a plaintext API key"
echo "ok: export written ($(wc -l <"$work/acme.mtx") lines), no other tenant, no plaintext key"
# each row's data is byte for byte the row's composite text (record_out) at
# the source: the export writes it with the columns' output functions
mismatch=$(mt_psql -d $src_db -v acme="$acme" -v file="$work/acme.mtx" <<'SQL'
CREATE TEMPORARY TABLE exported (section text, name text, data text);
COPY exported FROM :'file';
CREATE TEMPORARY TABLE expected AS
SELECT 'public.customers' AS name, ROW(t.*)::text AS data FROM customers t WHERE tenant_id = :'acme'
UNION ALL SELECT 'public.orders', ROW(t.*)::text FROM orders t WHERE tenant_id = :'acme'
UNION ALL SELECT 'public.events_2027', ROW(t.*)::text FROM ONLY events_2027 t WHERE tenant_id = :'acme'
UNION ALL SELECT 'mt.tenants', ROW(t.*)::text FROM mt.tenants t WHERE id = :'acme'
UNION ALL SELECT 'mt.audit_log', ROW(t.*)::text FROM mt.audit_log t WHERE tenant_id = :'acme'
UNION ALL SELECT 'mt.plans', ROW(t.*)::text FROM mt.plans t WHERE name = 'custom_gold';
SELECT count(*) FROM ((SELECT name, data FROM exported WHERE section = 'row' AND name IN (SELECT name FROM expected)
                       EXCEPT ALL SELECT name, data FROM expected)
                      UNION ALL (SELECT name, data FROM expected
                       EXCEPT ALL SELECT name, data FROM exported WHERE section = 'row')) d;
SQL
)
[ "$mismatch" = 0 ] || fail "the export's row data differs from record_out's text of the rows at the source ($mismatch rows)"
[ "$(grep -c $'^row\tpublic.orders\t' "$work/acme.mtx")" = 3000 ] || fail "the export does not have the 3000 orders rows"
echo "ok: every exported row is its record_out text at the source"

# check <label> <psql...>: the imported tenant in that database
check() {
    local label=$1 got tok
    shift
    got=$(fingerprint "$@" "$acme")
    [ "$got" = "$want" ] || { diff <(echo "$want") <(echo "$got") || true; fail "$label: the tenant's rows differ after the import"; }
    [ "$("$@" -c "SELECT mt.authenticate('$key') = '$acme'")" = t ] || fail "$label: the API key does not authenticate"
    # a new event appends after the imported ones (the id sequence moved past them)
    "$@" -c "BEGIN" -c "SELECT mt.set_tenant('$acme')" -c "SELECT mt.audit('after.import')" -c "COMMIT" >/dev/null
    [ "$("$@" -c "SELECT bool_and(ok) FROM mt.audit_verify('$acme')")" = t ] || fail "$label: the audit chain does not verify"
    got=$("$@" -c "SELECT details->>'email' FROM mt.audit_search_tenant('$acme', NULL, NULL, 'customer.updated')")
    [ "$got" = alice@example.com ] || fail "$label: encrypted audit details do not read back ($got)"
    tok=$("$@" -c "SELECT mt.tenant_token('$acme', '10 min')")
    # the token travels in the startup packet, never in statement text
    got=$(PGOPTIONS="-c multitenant.token=$tok" "$@" -U mt_texport_app \
        -c "SELECT count(*) || '/' || count(DISTINCT tenant_id) FROM orders")
    [ "$got" = "3000/1" ] || fail "$label: a token of the tenant does not see exactly its rows ($got)"
    echo "ok: $label: rows equal, key authenticates, token works, chain verifies"
    # authorization: assignments still grant, the workspace key enters its workspace
    got=$("$@" -c "BEGIN" -c "SELECT mt.set_tenant_subject('$acme', 'bob') IS NULL" \
        -c "SELECT mt.has_permission('roles:manage')" -c "COMMIT" | tail -n 1)
    [ "$got" = t ] || fail "$label: a tenant-wide role assignment no longer grants ($got)"
    got=$("$@" -c "BEGIN" -c "SELECT mt.set_tenant_subject('$acme', 'carol', NULL, '$ws') IS NULL" \
        -c "SELECT mt.has_permission('projects:close') AND mt.has_permission('tasks:write')" -c "COMMIT" | tail -n 1)
    [ "$got" = t ] || fail "$label: a custom role assigned in a workspace no longer grants ($got)"
    got=$("$@" -c "BEGIN" -c "SELECT mt.authenticate('$wskey') = '$acme' AND mt.current_workspace() = '$ws'" -c "COMMIT" | tail -n 1)
    [ "$got" = t ] || fail "$label: the workspace-bound key does not enter its workspace ($got)"
    # identity: domain, TOTP, SSO provider and linked identity
    [ "$("$@" -c "SELECT mt.tenant_by_host('APP.acme.example.')")" = "$acme" ] || fail "$label: the custom domain does not resolve"
    got=$("$@" -c "BEGIN" -c "SELECT mt.set_tenant('$acme') IS NOT NULL" \
        -c "SELECT mt.totp_verify('alice', '$(oathtool --totp -b "$totp_secret")')" -c "COMMIT" | tail -n 1)
    [ "$got" = t ] || fail "$label: a TOTP code no longer verifies ($got)"
    got=$("$@" -c "SELECT tenant_id || '|' || subject FROM mt.resolve_identity('$prov', 'okta|alice')")
    [ "$got" = "$acme|alice" ] || fail "$label: the linked identity does not resolve ($got)"
    got=$("$@" -c "SELECT provider_id FROM mt.sso_provider_for('eve@acme.example')")
    [ "$got" = "$prov" ] || fail "$label: the SSO provider is not found by email domain ($got)"
    got=$("$@" -c "SELECT mt.sso_client_secret('$prov')")
    [ "$got" = client-secret-1 ] || fail "$label: the sealed SSO client secret does not read back ($got)"
    echo "ok: $label: roles and assignments grant, workspace key, domain, TOTP, SSO provider and identity work"
}

# --- (a) a fresh database of the same cluster --------------------------------
mt_psql -d postgres -c "CREATE DATABASE $fresh_db" >/dev/null
schema | mt_psql -d $fresh_db >/dev/null
mt_psql -d $fresh_db -c "GRANT SELECT, INSERT ON customers, orders, events TO mt_texport_app" >/dev/null
report=$(bin/mt-tenant import "$work/acme.mtx" -d $fresh_db -At)
grep -q '^audit chain|.*|t|verbatim' <<<"$report" || fail "(a) the report does not show a verbatim chain: $report"
grep -q '^public.orders|3000|3000|t|' <<<"$report" || fail "(a) the report does not count the orders: $report"
check "(a) fresh database" mt_psql -d $fresh_db
# the sequence behind the identity column was advanced past the imported ids
[ "$(mt_psql -d $fresh_db -c "BEGIN; SELECT mt.set_tenant('$acme'); INSERT INTO orders (customer_id) VALUES (1) RETURNING id > 3000; COMMIT;" | sed -n 2p)" = t ] \
    || fail "(a) a new order did not get an id past the imported ones"

# --- bad input: each refused, nothing imported --------------------------------
# an empty database with the schema: the tenant does not exist there
mt_psql -d postgres -c "CREATE DATABASE $empty_db" >/dev/null
schema | mt_psql -d $empty_db >/dev/null
target=$fresh_db
state() { mt_psql -d "$target" -c "SELECT (SELECT count(*) FROM mt.tenants) || '/' || (SELECT count(*) FROM mt.audit_log) || '/' || (SELECT count(*) FROM orders)"; }
refused() {   # refused <sqlstate> <label> <command...>: fails with that code, nothing imported
    local code=$1 label=$2 before out
    shift 2
    before=$(state)
    if out=$("$@" 2>&1); then fail "$label: accepted"; fi
    grep -q "ERROR:  $code:" <<<"$out" || fail "$label: not $code: $out"
    [ "$(state)" = "$before" ] || fail "$label: something was imported"
    echo "ok: $label refused ($code)"
}
imp() { PGOPTIONS="-c client_min_messages=warning" bin/mt-tenant import "$1" -d $target -v VERBOSITY=verbose "${@:2}"; }
# a TOTP secret sealed under an audit_kek version the target does not have
awk -F'\t' 'BEGIN { OFS = FS } $1 == "row" && $2 == "mt.totp_secrets" { sub(/,(SHA1),6,1,/, ",SHA1,6,7,", $3) } { print }' \
    "$work/acme.mtx" >"$work/sealed.mtx"
cmp -s "$work/acme.mtx" "$work/sealed.mtx" && fail "the test did not change the TOTP rows' KEK version"
target=$empty_db
refused 55000 "import of sealed secrets the target's audit_kek cannot open" imp "$work/sealed.mtx"
target=$fresh_db
refused 42704 "export of an unknown tenant" \
    mt_psql -d $src_db -v VERBOSITY=verbose -c "SELECT count(*) FROM mt.export_tenant(gen_random_uuid())"
refused 42710 "import of a tenant id that exists" imp "$work/acme.mtx"
sed '1s/"extension_version": "0.8.0"/"extension_version": "0.10.0"/' "$work/acme.mtx" >"$work/newer.mtx"
refused 0A000 "import of an export from a newer version" imp "$work/newer.mtx" --new-tenant "$(mt_psql -d postgres -c 'SELECT gen_random_uuid()')" --new-slug newer
sed '1s/"format": 1/"format": 2/' "$work/acme.mtx" >"$work/format2.mtx"
refused 0A000 "import of an unknown export format" imp "$work/format2.mtx"
head -n 2000 "$work/acme.mtx" >"$work/truncated.mtx"
refused 22P04 "import of a truncated export" imp "$work/truncated.mtx"
awk -v n="$(grep -n '^row	public.orders	' "$work/acme.mtx" | sed -n 10p | cut -d: -f1)" 'NR != n' "$work/acme.mtx" >"$work/missing.mtx"
refused 22P04 "import of an export with a row removed" imp "$work/missing.mtx"
target=$empty_db
sed 's/order\.shipped/order.SHIPPED/' "$work/acme.mtx" >"$work/tampered.mtx"
refused XX001 "import of an export with an edited audit event" imp "$work/tampered.mtx"
refused 0A000 "import of audit details encrypted for the tenant under a new tenant id" \
    imp "$work/acme.mtx" --new-tenant "$(mt_psql -d postgres -c 'SELECT gen_random_uuid()')" --new-slug other
mt_psql -d $src_db -c "CREATE TABLE only_here (tenant_id uuid, x int); SELECT mt.enable_isolation('only_here');
  BEGIN; SELECT mt.set_tenant('$acme'); INSERT INTO only_here VALUES (mt.current_tenant(), 1); COMMIT;" >/dev/null
bin/mt-tenant export "$acme" "$work/acme-extra.mtx" -d $src_db
refused 42P01 "import of a table the target does not have" imp "$work/acme-extra.mtx"
mt_psql -d $src_db -c "DROP TABLE only_here" >/dev/null

# privileges: back office only
out=$(mt_psql -U mt_texport_app -d $src_db -v VERBOSITY=verbose -c "SELECT count(*) FROM mt.export_tenant('$globex')" 2>&1) \
    && fail "the application role exported a tenant"
grep -q "ERROR:  42501:" <<<"$out" || fail "the application role's export: not 42501: $out"
out=$(mt_psql -U mt_texport_app -d $fresh_db -v VERBOSITY=verbose -c "SELECT * FROM mt.import_tenant('pg_class')" 2>&1) \
    && fail "the application role called mt.import_tenant"
grep -q "ERROR:  42501:" <<<"$out" || fail "the application role's import: not 42501: $out"
echo "ok: a role without EXECUTE can neither export nor import (42501)"

# --- (b) a second cluster with the same secret file --------------------------
ops_init dst $((MT_PORT + 5))
as_pg cp -p "$MT_PGDATA/multitenant.secret" "$OPS_ROOT/dst/data/multitenant.secret"
ops_start dst
ops_psql dst -d postgres -c "CREATE DATABASE $src_db" -c "CREATE ROLE mt_texport_app LOGIN" >/dev/null
schema | ops_psql dst -d $src_db >/dev/null
ops_psql dst -d $src_db -c "GRANT SELECT, INSERT ON customers, orders, events TO mt_texport_app" >/dev/null
# streamed through a pipe, as between two hosts
bin/mt-tenant export "$acme" - -d $src_db |
    bin/mt-tenant import - -h "$(ops_host dst)" -p "$(ops_port dst)" -U postgres -d $src_db -At >"$work/report-b"
grep -q '^audit chain|.*|t|verbatim' "$work/report-b" || fail "(b) the chain was not imported verbatim: $(cat "$work/report-b")"
check "(b) second cluster" ops_psql dst -d $src_db
# the digest saved at the source verifies the imported chain (same ids and hashes)
[ "$(ops_psql dst -d $src_db -c "SELECT bool_and(ok) FROM mt.audit_verify('$acme', '$digest'::jsonb)")" = t ] \
    || fail "(b) the source's saved digest does not verify the imported chain"
# a token minted at the source (aud = the database name, same secret) works there
tok=$(mt_psql -d $src_db -c "SELECT mt.tenant_token('$acme', '10 min')")
got=$(PGOPTIONS="-c multitenant.token=$tok" ops_psql dst -U mt_texport_app -d $src_db -c "SELECT count(*) FROM orders")
[ "$got" = 3000 ] || fail "(b) a token minted at the source does not work in the second cluster ($got)"
echo "ok: (b) the source's digest and a source token work in the second cluster"

# --- (c) a clone under a new tenant id in the source database -----------------
clone=$(mt_psql -d postgres -c "SELECT gen_random_uuid()")
"$PSQL" -X -q -v ON_ERROR_STOP=1 -At -d $src_db -v clone="$clone" >"$work/report-c" <<'SQL' || fail "(c) the clone failed"
CREATE TEMP TABLE staging AS SELECT * FROM mt.export_tenant((SELECT id FROM mt.tenants WHERE slug = 'globex'));
SELECT item, ok FROM mt.import_tenant('staging', :'clone', 'globex-copy');
SQL
grep -q '^audit chain|t' "$work/report-c" || fail "(c) no verified chain in the report: $(cat "$work/report-c")"
got=$(mt_psql -d $src_db -c "SELECT (SELECT count(*) FROM orders WHERE tenant_id = '$clone') || '/' || (SELECT count(*) FROM orders WHERE tenant_id = '$globex')
  || '/' || (SELECT slug FROM mt.tenants WHERE id = '$clone') || '/' || (SELECT bool_and(ok) FROM mt.audit_verify('$clone'))")
[ "$got" = "1/1/globex-copy/true" ] || fail "(c) the clone is not a copy of globex ($got)"
echo "ok: (c) clone under a new tenant id: rows copied, chain re-chained and verified"
