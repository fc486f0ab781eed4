#!/usr/bin/env bash
# make test: build, install, start a throwaway cluster with the library
# preloaded, run every suite (pg_regress, pgTAP, isolation, restart/crash),
# print "N passed, N failed" and exit non-zero on any failure.
#
# Select suites with MT_SUITES="layers regress tap isolation shell restart citus"
# and single tests with MT_ONLY=<name>.  The citus suite (test/citus) runs
# on a coordinator and two workers; without Citus (not installed, and no
# ../shared/citus/citus-src.tar.gz to build it from: scripts/citus.sh) its
# tests are reported as skipped, never as passed.
set -uo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
. test/lib.sh
. test/citus/lib.sh

SUITES=${MT_SUITES:-"layers regress tap isolation shell restart citus"}
ONLY=${MT_ONLY:-}
OUT=$TOP/test/out
PGXS_DIR=$(dirname "$("$MT_PGBIN/pg_config" --pgxs)")/../..
PG_REGRESS=$PGXS_DIR/src/test/regress/pg_regress
PG_ISOLATION_REGRESS=$PGXS_DIR/src/test/isolation/pg_isolation_regress

passed=0
failed=0
skipped=0
failures=()

result() {   # result <suite> <name> <rc>
    local rc=$3
    # a test that changed the cluster's settings must have put them back
    # (trap ... EXIT, see cluster_settings_save in test/lib.sh); if not, it
    # fails and the settings are restored here so the next test is unaffected
    if [ -n "${SAVED:-}" ] && cluster_settings_changed "$SAVED"; then
        echo "  $1/$2 left cluster settings changed; restoring them" >&2
        [ "$rc" = 0 ] && rc=1
        cluster_settings_restore restart "$SAVED" >/dev/null 2>&1
    fi
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1)); printf '  %-10s %-40s ok\n' "$1" "$2"
    else
        failed=$((failed + 1)); failures+=("$1/$2"); printf '  %-10s %-40s FAILED\n' "$1" "$2"
    fi
}

skip() {     # skip <suite> <name> <reason>: not run, counted apart
    skipped=$((skipped + 1)); printf '  %-10s %-40s skipped (%s)\n' "$1" "$2" "$3"
}

wanted() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

make -s >/dev/null && make -s install >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

rm -rf "$OUT"; mkdir -p "$OUT"
[ "$(id -u)" = 0 ] && chmod 777 "$OUT"

# layers: the #include edges between src/ modules form no cycle
if [[ " $SUITES " == *" layers "* ]] && wanted check-layers; then
    echo "layers:"
    bash scripts/check-layers.sh >"$OUT/layers-check-layers.log" 2>&1
    rc=$?
    result layers check-layers $rc
    [ $rc = 0 ] || grep '^cycle' "$OUT/layers-check-layers.log"
fi
# and no test pipeline ends in grep -q (flaky under pipefail)
if [[ " $SUITES " == *" layers "* ]] && wanted check-test-pipes; then
    bash scripts/check-test-pipes.sh >"$OUT/layers-check-test-pipes.log" 2>&1
    rc=$?
    result layers check-test-pipes $rc
    [ $rc = 0 ] || head -20 "$OUT/layers-check-test-pipes.log"
fi

cluster_init multitenant || { echo "cluster did not start"; echo "0 passed, 1 failed"; exit 1; }
trap 'citus_cluster_destroy; cluster_destroy' EXIT
SAVED=$MT_ROOT/settings-at-start   # compared after every test
cluster_settings_save "$SAVED"

