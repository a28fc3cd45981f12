#!/usr/bin/env bash
# Start the Azure emulator on free loopback ports, run one test program
# against it with the emulator's AZURE_* settings, and stop the emulator.
# Usage: run-emulator-tests.sh EMULATOR CONFIG TEST_PROGRAM
set -euo pipefail

emulator=$1
config=$2
test_program=$3

workdir=$(mktemp -d)
emulator_pid=""
cleanup() {
    if [ -n "$emulator_pid" ]; then
        kill "$emulator_pid" 2>/dev/null || true
        wait "$emulator_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

"$emulator" --config "$config" --env-file "$workdir/env" \
    --log-level warn >"$workdir/emulator.log" 2>&1 &
emulator_pid=$!

for _ in $(seq 1 100); do
    [ -s "$workdir/env" ] && break
    if ! kill -0 "$emulator_pid" 2>/dev/null; then
        echo "the emulator exited before it was ready:" >&2
        cat "$workdir/emulator.log" >&2
        exit 1
    fi
    sleep 0.1
done
if [ ! -s "$workdir/env" ]; then
    echo "the emulator wrote no env file within 10 s" >&2
    exit 1
fi

# Values are taken verbatim; the file is not shell syntax to evaluate.
while IFS='=' read -r name value; do
    case "$name" in
    AZURE_*) export "$name=$value" ;;
    esac
done <"$workdir/env"

status=0
"$test_program" >"$workdir/test.log" 2>&1 || status=$?
cat "$workdir/test.log"

# The client must never write its credential into a log line.
if grep -qF -- "$AZURE_CLIENT_SECRET" "$workdir/test.log"; then
    echo "FAIL: the client secret appears in the test output" >&2
    status=1
fi
exit "$status"
