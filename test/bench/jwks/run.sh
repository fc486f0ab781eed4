#!/usr/bin/env bash
# Issue 17: tokens of identity providers.  Per transaction that enters a
# tenant and reads one row by primary key (as test/bench/context), the
# verified context with an RS256 / ES256 token of a JWKS key (PyJWT-minted,
# 1,000 tenants) and with the server's HS256 token, each against the
# unverified set_config + current_setting.  Goals: HS256 >= 0.90, RS256
# and ES256 >= 0.80.  Each backend verifies a token's signature once and
# then finds it in its cache of verified tokens (jwks.c).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
db=bench_jwks
work=$(mktemp -d)
chmod 755 "$work"
trap 'rm -rf "$work"; mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.jwks" >/dev/null; cluster_reload' EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -f "$here/../context/setup.sql" >/dev/null

# Debian python3-jwt (scripts/deps.sh) lives with /usr/bin/python3
mint() { /usr/bin/python3 "$here/../../jwt_mint.py" "$@"; }
mint key "$work" rs rsa
mint key "$work" es ec
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwks = '$(mint jwks "$work" rs:rs1 es:es1)'" >/dev/null
cluster_reload_wait
mt_psql -d $db -c "COPY (SELECT i, tid FROM bench_tenants ORDER BY i) TO STDOUT" >"$work/tenants"
cat >"$work/mint.py" <<'PY'
import sys, time, jwt
from cryptography.hazmat.primitives import serialization
d = sys.argv[1]
key = lambda n: serialization.load_pem_private_key(open(f"{d}/{n}.pem", "rb").read(), None)
rs, es = key("rs"), key("es")
exp = int(time.time()) + 3600
for line in sys.stdin:
    i, tid = line.split()
    c = {"tid": tid, "exp": exp, "sub": f"user-{i}", "iss": "https://idp.example.com/"}
    print(i, jwt.encode(c, rs, "RS256", headers={"kid": "rs1"}),
          jwt.encode(c, es, "ES256", headers={"kid": "es1"}), sep="\t")
PY
/usr/bin/python3 "$work/mint.py" "$work" <"$work/tenants" >"$work/tokens"
mt_psql -d $db -c "CREATE TABLE idp_tokens (i int PRIMARY KEY, rs text NOT NULL, es text NOT NULL)" >/dev/null
mt_psql -d $db -c "\\copy idp_tokens FROM '$work/tokens'" >/dev/null
mt_psql -d $db -c "VACUUM ANALYZE idp_tokens" >/dev/null
for alg in rs es; do
    a=$(mt_psql -d $db -c "BEGIN" -c "SELECT set_config('multitenant.token', $alg, true) FROM idp_tokens WHERE i = 7" \
         -c "SELECT payload FROM items WHERE id = 605 AND tenant_id = mt.current_tenant()" -c "END" | tail -1)
    [ -n "$a" ] || { echo "$alg token: verified path returned no row"; exit 1; }
done
unv=0; hs=0; rs=0; es=0
for _ in $(seq "$BENCH_ROUNDS"); do
    u=$(tps $db "$here/../context/unverified.sql"); h=$(tps $db "$here/../context/verified.sql")
    r=$(tps $db "$here/rs256.sql"); e=$(tps $db "$here/es256.sql")
    unv=$(awk -v a="$unv" -v b="$u" 'BEGIN { print (b > a) ? b : a }')
    hs=$(awk -v a="$hs" -v b="$h" 'BEGIN { print (b > a) ? b : a }')
    rs=$(awk -v a="$rs" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
    es=$(awk -v a="$es" -v b="$e" 'BEGIN { print (b > a) ? b : a }')
done
ratio_line "jwks: HS256 token + PK read vs unverified GUC" "$hs" "$unv" 0.90
ratio_line "jwks: RS256 token (JWKS) + PK read vs unverified GUC" "$rs" "$unv" 0.80
ratio_line "jwks: ES256 token (JWKS) + PK read vs unverified GUC" "$es" "$unv" 0.80
