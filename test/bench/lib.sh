#!/usr/bin/env bash
# Benchmark helpers: a separate throwaway cluster, pgbench runs, ratios.
# Each benchmark measures its baseline in the same run, on the same
# cluster, with the same client count, alternating runs to spread noise.
set -euo pipefail
# its own cluster beside the test cluster (MT_ROOT / MT_PORT, if set)
# (exported, so each benchmark's run.sh, which sources this file again,
# lands on the same cluster)
export MT_BENCH_ROOT=${MT_BENCH_ROOT:-${MT_ROOT:-/tmp/multitenant}-bench}
export MT_BENCH_PORT=${MT_BENCH_PORT:-$(( ${MT_PORT:-54329} + 10 ))}
MT_ROOT=$MT_BENCH_ROOT
MT_PORT=$MT_BENCH_PORT
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BENCH_CLIENTS=${BENCH_CLIENTS:-8}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}

# Huge pages, as a server with this shared_buffers is set up in production
# (PostgreSQL's docs, "Managing Kernel Resources").  Without them each new
# backend maps shared_buffers 4 kB at a time as it first touches it: here a
# fresh connection's mt.audit_verify() over 1,000,000 rows (590 MB of
# buffers) took 1.8 s with 4 kB pages and 0.8 s with huge pages.  As root the
# run reserves the pages the server needs (postgres -C
# shared_memory_size_in_huge_pages) and gives them back at the end
# (bench_stop_cluster); huge_pages = try, so where the kernel cannot, the
# server runs on 4 kB pages.  The header line says which.
BENCH_HUGE_SAVED=
bench_huge_pages() {
    local need have
    [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/nr_hugepages ] || return 0
    need=$(as_pg "$MT_PGBIN/postgres" -D "$MT_PGDATA" -C shared_memory_size_in_huge_pages 2>/dev/null) || return 0
    [ "${need:-0}" -gt 0 ] 2>/dev/null || return 0
    have=$(cat /proc/sys/vm/nr_hugepages)
    BENCH_HUGE_SAVED=$have
    echo $((have + need)) >/proc/sys/vm/nr_hugepages 2>/dev/null || true
}

bench_start_cluster() {
    cluster_init multitenant
    cat >>"$MT_PGDATA/postgresql.conf" <<CONF
shared_buffers = '512MB'
synchronous_commit = off
max_parallel_workers_per_gather = 0
huge_pages = try
CONF
    cluster_stop fast
    bench_huge_pages
    cluster_start
}

# the server's huge_pages setting in effect: on (huge pages) or off (4 kB)
bench_huge_status() {
    local pm
    pm=$(head -1 "$MT_PGDATA/postmaster.pid")
    if grep -q "hugepages\|anon_hugepage" "/proc/$pm/maps" 2>/dev/null; then echo on; else echo off; fi
}

bench_stop_cluster() {
    cluster_destroy
    [ -z "$BENCH_HUGE_SAVED" ] || echo "$BENCH_HUGE_SAVED" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
}

# pgbench_run <db> <script> [extra pgbench args]: one run with the
# benchmark's settings; prints pgbench's report
pgbench_run() {
    local db=$1 script=$2; shift 2
    "$MT_PGBIN/pgbench" -n -M prepared -c "$BENCH_CLIENTS" -j "$BENCH_CLIENTS" -T "$BENCH_SECONDS" \
        -f "$script" "$@" "$db" 2>&1
}
# report_tps / report_xacts: transactions per second / processed, of a report on stdin
report_tps() { awk '/^tps = / { print $3; exit }'; }
report_xacts() { awk '/actually processed:/ { print $NF; exit }'; }

# tps <db> <script> [extra pgbench args]: prints transactions per second
tps() {
    pgbench_run "$@" | report_tps
}

# server_ticks: the CPU time (clock ticks) of every server process: the
# postmaster's reaped children (a run's backends once they exit) and the
# live ones (background workers, autovacuum).  pgbench itself is not counted.
server_ticks() {
    local pm
    pm=$(head -1 "$MT_PGDATA/postmaster.pid")
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$pm" '
        $1 == pm { s += $14 + $15 + $16 + $17 }
        $4 == pm { s += $14 + $15 }
        END { print s }'
}

