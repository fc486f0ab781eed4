#!/usr/bin/env bash
# ALTER EXTENSION multitenant UPDATE from every earlier release: a database
# created with release R (its frozen install script, sql/releases/; the
# previous release and every one before it, which update through the chain of
# sql/updates/ scripts) and holding state (tenants, API keys, usage, audit chains, consents) is updated to the
# current version; afterwards
#   (a) its extension objects equal those of a fresh install of the current
#       version (test/extension_objects.sql prints both), and
#   (b) the state still works: keys authenticate, chains verify, usage and
#       consents are there.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

cur=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" multitenant.control)
old=mt_upgrade_old
new=mt_upgrade_new
tmp=$(mktemp -d)
cleanup() {
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $old" -c "DROP DATABASE IF EXISTS $new" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
releases=$(ls sql/releases | sed -n 's/^multitenant--\(.*\)\.sql$/\1/p' | sort -V)
[ -n "$releases" ] || fail "no earlier release in sql/releases"
for prev in $releases; do
    [ "$prev" != "$cur" ] || fail "release $cur is frozen in sql/releases but is still the current version"

    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $old" -c "DROP DATABASE IF EXISTS $new" \
        -c "CREATE DATABASE $old" -c "CREATE DATABASE $new" >/dev/null

    # the previous release, with state
    mt_psql -d $old -c "CREATE EXTENSION multitenant VERSION '$prev'" >/dev/null
    [ "$(mt_psql -d $old -c "SELECT extversion FROM pg_extension WHERE extname = 'multitenant'")" = "$prev" ] \
        || fail "could not install release $prev"
    # a DBA's grants on functions whose signature changes later survive
    mt_psql -d postgres -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'upgrade_migrator')
        THEN CREATE ROLE upgrade_migrator; END IF; END \$\$" >/dev/null
    mt_psql -d $old -c "GRANT EXECUTE ON FUNCTION mt.enable_isolation TO upgrade_migrator" \
        -c "GRANT EXECUTE ON FUNCTION mt.create_api_key TO upgrade_migrator" >/dev/null
    acme=$(mt_psql -d $old -c "SELECT mt.create_tenant('Acme', 'acme', 'pro')")
    key=$(mt_psql -d $old -c "SELECT mt.create_api_key('$acme', 'ci', '{read}')")
    mt_psql -d $old >/dev/null <<SQL
CREATE TABLE orders (id int, amount numeric);
SELECT mt.enable_isolation('orders');
BEGIN;
SELECT mt.set_tenant('$acme');
INSERT INTO orders VALUES (1, 10), (2, 20);
SELECT mt.audit('order.created', 'order', '1', '{"amount": 10}');
SELECT mt.audit('order.created', 'order', '2', '{"amount": 20}', 'alice');
SELECT mt.track('calls', 7);
SELECT mt.record_consent('alice', 'marketing', true);
COMMIT;
SELECT mt.flush_usage();
SQL
    # 0.4.0 only: a table isolated with permissions => true, its policies
    # as that release generated them (a per-row "Filter: $0"; the current
    # library already writes the new form, so they are put back by hand).
    # The 0.4.0 -> 0.5.0 script regenerates them; later releases write the
    # new form themselves.
    perm_tables=false
    if [ "$prev" = 0.4.0 ]; then
        perm_tables=true
        mt_psql -d $old >/dev/null <<'SQL'
