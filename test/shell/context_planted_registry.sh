#!/usr/bin/env bash
# In a database without the extension, a role with CREATE on the database
# plants schema mt with a table tenants that lists any tenant as active.
# The token check must not trust it: the extension's tables are found only
# when they belong to the multitenant extension (pg_depend), so a validly
# signed token for a tenant that exists nowhere is refused ("does not
# exist") instead of being accepted on the planted row's word.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_planted
secret='planted-test-secret-0123456789-abcdefgh'
cleanup() {
    mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.jwt_secret" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS mt_planter" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS mt_planter" \
    -c "CREATE ROLE mt_planter LOGIN" -c "CREATE DATABASE $db" \
    -c "GRANT CREATE ON DATABASE $db TO mt_planter" \
    -c "ALTER SYSTEM SET multitenant.jwt_secret = '$secret'" -c "SELECT pg_reload_conf()" >/dev/null
# wait until a new session sees the secret
for _ in $(seq 50); do
    [ "$(mt_psql -d postgres -c "SELECT current_setting('multitenant.jwt_secret') <> ''")" = t ] && break
    sleep 0.1
done

tenant=$(python3 -c 'import uuid; print(uuid.uuid4())')
tok=$(python3 - "$secret" "$tenant" <<'PY'
import base64, hashlib, hmac, json, sys, time
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
secret, tid = sys.argv[1], sys.argv[2]
s = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + \
    b(json.dumps({"tid": tid, "exp": int(time.time()) + 3600}).encode())
print(s + "." + b(hmac.new(secret.encode(), s.encode(), hashlib.sha256).digest()))
PY
)

mt_psql -d $db -U mt_planter >/dev/null <<SQL
CREATE SCHEMA mt;
CREATE TABLE mt.tenants (id uuid PRIMARY KEY, status text NOT NULL);
INSERT INTO mt.tenants VALUES ('$tenant', 'active');
SQL

# the token travels in the startup packet (never in statement text)
out=$(PGOPTIONS="-c test.tok=$tok" mt_psql -d $db -U mt_planter \
    -c "SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL" 2>&1 || true)
echo "$out"
if [ "$out" = "t" ]; then
    fail "a token for a tenant listed only in a planted mt.tenants was accepted"
fi
grep -q "does not exist" <<<"$out" || fail "unexpected error: $out"
echo "ok: the planted registry is not trusted"
echo "all ok"
