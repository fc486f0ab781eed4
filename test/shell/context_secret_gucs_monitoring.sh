#!/usr/bin/env bash
# A monitoring role cannot read the HS256 signing secrets.  GUC_SUPERUSER_ONLY
# hides a setting from ordinary roles only: members of pg_read_all_settings
# (pg_monitor includes it) read multitenant.jwt_secret and, during a change
# of it, multitenant.jwt_secret_previous with SHOW or current_setting(), and
# with either can mint a token for any tenant.  Both now show a mask when
# set ('' when not); tokens signed with them keep verifying, and an
# ordinary role still gets 42501.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_secret_gucs
cluster_settings_save
cleanup() {
    mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.jwt_secret" \
        -c "ALTER SYSTEM RESET multitenant.jwt_secret_previous" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS mt_monitor" \
        -c "DROP ROLE IF EXISTS mt_plain" >/dev/null 2>&1 || true
    cluster_settings_restore reload
}
trap cleanup EXIT
current=$(printf 'c%.0s' $(seq 40)); previous=$(printf 'p%.0s' $(seq 40))
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
    -c "DROP ROLE IF EXISTS mt_monitor" -c "CREATE ROLE mt_monitor LOGIN IN ROLE pg_monitor" \
    -c "DROP ROLE IF EXISTS mt_plain" -c "CREATE ROLE mt_plain LOGIN" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
[ "$(mt_psql -d postgres -U mt_monitor -c "SELECT current_setting('multitenant.jwt_secret')")" = "" ] \
    || fail "an unset jwt_secret does not read as empty"
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwt_secret = '$current'" \
    -c "ALTER SYSTEM SET multitenant.jwt_secret_previous = '$previous'" >/dev/null
cluster_reload_wait

for guc in multitenant.jwt_secret multitenant.jwt_secret_previous; do
    for how in "SHOW $guc" "SELECT current_setting('$guc')" "SELECT setting FROM pg_catalog.pg_settings WHERE name = '$guc'"; do
        got=$(mt_psql -d postgres -U mt_monitor -c "$how" 2>&1 || true)
        case $got in *ccccccccccccccc*|*ppppppppppppppp*) fail "a pg_monitor member reads $guc with $how: $got" ;; esac
        got=$(mt_psql -d postgres -U postgres -c "$how" 2>&1 || true)
        case $got in *ccccccccccccccc*|*ppppppppppppppp*) fail "$how shows $guc in clear text: $got" ;; esac
    done
    got=$(mt_psql -d postgres -U mt_plain -v VERBOSITY=verbose -c "SHOW $guc" 2>&1 || true)
    grep -q 42501 <<<"$got" || fail "an ordinary role reads $guc: $got"
done
[ "$(mt_psql -d postgres -U mt_monitor -c "SELECT current_setting('multitenant.jwt_secret') <> ''")" = t ] \
    || fail "a set jwt_secret reads as empty"
echo "ok: a pg_monitor member sees neither jwt_secret nor jwt_secret_previous"

# the secrets themselves still work
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
tok=$(python3 - "$previous" "$acme" <<'PY'
import base64, hashlib, hmac, json, sys, time
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
secret, tid = sys.argv[1], sys.argv[2]
s = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + \
    b(json.dumps({"tid": tid, "exp": int(time.time()) + 3600}).encode())
print(s + "." + b(hmac.new(secret.encode(), s.encode(), hashlib.sha256).digest()))
PY
)
got=$(PGOPTIONS="-c test.tok=$tok" mt_psql -d $db 2>&1 <<'SQL' || true
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS entered \gset
SELECT mt.current_tenant();
SQL
)
[ "$got" = "$acme" ] || fail "a token signed with jwt_secret_previous is refused: $got"
tok=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '1 hour')")
got=$(PGOPTIONS="-c test.tok=$tok" mt_psql -d $db 2>&1 <<'SQL' || true
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS entered \gset
SELECT mt.current_tenant();
SQL
)
[ "$got" = "$acme" ] || fail "a token minted with jwt_secret is refused: $got"
echo "ok: tokens of jwt_secret and jwt_secret_previous verify"
echo "all ok"
