#!/usr/bin/env bash
# The test scripts run under `set -o pipefail`: a `... | grep -q` stops
# reading at the first match, the writer gets SIGPIPE, and the pipeline
# fails although the line was there (a flaky test).  Lists such pipelines
# in test/, scripts/ and bin/ and fails if there is one; write
# `grep -q PATTERN <<<"$var"` or `... | grep -c PATTERN >/dev/null`.
cd "$(dirname "$0")/.." || exit 2
hits=$(grep -rnE '(^|[^|])\|[[:space:]]*grep[[:space:]]+-[A-Za-z]*q' test scripts bin --include='*.sh' --include='mt-*' |
    grep -v '^scripts/check-test-pipes.sh:')
if [ -n "$hits" ]; then
    echo "$hits"
    echo "pipelines ending in grep -q (flaky under pipefail): $(grep -c . <<<"$hits")"
    exit 1
fi
echo "no pipeline ends in grep -q"