if [[ " $SUITES " == *" regress "* ]]; then
    echo "pg_regress:"
    for f in sql/*.sql; do
        t=$(basename "$f" .sql)
        case $t in multitenant--*) continue ;; esac   # the generated install script
        wanted "$t" || continue
        "$PG_REGRESS" --inputdir=. --outputdir="$OUT/regress" --bindir="$MT_PGBIN" \
            --host="$PGHOST" --port="$PGPORT" --user=postgres --dbname="mt_regress" \
            "$t" >"$OUT/regress-$t.log" 2>&1
        rc=$?
        result regress "$t" $rc
        [ $rc = 0 ] || cat "$OUT/regress/regression.diffs" 2>/dev/null | head -80
    done
fi

if [[ " $SUITES " == *" tap "* ]]; then
    echo "pgTAP:"
    for f in test/pgtap/*.sql; do
        [ -e "$f" ] || continue
        t=$(basename "$f" .sql)
        wanted "$t" || continue
        db="mt_tap_$t"
        mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
        mt_psql -d "$db" -c "CREATE EXTENSION pgtap; CREATE EXTENSION multitenant" >/dev/null
        pg_prove -d "$db" -U postgres -h "$PGHOST" -p "$PGPORT" "$f" >"$OUT/tap-$t.log" 2>&1
        rc=$?
        result tap "$t" $rc
        [ $rc = 0 ] || grep -v '^ok ' "$OUT/tap-$t.log" | head -60
    done
fi

if [[ " $SUITES " == *" isolation "* ]]; then
    echo "isolation:"
    for f in test/isolation/specs/*.spec; do
        [ -e "$f" ] || continue
        t=$(basename "$f" .spec)
        wanted "$t" || continue
        "$PG_ISOLATION_REGRESS" --inputdir=test/isolation --outputdir="$OUT/isolation" \
            --bindir="$MT_PGBIN" --host="$PGHOST" --port="$PGPORT" --user=postgres \
            --dbname=mt_isolation "$t" >"$OUT/isolation-$t.log" 2>&1
        rc=$?
        result isolation "$t" $rc
        [ $rc = 0 ] || cat "$OUT/isolation/regression.diffs" 2>/dev/null | head -80
    done
fi

# shell-driven suites: test/shell (end-to-end with other programs) and
# test/restart (clean restarts and immediate-mode crashes)
for suite in shell restart; do
    [[ " $SUITES " == *" $suite "* ]] || continue
    echo "$suite:"
    for f in test/$suite/*.sh; do
        [ -e "$f" ] || continue
        t=$(basename "$f" .sh)
        wanted "$t" || continue
        bash "$f" >"$OUT/$suite-$t.log" 2>&1
        rc=$?
        result "$suite" "$t" $rc
        [ $rc = 0 ] || tail -40 "$OUT/$suite-$t.log"
        # every script leaves the cluster running; make sure
        [ -f "$MT_PGDATA/postmaster.pid" ] || cluster_start
    done
done

# citus: one coordinator + two workers for the whole suite (test/citus/lib.sh)
if [[ " $SUITES " == *" citus "* ]]; then
    echo "citus:"
    tests=()
    for f in test/citus/*.sh; do
        t=$(basename "$f" .sh)
        [ "$t" = lib ] && continue
        wanted "$t" && tests+=("$t")
    done
    citus_rc=0
    [ ${#tests[@]} -gt 0 ] && { bash scripts/citus.sh >"$OUT/citus-build.log" 2>&1 || citus_rc=$?; }
    if [ ${#tests[@]} -eq 0 ]; then
        :
    elif [ $citus_rc = 3 ]; then
        tail -1 "$OUT/citus-build.log"
        for t in "${tests[@]}"; do skip citus "$t" "Citus not available"; done
    elif [ $citus_rc != 0 ]; then
        result citus build-citus 1
        tail -30 "$OUT/citus-build.log"
    elif ! citus_cluster_init >"$OUT/citus-cluster.log" 2>&1; then
        result citus cluster-start 1
        tail -30 "$OUT/citus-cluster.log"
    else
        for t in "${tests[@]}"; do
            bash "test/citus/$t.sh" >"$OUT/citus-$t.log" 2>&1
            rc=$?
            result citus "$t" $rc
            [ $rc = 0 ] || tail -40 "$OUT/citus-$t.log"
            # a test that stopped a node leaves it running again
            citus_cluster_start >/dev/null 2>&1
        done
        for i in 0 1 2; do cp "$(citus_log $i)" "$OUT/citus-${CITUS_NAMES[$i]}.server.log" 2>/dev/null; done
    fi
    citus_cluster_destroy
fi

# the closing lines are what a CI summary keeps: the server log first, then
# each failed test's last lines and the list of failures next to the count
if [ $failed -gt 0 ]; then
    echo "server log tail:"; tail -20 "$MT_LOG" 2>/dev/null
    for f in "${failures[@]}"; do
        log=${f%%/*}-${f#*/}.log
        [ -f "$OUT/$log" ] || continue
        echo "--- last lines of $f (test/out/$log):"
        tail -6 "$OUT/$log"
    done
    echo "failed: ${failures[*]}"
fi
if [ $skipped -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ $failed = 0 ] && [ $passed -gt 0 ]
