#!/usr/bin/env bash
# make bench: every benchmark in test/bench/*/run.sh against its baseline,
# measured in the same run on one throwaway cluster.  Prints ratios.
# BENCH_SECONDS, BENCH_ROUNDS, BENCH_CLIENTS and BENCH_ONLY=<dir> tune it.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/bench/lib.sh
make -s >/dev/null && make -s install >/dev/null
bench_start_cluster
trap bench_stop_cluster EXIT
echo "clients=$BENCH_CLIENTS seconds=$BENCH_SECONDS rounds=$BENCH_ROUNDS (best of rounds, alternating) huge_pages=$(bench_huge_status)"
for r in test/bench/*/run.sh; do
    name=$(basename "$(dirname "$r")")
    [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = "$name" ] || continue
    bash "$r"
done
