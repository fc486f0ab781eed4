#!/usr/bin/env bash
# Prometheus metrics of the per-tenant statistics, scraped for real:
#
# 1. mt.metrics() is valid text exposition format (parsed by the Python
#    Prometheus client's parser): HELP and TYPE for every family, the
#    counts of each tenant, a tenant name with a double quote, a backslash,
#    a newline and non-ASCII letters round-trips exactly (escaped per the
#    format, still valid UTF-8), per-tenant series only for the
#    multitenant.metrics_top_tenants most active tenants, every tenant summed
#    per plan; a role without pg_monitor and a session in a tenant context
#    get 42501.
# 2. Debian's prometheus-postgres-exporter with contrib/prometheus/
#    queries.yaml, connected as a pg_monitor role over loopback, serves the
#    same numbers on /metrics (curl on a port derived from MT_PORT).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_metrics_scrape
exporter=/usr/bin/prometheus-postgres-exporter
py=/usr/bin/python3
exp_port=$((MT_PORT + 5))
work=$(mktemp -d)
EXP_PID=

cleanup() {
    [ -n "$EXP_PID" ] && kill "$EXP_PID" 2>/dev/null || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS mt_metrics_mon" \
        -c "DROP ROLE IF EXISTS mt_metrics_app" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

$py -c "import prometheus_client" 2>/dev/null || fail "python3-prometheus-client is missing (scripts/deps.sh installs it)"
[ -x "$exporter" ] || fail "$exporter is missing (scripts/deps.sh installs prometheus-postgres-exporter)"

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
    -c "DROP ROLE IF EXISTS mt_metrics_mon" -c "DROP ROLE IF EXISTS mt_metrics_app" \
    -c "CREATE ROLE mt_metrics_mon LOGIN IN ROLE pg_monitor" -c "CREATE ROLE mt_metrics_app LOGIN" >/dev/null
mt_psql -d postgres -c "ALTER ROLE mt_metrics_mon SET multitenant.metrics_top_tenants = 2" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null

weird=$'Qu"ote \\ back\nline Ünïcødé ☃'
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme', 'pro')")
weird_id=$(echo "SELECT mt.create_tenant(:'name', 'weird', 'starter')" | mt_psql -d $db -v name="$weird")
mt_psql -d $db -c "CREATE TABLE quiet AS SELECT g, mt.create_tenant('Quiet ' || g, 'quiet-' || g, 'free') AS id FROM generate_series(1, 30) g" >/dev/null
key=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'metrics')")

# Acme: 5 authentications; weird: 3 metered calls; each quiet tenant: 1
for _ in 1 2 3 4 5; do echo "SELECT mt.authenticate('$key') IS NOT NULL;"; done | mt_psql -d $db >/dev/null
mt_psql -d $db -c "SELECT mt.set_tenant('$weird_id', false)" -c "SELECT mt.track('m', 1) FROM generate_series(1, 3)" >/dev/null
for g in $(seq 1 30); do echo "BEGIN; SELECT mt.set_tenant(id) FROM quiet WHERE g = $g; SELECT mt.track('m'); COMMIT;"; done | mt_psql -d $db >/dev/null

# --- 1. mt.metrics() -----------------------------------------------------------
mt_psql -d $db -U mt_metrics_mon -c "SELECT mt.metrics()" >"$work/metrics.txt"
grep -c 'tenant="Qu\\"ote \\\\ back\\nline Ünïcødé ☃"' "$work/metrics.txt" >/dev/null \
    || fail "the weird name is not escaped as the format says: $(grep weird -m1 "$work/metrics.txt" || grep -m3 Qu "$work/metrics.txt")"
WEIRD="$weird" ACME="$acme" $py - "$work/metrics.txt" <<'PY' || fail "mt.metrics() output is wrong (above)"
import os, sys
from prometheus_client.parser import text_string_to_metric_families
raw = open(sys.argv[1], 'rb').read()
raw.decode('utf-8')                      # valid UTF-8 or this raises
text = raw.decode('utf-8')
fams = {f.name: f for f in text_string_to_metric_families(text)}
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)
for line in text.splitlines():
    if line.startswith('# TYPE '):
        name = line.split()[2]
        check(('# HELP ' + name + ' ') in text, 'no HELP for ' + name)
