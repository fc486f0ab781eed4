#!/usr/bin/env bash
# TOTP codes agree with oathtool (Debian package oathtool, an independent
# RFC 6238 implementation): the secret of the otpauth:// URI that
# mt.totp_enroll returns, fed to oathtool, yields codes mt.totp_verify
# accepts, for SHA-1/6 digits, SHA-256/8 digits and SHA-512/7 digits, once
# each (the same code again is a replay); and mt.totp_code agrees with
# oathtool at fixed times, also for the RFC 6238 seed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
command -v oathtool >/dev/null || fail "oathtool is not installed (scripts/deps.sh installs it)"

db=mt_totp_oathtool
trap 'mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme Inc', 'acme')")

# a step boundary must not pass between oathtool and the verification
wait_early_in_step() {
    while [ $(( $(date +%s) % 30 )) -gt 25 ]; do sleep 0.5; done
}

for spec in "SHA1 6 sha1" "SHA256 8 sha256" "SHA512 7 sha512"; do
    set -- $spec
    alg=$1 digits=$2 oalg=$3 subject="user-$1@example.com"
    uri=$(mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.totp_enroll('$subject', '$alg', $digits)" | tail -1)
    case "$uri" in
        "otpauth://totp/Acme%20Inc:user-$alg%40example.com?secret="*"&issuer=Acme%20Inc&algorithm=$alg&digits=$digits&period=30") ;;
        *) fail "unexpected otpauth URI for $alg: $uri" ;;
    esac
    secret=$(sed 's/.*secret=\([A-Z2-7]*\)&.*/\1/' <<<"$uri")
    wait_early_in_step
    code=$(oathtool --totp="$oalg" --digits="$digits" --base32 "$secret")
    r=$(mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.totp_verify('$subject', '$code')" | tail -1)
    [ "$r" = t ] || fail "$alg/$digits: oathtool's code $code was not accepted"
    r=$(mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.totp_verify('$subject', '$code')" | tail -1)
    [ "$r" = f ] || fail "$alg/$digits: oathtool's code $code was accepted twice"
    # oathtool's next-step code (+1 window)
    next=$(oathtool --totp="$oalg" --digits="$digits" --base32 --now="$(date -u -d '+30 seconds' '+%Y-%m-%d %H:%M:%S UTC')" "$secret")
    r=$(mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.totp_verify('$subject', '$next')" | tail -1)
    [ "$r" = t ] || fail "$alg/$digits: oathtool's next-step code was not accepted"
    echo "ok: $alg, $digits digits: oathtool's codes accepted once each"

    # mt.totp_code at fixed times agrees with oathtool
    hex=$(python3 -c "import base64,sys; s=sys.argv[1]; print(base64.b32decode(s + '=' * (-len(s) % 8)).hex())" "$secret")
    for t in 59 1111111109 1234567890 2000000000; do
        o=$(oathtool --totp="$oalg" --digits="$digits" --now="@$t" "$hex")
        m=$(mt_psql -d $db -c "SELECT mt.totp_code('\\x$hex', to_timestamp($t), '$alg', $digits)")
        [ "$o" = "$m" ] || fail "$alg/$digits at $t: oathtool $o, mt.totp_code $m"
    done
    echo "ok: $alg, $digits digits: mt.totp_code agrees with oathtool at fixed times"
done

# the RFC 6238 seed through oathtool
seed=$(printf 12345678901234567890 | od -An -tx1 | tr -d ' \n')
o=$(oathtool --totp --digits=8 --now="@1111111109" "$seed")
m=$(mt_psql -d $db -c "SELECT mt.totp_code('\\x$seed', to_timestamp(1111111109), 'SHA1', 8)")
[ "$o" = 07081804 ] && [ "$m" = "$o" ] || fail "RFC seed: oathtool $o, mt.totp_code $m (expected 07081804)"
echo "ok: the RFC 6238 SHA-1 vector through oathtool and mt.totp_code"
