#!/usr/bin/env bash
# The generated server secret survives clean restarts and crashes (tokens
# minted before stay valid), is private to the server, and the extension
# works without preloading (context) while shared-memory features say how
# to fix it.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_restart_ctx
cluster_settings_save   # the preload list changes below
trap 'cluster_settings_restore restart' EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
tenant=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
token=$(mt_psql -d $db -c "SELECT mt.tenant_token('$tenant', '1 hour')")

check_token() {
    local got
    # the token travels in a placeholder of the startup packet, not in statement text
    got=$(PGOPTIONS="-c test.tok=$token" mt_psql -d $db \
        -c "SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NULL" -c "SELECT mt.current_tenant()" | tail -n 1)
    [ "$got" = "$tenant" ] || fail "$1: token not accepted (got '$got')"
    echo "ok: $1"
}

secret="$MT_PGDATA/multitenant.secret"
[ -f "$secret" ] || fail "no generated secret file"
mode=$(stat -c %a "$secret")
[ "$mode" = 600 ] || fail "secret file mode is $mode, not 600"
echo "ok: secret file exists with mode 600"
before=$(sha256sum "$secret")

check_token "before restart"
cluster_restart
check_token "after clean restart"
cluster_crash_restart
check_token "after crash (immediate stop)"
[ "$(sha256sum "$secret")" = "$before" ] || fail "secret changed across restarts"
echo "ok: secret unchanged"

# without preloading: CREATE EXTENSION works, the context works, nothing crashes
cluster_conf shared_preload_libraries ''
cluster_restart
mt_psql -d postgres -c "DROP DATABASE IF EXISTS ${db}_np" -c "CREATE DATABASE ${db}_np"
mt_psql -d ${db}_np -c "CREATE EXTENSION multitenant"
t2=$(mt_psql -d ${db}_np -c "SELECT mt.create_tenant('Np', 'np')")
got=$(mt_psql -d ${db}_np -c "SELECT mt.set_tenant('$t2', false)" -c "SELECT mt.current_tenant()" | tail -1)
[ "$got" = "$t2" ] || fail "context without preload (got '$got')"
echo "ok: context works without preloading"
# shared-memory features (usage metering) fail cleanly with the fix in the hint
for call in "mt.track('api_calls')" "mt.consume('api_calls')" "mt.rate_limit('b', 1, 1)" \
            "mt.flush_usage()" "count(*) FROM mt.usage()"; do
    out=$(mt_psql -d ${db}_np -v VERBOSITY=verbose -c "SELECT mt.set_tenant('$t2', false)" \
          -c "SELECT $call" 2>&1 || true)
    grep -q "ERROR:  55000: .* requires multitenant to be loaded via shared_preload_libraries" <<<"$out" ||
        fail "$call without preload: $out"
    grep -q "HINT:  Add 'multitenant' to shared_preload_libraries" <<<"$out" ||
        fail "$call without preload: no hint: $out"
done
[ "$(mt_psql -d ${db}_np -c "SELECT 1")" = 1 ] || fail "server unusable after the refused calls"
echo "ok: usage functions raise 55000 with the preload hint, no crash"
# suspension is still seen at the next transaction (per-transaction lookup)
got=$(mt_psql -d ${db}_np -c "SELECT mt.set_tenant('$t2', false)" \
      -c "SELECT mt.suspend_tenant('$t2')" -c "SELECT coalesce(mt.current_tenant()::text, 'none')" | tail -1)
[ "$got" = none ] || fail "suspension not seen without preload (got '$got')"
echo "ok: suspension seen without preloading"
check_token "old token, library loaded on demand"

cluster_settings_restore restart   # multitenant preloaded again
mt_psql -d postgres -c "DROP DATABASE ${db}_np" -c "DROP DATABASE $db"
echo "all ok"