# the parser strips _total from counter family names
auth = fams['mt_tenant_auth_ok']
check(auth.type == 'counter', 'mt_tenant_auth_ok_total is not a counter')
by_tenant = {s.labels['tenant']: s for s in auth.samples}
check(set(by_tenant) == {'Acme', os.environ['WEIRD']}, 'top-2 tenants expected Acme and the weird name, got %r' % sorted(by_tenant))
check(by_tenant.get('Acme') and by_tenant['Acme'].value == 5, 'Acme auth_ok != 5')
check(by_tenant.get('Acme') and by_tenant['Acme'].labels['tenant_id'] == os.environ['ACME'], 'Acme tenant_id label')
check(by_tenant.get('Acme') and by_tenant['Acme'].labels['plan'] == 'pro', 'Acme plan label')
metered = {s.labels['tenant']: s.value for s in fams['mt_tenant_metered_calls'].samples}
check(metered.get(os.environ['WEIRD']) == 3, 'weird tenant metered_calls != 3: %r' % metered)
plan_m = {s.labels['plan']: s.value for s in fams['mt_plan_metered_calls'].samples}
check(plan_m.get('free') == 30 and plan_m.get('starter') == 3, 'per-plan metered calls wrong: %r' % plan_m)
plan_t = {s.labels['plan']: s.value for s in fams['mt_plan_tenants'].samples}
check(plan_t.get('free') == 30 and plan_t.get('pro') == 1 and plan_t.get('starter') == 1, 'mt_plan_tenants wrong: %r' % plan_t)
check(fams['mt_plan_tenants'].type == 'gauge', 'mt_plan_tenants is not a gauge')
st = {s.labels['status']: s.value for s in fams['mt_tenants'].samples}
check(st.get('active') == 32, 'mt_tenants{status=active} != 32: %r' % st)
check(len(fams['mt_tenant_last_active_timestamp_seconds'].samples) == 2, 'last_active series not bounded to 2')
for g in ('mt_audit_unsealed_events', 'mt_audit_seal_lag_seconds'):
    check(g in fams and fams[g].type == 'gauge' and len(fams[g].samples) == 1, g + ' is not one gauge sample')
for e in errors:
    print('FAIL:', e)
sys.exit(1 if errors else 0)
PY

out=$(mt_psql -d $db -U mt_metrics_app -c "SELECT mt.metrics()" 2>&1 || true)
grep -q "permission denied for mt.metrics()" <<<"$out" || fail "a role without pg_monitor read metrics: $out"
out=$(mt_psql -d $db -c "BEGIN" -c "SELECT mt.set_tenant('$acme') IS NULL" -c "SELECT mt.metrics()" 2>&1 || true)
grep -q "cannot run inside a tenant context" <<<"$out" || fail "metrics were served inside a tenant context: $out"

# --- 2. the real exporter --------------------------------------------------------
DATA_SOURCE_NAME="postgresql://mt_metrics_mon@127.0.0.1:$MT_PORT/$db?sslmode=disable" \
    "$exporter" --web.listen-address="127.0.0.1:$exp_port" --extend.query-path=contrib/prometheus/queries.yaml \
    --disable-default-metrics --disable-settings-metrics >"$work/exporter.log" 2>&1 &
EXP_PID=$!
scraped() {
    curl -sf "http://127.0.0.1:$exp_port/metrics" >"$work/scrape.txt" 2>/dev/null \
        && grep -c '^mt_plan_metered_calls' "$work/scrape.txt" >/dev/null
}
wait_for 30 scraped || { cat "$work/exporter.log"; fail "the exporter did not serve mt_ series on 127.0.0.1:$exp_port"; }
WEIRD="$weird" $py - "$work/scrape.txt" <<'PY' || { cat "$work/exporter.log" | tail -5; fail "the exporter's numbers are wrong (above)"; }
import os, sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1], encoding='utf-8').read())}
errors = []
def val(fam, **labels):
    for s in fams[fam].samples:
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
auth = {s.labels['tenant']: s.value for s in fams['mt_tenant_auth_ok'].samples}
if auth.get('Acme') != 5: errors.append('mt_tenant_auth_ok{tenant="Acme"} != 5: %r' % auth)
if val('mt_tenant_metered_calls', tenant=os.environ['WEIRD']) != 3: errors.append('weird tenant metered_calls != 3')
if val('mt_plan_metered_calls', plan='free') != 30: errors.append('mt_plan_metered_calls{plan="free"} != 30')
if val('mt_plan_tenants', plan='free') != 30: errors.append('mt_plan_tenants{plan="free"} != 30')
if len(auth) != 2: errors.append('top-N not applied: %r' % auth)
for g in ('mt_audit_unsealed_events', 'mt_audit_seal_lag_seconds'):
    if g not in fams or val(g) is None or val(g) < 0: errors.append(g + ' not served')
for e in errors: print('FAIL:', e)
sys.exit(1 if errors else 0)
PY
echo "exporter on 127.0.0.1:$exp_port: $(grep -c '^mt_' "$work/scrape.txt") mt_ samples"
