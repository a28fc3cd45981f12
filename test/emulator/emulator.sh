# Shell functions to run the Azure emulator from tests and the demo.
# Source test/cluster/lib.sh first (say, die, wait_until, stop_pid).
#
#   start_emulator BIN DIR [CONFIG]  start it on free loopback ports; its
#                                    settings land in DIR/azure.env, its log
#                                    in DIR/emulator.log, its pid in
#                                    DIR/emulator.pid
#   stop_emulator DIR                stop it

start_emulator() {
    local bin=$1 dir=$2
    local config=${3:-$(dirname "${BASH_SOURCE[0]}")/default-config.json}

    mkdir -p "$dir"
    rm -f "$dir/azure.env"
    "$bin" --config "$config" --env-file "$dir/azure.env" \
        --ca-file "$dir/emulator-ca.crt" \
        </dev/null >>"$dir/emulator.log" 2>&1 &
    echo $! >"$dir/emulator.pid"
    if ! wait_until 30 "the Azure emulator's env file" test -s "$dir/azure.env"; then
        say "the Azure emulator did not start; its log follows"
        tail -n 40 "$dir/emulator.log" >&2
        return 1
    fi
}

stop_emulator() {
    stop_pid "$1/emulator.pid" emulator
}