# cpu_per_xact <ticks> <transactions>: server CPU microseconds per transaction
cpu_per_xact() {
    awk -v d="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (n > 0) ? d * 1e6 / hz / n : 0 }'
}

# tps_cpu <db> <script> [extra pgbench args]: prints "<tps> <server CPU us
# per transaction>" of one run (the CPU of every server process during it,
# background work included: less disturbed by other load than throughput)
tps_cpu() {
    local c0 c1 out
    c0=$(server_ticks)
    out=$(pgbench_run "$@")
    c1=$(server_ticks)
    echo "$(report_tps <<<"$out") $(cpu_per_xact "$((c1 - c0))" "$(report_xacts <<<"$out")")"
}

# cpu_line <label> <us> <baseline us>: information line; the ratio is the
# baseline's over the measured one, so that 1 means the same cost
cpu_line() {
    awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN {
        printf "%-60s %7.1f us vs %7.1f us  ratio %.3f\n", l, a, b, (a > 0) ? b / a : 0 }'
}

# best <a> <b>: the larger (the best throughput of rounds); least <a> <b>: the
# smaller, 0 meaning none yet (the least time or CPU of rounds)
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (b > a) ? b : a }'; }
least() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == 0 || b < a) ? b : a }'; }

# best_of <db> <script>: the best of BENCH_ROUNDS runs (least disturbed by noise)
best_of() {
    local best=0 t
    for _ in $(seq "$BENCH_ROUNDS"); do
        best=$(best "$best" "$(tps "$@")")
    done
    echo "$best"
}

# Paired short runs (twenty-second session).  On the shared 2-core VMs
# here the machine's own speed moves by up to 20% for seconds at a time
# (one 60 s run of the same script, per second: 4,800-5,300 tps for eight
# seconds, then 6,200-6,700, then 7,100-7,200), so two 10 s runs of the
# same script minutes apart differ by as much as the goals' margins, and a
# best-of-rounds ratio often compares one side's fast state with the
# other's slow one.  A goal line of the append and floor benchmarks
# instead runs its two scripts in BENCH_PAIRS pairs of adjacent
# BENCH_PAIR_SECONDS runs, alternating which of the two goes first, and
# takes the median of the pairs' ratios; the quartiles show the spread,
# and an A/A line (the baseline against itself, same pairing) shows what
# the method reads when there is no difference.
BENCH_PAIRS=${BENCH_PAIRS:-32}
BENCH_PAIR_SECONDS=${BENCH_PAIR_SECONDS:-2}

# paired <baseline command> <command>: each command runs one
# BENCH_PAIR_SECONDS run (BENCH_SECONDS is set for it) and prints its tps,
# optionally followed by a second figure of the same run (tps_warm: the
# first second's tps); prints "<median ratio> <q1> <q3> <pairs> <mean
# baseline tps> <mean tps>", and when both commands printed a second
# figure, the same six numbers for it after them
paired() {
    local i ta tb f out
    f=$(mktemp)
    for i in $(seq "$BENCH_PAIRS"); do
        if (( i % 2 )); then
            ta=$(BENCH_SECONDS=$BENCH_PAIR_SECONDS eval "$1"); tb=$(BENCH_SECONDS=$BENCH_PAIR_SECONDS eval "$2")
        else
            tb=$(BENCH_SECONDS=$BENCH_PAIR_SECONDS eval "$2"); ta=$(BENCH_SECONDS=$BENCH_PAIR_SECONDS eval "$1")
        fi
        awk -v a="$ta" -v b="$tb" 'BEGIN { n = split(a, x, " "); m = split(b, y, " ")
            if (x[1] > 0 && y[1] > 0) printf "%.6f %s %s", y[1] / x[1], x[1], y[1]; else exit
            if (n > 1 && m > 1 && x[2] > 0 && y[2] > 0) printf " %.6f %s %s", y[2] / x[2], x[2], y[2]
            printf "\n" }'
    done >"$f"
    out=$(pair_summary 1 <"$f")
    if awk 'NF < 6 { bad = 1 } END { exit (NR == 0 || bad) }' "$f"; then
        out="$out $(pair_summary 4 <"$f")"
    fi
    rm -f "$f"
    echo "$out"
}

