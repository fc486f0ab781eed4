#!/usr/bin/env bash
# Installs Citus into the PostgreSQL tree the tests use (the one test/lib.sh
# picks: MT_PGBIN, or MT_PG_PREFIX, or the system's), for the Citus suite of
# `make test` (test/citus).  Called by scripts/deps.sh and by test/run.sh.
#
# Source: ../shared/citus/ next to the repository (as on CI, where the
# repository is cloned next to it), built with its build-citus.sh from
# citus-src.tar.gz (CITUS_BITCODE=0: no JIT bitcode, ~2x faster).
#   MT_CITUS_DIR      overrides that directory
#   MT_CITUS_TARBALL  overrides the tarball (default $MT_CITUS_DIR/citus-src.tar.gz)
#   JOBS              parallel make jobs (build-citus.sh's default: nproc)
#
# Exit status: 0 Citus is installed (already, or built now); 3 not
# available (not installed and no tarball: test/run.sh reports the suite as
# skipped); anything else: the build failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pgbin=${MT_PGBIN:-${MT_PG_PREFIX:-}/usr/lib/postgresql/15/bin}
pg_config=$pgbin/pg_config
citus_dir=${MT_CITUS_DIR:-$root/../shared/citus}
tarball=${MT_CITUS_TARBALL:-$citus_dir/citus-src.tar.gz}

[ -x "$pg_config" ] || { echo "citus: $pg_config not found" >&2; exit 1; }
if [ -f "$("$pg_config" --pkglibdir)/citus.so" ] &&
   [ -f "$("$pg_config" --sharedir)/extension/citus.control" ]; then
    echo "citus: installed in $("$pg_config" --pkglibdir)"
    exit 0
fi
if [ ! -f "$tarball" ]; then
    echo "citus: $tarball not found and Citus is not installed: the Citus suite is skipped"
    exit 3
fi
[ -f "$citus_dir/build-citus.sh" ] || { echo "citus: $citus_dir/build-citus.sh not found" >&2; exit 1; }

build_dir=$(mktemp -d /tmp/citus-build.XXXXXX)
trap 'rm -rf "$build_dir"' EXIT
echo "citus: building $tarball into $("$pg_config" --pkglibdir) (a few minutes)"
PG_CONFIG=$pg_config CITUS_BITCODE=0 BUILD_DIR=$build_dir/src \
    bash "$citus_dir/build-citus.sh" "$tarball"