CREATE TABLE projects (id int, tenant_id uuid NOT NULL, name text) PARTITION BY RANGE (id);
CREATE TABLE projects_1 PARTITION OF projects FOR VALUES FROM (0) TO (100);
SELECT mt.enable_isolation('projects', permissions => true);
SET multitenant.allow_unsafe_ddl = on;
ALTER POLICY mt_permission_read ON projects USING ((SELECT mt.has_permission('projects:read')));
ALTER POLICY mt_permission_read ON projects_1 USING ((SELECT mt.has_permission('projects_1:read')));
ALTER POLICY mt_permission_delete ON projects USING ((SELECT mt.has_permission('projects:write')));
ALTER POLICY mt_permission_update ON projects USING ((SELECT mt.has_permission('projects:write')));
SQL
    fi

    # update
    mt_psql -d $old -c "ALTER EXTENSION multitenant UPDATE" >/dev/null
    [ "$(mt_psql -d $old -c "SELECT extversion FROM pg_extension WHERE extname = 'multitenant'")" = "$cur" ] \
        || fail "ALTER EXTENSION UPDATE did not reach $cur"

    [ "$(mt_psql -d $old -c "SELECT count(*) FROM pg_proc WHERE pronamespace = 'mt'::regnamespace
              AND proname IN ('enable_isolation', 'create_api_key')
              AND has_function_privilege('upgrade_migrator', oid, 'EXECUTE')")" = 2 ] \
        || fail "EXECUTE granted on mt.enable_isolation / mt.create_api_key under $prev did not survive the update"
    mt_psql -d $old -c "REVOKE EXECUTE ON FUNCTION mt.enable_isolation, mt.create_api_key FROM upgrade_migrator" >/dev/null
    echo "ok: grants given under $prev on functions whose signature changed survive the update"
    if $perm_tables; then
        got=$(mt_psql -d $old -c "SELECT count(*) FROM pg_policy WHERE polrelid IN ('projects'::regclass, 'projects_1'::regclass)
                AND polname IN ('mt_permission_read', 'mt_permission_update', 'mt_permission_delete')
                AND regexp_replace(pg_get_expr(polqual, polrelid), '\\s+', ' ', 'g') ~ 'tenant_id = CASE WHEN \( SELECT mt\.has_permission'")
        [ "$got" = 6 ] || fail "the update left $((6 - got)) permission policies of a permissions => true table per-row (want the CASE gate on 6)"
        echo "ok: the update regenerated the permission policies of $prev's permissions => true tables"
    fi

    # (a) same objects as a fresh install
    mt_psql -d $new -c "CREATE EXTENSION multitenant" >/dev/null
    mt_psql -d $old -f test/extension_objects.sql >"$tmp/updated.txt"
    mt_psql -d $new -f test/extension_objects.sql >"$tmp/fresh.txt"
    [ -s "$tmp/fresh.txt" ] || fail "no extension objects listed"
    if ! diff -u "$tmp/fresh.txt" "$tmp/updated.txt" >"$tmp/diff.txt"; then
        head -60 "$tmp/diff.txt"
        fail "an updated $prev differs from a fresh $cur install (lines - fresh, + updated)"
    fi
    echo "ok: updated $prev has the objects of a fresh $cur ($(grep -c . "$tmp/fresh.txt") lines)"
    # and the same privileged-function records (signatures as text since
    # 0.3.0, in the form compliance check MT-PRIV-002 matches)
    pf="SELECT f FROM mt.privileged_functions ORDER BY f"
    mt_psql -d $old -c "$pf" >"$tmp/updated-pf.txt"
    mt_psql -d $new -c "$pf" >"$tmp/fresh-pf.txt"
    diff -u "$tmp/fresh-pf.txt" "$tmp/updated-pf.txt" \
        || fail "mt.privileged_functions of an updated $prev differs from a fresh install (lines - fresh, + updated)"
    [ "$(mt_psql -d $old -c "SELECT status FROM mt.run_compliance_checks() WHERE check_id = 'MT-PRIV-002'")" = pass ] \
        || fail "MT-PRIV-002 does not pass in an updated $prev"

    # (b) the state survived
    q() { mt_psql -d $old -c "$1"; }
    [ "$(q "SELECT mt.authenticate('$key')")" = "$acme" ] || fail "the key minted under $prev does not authenticate"
    [ "$(q "SELECT bool_and(ok) AND sum(rows_checked) FILTER (WHERE tenant_id = '$acme') = 3 FROM mt.audit_verify()")" = "t" ] \
        || fail "the audit chain written under $prev does not verify"
    [ "$(q "SELECT used FROM mt.usage('$acme') WHERE metric = 'calls'")" = "7" ] || fail "usage lost"
    [ "$(mt_psql -d $old -c "BEGIN" -c "SELECT mt.set_tenant('$acme')" -c "SELECT mt.has_consent('alice', 'marketing')" -c "COMMIT" | sed -n 2p)" = "t" ] \
        || fail "consent lost"
    [ "$(mt_psql -d $old -c "BEGIN" -c "SELECT mt.set_tenant('$acme')" -c "SELECT count(*) FROM orders" -c "COMMIT" | sed -n 2p)" = "2" ] \
        || fail "isolated rows not visible to their tenant"
    echo "ok: $prev updated to $cur keeps its state"
done
echo "all ok"
