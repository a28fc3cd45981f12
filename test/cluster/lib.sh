# Shell helpers shared by the cluster scripts. Sourced, not run.

# Print a message prefixed with the calling script's name to stderr.
say() {
    echo "$(basename "$0"): $*" >&2
}

die() {
    say "$@"
    exit 1
}

# Print a TCP port on 127.0.0.1 that nothing listens on. Ports come from
# 20000-32767, below Linux's default ephemeral range, so outgoing connections
# do not take them. Ports already handed out by this shell are skipped. A
# port can still be taken between this check and the bind; callers retry on
# "address already in use".
taken_ports=" "
free_port() {
    local port i
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + RANDOM % 12768))
        [[ "$taken_ports" == *" $port "* ]] && continue
        if [[ -z "$(ss -Hltn "sport = :$port")" ]]; then
            taken_ports+="$port "
            echo "$port"
            return 0
        fi
    done
    die "no free TCP port found on 127.0.0.1"
}

# wait_until SECONDS DESCRIPTION COMMAND...
# Run COMMAND every 0.2 s until it succeeds or SECONDS pass.
wait_until() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            say "timed out after ${seconds}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

# True while the process whose pid is stored in FILE runs.
pid_alive() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# stop_pid FILE NAME: send SIGTERM to the pid in FILE, wait up to 10 s,
# then SIGKILL. Removes FILE.
stop_pid() {
    local file=$1 name=$2 pid i
    pid=$(cat "$file" 2>/dev/null) || return 0
    rm -f "$file"
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    say "$name (pid $pid) ignored SIGTERM for 10 s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# print_log_tails DIR [LINES]: the last lines of every log in DIR/logs.
print_log_tails() {
    local dir=$1 lines=${2:-40} log
    for log in "$dir"/logs/*.log; do
        [[ -f "$log" ]] || continue
        echo "----- last $lines lines of $log -----"
        tail -n "$lines" "$log"
    done
}
