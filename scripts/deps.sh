#!/usr/bin/env bash
# Installs what building and testing multitenant needs, when it is missing.
# Debian packages only; runs as root (as CI and the README commands do).
set -euo pipefail
pkgs=(postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-contrib
      libsodium-dev libssl-dev postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
      postgresql-15-cron postgresql-15-pgaudit pgbouncer openssl oathtool python3 python3-jwt make gcc)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -c "install ok installed" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps: missing packages: ${missing[*]} (run as root to install them)" >&2
        exit 1
    fi
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Citus for the Citus suite (test/citus): built into the PostgreSQL tree the
# tests use when ../shared/citus/citus-src.tar.gz is there.  A failed build
# does not stop the other suites: test/run.sh tries again and reports it.
rc=0
bash "$(dirname "$0")/citus.sh" || rc=$?
case $rc in
    0|3) ;;
    *) echo "deps: building Citus failed (exit $rc); the Citus suite will report it" >&2 ;;
esac
