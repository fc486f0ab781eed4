#!/usr/bin/env bash
# Soft-limit alerts leak nothing across tenants and cannot be forged into a
# consumer's decision.  Any role can LISTEN on any channel and NOTIFY any
# channel, so the NOTIFY multitenant_usage payload must carry no data: a
# listener of tenant B must not learn tenant A's id, metric, usage or
# limits; the alert itself is read from mt.usage_alerts (row-level
# security: a tenant sees its own alerts), which only the extension writes.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_alert_notify
role=mt_an_app
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d postgres -c "DROP ROLE IF EXISTS $role" -c "CREATE ROLE $role LOGIN"
trap 'mt_psql -d postgres -c "DROP DATABASE IF EXISTS '$db'" -c "DROP ROLE IF EXISTS '$role'" >/dev/null 2>&1 || true' EXIT
mt_psql -d $db -c "CREATE EXTENSION multitenant"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex')")
tok_acme=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min')")
tok_globex=$(mt_psql -d $db -c "SELECT mt.tenant_token('$globex', '10 min')")
mt_psql -d $db -c "SELECT mt.set_quota('$acme', 'exports', 100, 10)" >/dev/null

# Globex's session (the application role) listens while Acme crosses its soft limit
work=$(mktemp -d)
trap 'rm -rf "$work"; mt_psql -d postgres -c "DROP DATABASE IF EXISTS '$db'" -c "DROP ROLE IF EXISTS '$role'" >/dev/null 2>&1 || true' EXIT
(
    printf 'LISTEN multitenant_usage;\n'
    # notifications are printed after each statement: short statements
    # until the crossing below has committed (at most 100 s), then ten more
    for _ in $(seq 2000); do
        [ -e "$work/crossed" ] && break
        printf 'SELECT pg_sleep(0.05);\n'
        sleep 0.05
    done
    for _ in $(seq 10); do printf 'SELECT pg_sleep(0.05);\n'; done
    printf "SELECT count(*) AS own_alerts FROM mt.usage_alerts;\n"
) | PGOPTIONS="-c multitenant.token=$tok_globex" PGAPPNAME=mt_an_listener "$MT_PGBIN/psql" -X -At -U $role -d $db >"$work/listener.out" 2>&1 &
listener=$!
for _ in $(seq 200); do
    [ "$(mt_psql -d $db -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mt_an_listener' AND query LIKE '%pg_sleep%'")" = 1 ] && break
    sleep 0.05
done
# crossing: 9 then 2 (total 11 >= 10)
PGOPTIONS="-c multitenant.token=$tok_acme" "$MT_PGBIN/psql" -X -At -U $role -d $db \
    -c "SELECT mt.track('exports', 9)" -c "SELECT mt.track('exports', 2)" >/dev/null || { touch "$work/crossed"; fail "tracking failed"; }
touch "$work/crossed"
[ "$(mt_psql -d $db -c "SELECT count(*) FROM mt.usage_alerts WHERE tenant_id = '$acme'")" = 1 ] || fail "no alert row for Acme"
wait $listener || fail "the listener failed: $(cat "$work/listener.out")"
wait
out=$(cat "$work/listener.out")
echo "$out"
n=$(echo "$out" | grep -c 'Asynchronous notification "multitenant_usage"' || true)
[ "$n" -ge 1 ] || fail "the listener got no notification (the alert must still wake consumers): $out"
grep -q "$acme" <<<"$out" && fail "a listener of another tenant learned Acme's tenant id from the payload: $out"
grep -q 'exports' <<<"$out" && fail "a listener of another tenant learned Acme's metric from the payload: $out"
echo "$out" | grep 'Asynchronous notification "multitenant_usage"' | grep -c 'payload' >/dev/null &&
    fail "the notification carries a payload: $out"
echo "ok: the notification carries no payload (no tenant id, metric, usage or limits)"
[ "$(echo "$out" | tail -1)" = 0 ] || fail "Globex's role reads another tenant's alerts: $out"
echo "ok: the consumer of another tenant reads no alert from mt.usage_alerts (RLS)"

# the tenant itself finds its alert in the table
a=$(PGOPTIONS="-c multitenant.token=$tok_acme" "$MT_PGBIN/psql" -X -At -U $role -d $db \
    -c "SELECT metric || ' ' || used || ' ' || soft_limit || ' ' || hard_limit FROM mt.usage_alerts")
[ "$a" = "exports 11 10 100" ] || fail "Acme reads its alert as '$a'"
echo "ok: the tenant reads its own alert from mt.usage_alerts"

# forging: anyone may NOTIFY the channel, but nobody but the extension can
# write an alert, so a consumer that reads the table is not fooled
forged=$(PGOPTIONS="-c multitenant.token=$tok_globex" "$MT_PGBIN/psql" -X -At -U $role -d $db \
    -c "INSERT INTO mt.usage_alerts (tenant_id, metric, period, period_start, used, soft_limit) VALUES ('$globex', 'exports', 'month', date_trunc('month', now()), 1000, 1)" 2>&1 || true)
grep -q 'permission denied' <<<"$forged" || fail "a tenant role could write an alert: $forged"
[ "$(mt_psql -d $db -c "SELECT count(*) FROM mt.usage_alerts WHERE tenant_id = '$globex'")" = 0 ] || fail "forged alert stored"
echo "ok: an alert cannot be forged into mt.usage_alerts"
echo "all ok"
