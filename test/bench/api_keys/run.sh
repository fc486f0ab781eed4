#!/usr/bin/env bash
# Issue: SELECT mt.authenticate(k) for keys of 1,000 tenants costs at most
# 25 % (ratio >= 0.75) against the same key lookup with SELECT 1.  Also
# prints the bcrypt reference (pgcrypto crypt(), cost 10) for the README.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
db=bench_api_keys
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -f "$here/setup.sql" >/dev/null
# sanity: every script returns the right thing
a=$(mt_psql -d $db -c "SELECT mt.authenticate(k) = tid FROM bench_keys WHERE i = 7")
b=$(mt_psql -d $db -c "SELECT crypt(k, bcrypt_hash) = bcrypt_hash FROM bench_keys WHERE i = 7")
[ "$a" = t ] && [ "$b" = t ] || { echo "sanity check failed (authenticate=$a bcrypt=$b)"; exit 1; }
auth=0; base=0
for _ in $(seq "$BENCH_ROUNDS"); do
    x=$(tps $db "$here/baseline.sql"); y=$(tps $db "$here/authenticate.sql")
    base=$(awk -v a="$base" -v b="$x" 'BEGIN { print (b > a) ? b : a }')
    auth=$(awk -v a="$auth" -v b="$y" 'BEGIN { print (b > a) ? b : a }')
done
bcrypt=$(tps $db "$here/bcrypt.sql")
failed=$(mt_psql -d $db -c "SELECT count(*) FROM mt.api_key_throttle()")
[ "$failed" = 0 ] || echo "warning: the throttle saw failures during the benchmark"
ratio_line "api_keys: mt.authenticate(key), 1,000 tenants vs SELECT 1" "$auth" "$base" 0.75
ratio_line "api_keys: reference bcrypt crypt() cost 10 vs SELECT 1" "$bcrypt" "$base" -
ratio_line "api_keys: mt.authenticate(key) vs bcrypt crypt() cost 10" "$auth" "$bcrypt" -