# pair_summary <column>: of the pairs on stdin, the ratio in <column> and the
# two sides' tps in the next two: "<median> <q1> <q3> <pairs> <mean a> <mean b>"
pair_summary() {
    awk -v c="$1" '{ print $c, $(c + 1), $(c + 2) }' | sort -g | awk '{ r[NR] = $1; sa += $2; sb += $3 } END {
        if (NR == 0) { print "0 0 0 0 0 0"; exit }
        # the median, and the quartiles as the medians of the lower and upper halves
        m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
        h = int(NR / 2); lo = int((h + 1) / 2); hi = NR - h + lo
        q1 = (h % 2) ? r[lo] : (r[lo] + r[lo + 1]) / 2
        q3 = (h % 2) ? r[hi] : (r[hi] + r[hi + 1]) / 2
        if (h == 0) { q1 = m; q3 = m }
        printf "%.4f %.4f %.4f %d %.1f %.1f\n", m, q1, q3, NR, sa / NR, sb / NR }'
}

# tps_warm <db> <script> [extra pgbench args]: one run of BENCH_WARMUP
# seconds more than BENCH_SECONDS, reporting each second (pgbench -P 1);
# prints "<tps after the first BENCH_WARMUP seconds> <tps of the first
# second>".  Each pgbench run opens new connections, and a new backend's
# first calls fill its caches (mt.authenticate: each key and its tenant
# read once per backend), so a short run that counts them weighs that
# one-time cost by how short it is; the first figure is the steady state
# a pooled connection sees, the second the cost of new connections.
BENCH_WARMUP=${BENCH_WARMUP:-1}
# (A run that printed too few progress lines gives its whole-run tps for
# the figure it lacks.)
tps_warm() {
    local out
    out=$(BENCH_SECONDS=$((BENCH_SECONDS + BENCH_WARMUP)) pgbench_run "$@" -P 1)
    awk -v w="$BENCH_WARMUP" -v tps="$(report_tps <<<"$out")" '
        /^progress: / { n++; if (n == 1) first = $4; if (n > w) { s += $4; k++ } }
        END { printf "%s %s\n", (k > 0) ? s / k : tps, (n > 0) ? first : tps }' <<<"$out"
}

# paired_line <label> <threshold or -> <paired's output>: the median ratio
# against the goal, with the quartiles and the mean tps of each side; the
# runs are described as PAIR_RUNS (default "<BENCH_PAIR_SECONDS> s runs")
paired_line() {
    local label=$1 th=$2
    shift 2
    awk -v l="$label" -v th="$th" -v m="$1" -v q1="$2" -v q3="$3" -v n="$4" -v a="$5" -v b="$6" \
        -v s="${PAIR_RUNS:-$BENCH_PAIR_SECONDS s runs}" 'BEGIN {
        verdict = (th == "-") ? "" : sprintf("  %s (target >= %s)", (m >= th) ? "PASS" : "FAIL", th)
        printf "%-60s %10.0f tps vs %10.0f tps  ratio %.3f%s\n", l, b, a, m, verdict
        printf "%-60s median of %d paired %s, quartiles %.3f-%.3f\n", "", n, s, q1, q3 }'
}

# ratio_line <label> <tps> <baseline tps> <threshold or -> <direction ge|le>
ratio_line() {
    awk -v l="$1" -v a="$2" -v b="$3" -v th="$4" -v dir="${5:-ge}" 'BEGIN {
        r = (b > 0) ? a / b : 0
        verdict = ""
        if (th != "-") verdict = ((dir == "ge" && r >= th) || (dir == "le" && r <= th)) ? "  PASS" : "  FAIL"
        if (th != "-") verdict = verdict sprintf(" (target %s %s)", dir == "ge" ? ">=" : "<=", th)
        printf "%-60s %10.0f tps vs %10.0f tps  ratio %.3f%s\n", l, a, b, r, verdict
    }'
}
