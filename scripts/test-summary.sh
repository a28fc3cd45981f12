#!/usr/bin/env bash
# Print one closing line, "tests: N passed, N failed", over the meson test
# logs given as arguments (build/meson-logs/testlog.json and the like).
# Exits 1 when a test failed or no test ran.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 TESTLOG.json..." >&2; exit 2; }
passed=0
failed=0
skipped=0
for log in "$@"; do
    [ -s "$log" ] || { echo "test-summary: $log is missing or empty" >&2; exit 1; }
    p=$(jq -s '[.[] | select(.result == "OK" or .result == "EXPECTEDFAIL")] | length' "$log")
    f=$(jq -s '[.[] | select(.result != "OK" and .result != "EXPECTEDFAIL" and .result != "SKIP")] | length' "$log")
    s=$(jq -s '[.[] | select(.result == "SKIP")] | length' "$log")
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
