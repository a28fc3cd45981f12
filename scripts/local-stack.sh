# Shell functions that run the whole product on loopback: the local control
# plane (test/cluster/up.sh), the Azure emulator and the webhook, with the
# webhook registered in the cluster. The demo and the benchmarks use them.
# Sourced, not run; set `repo` to the top of the repository first.
#
#   stack_up DIR WEBHOOK_BIN EMULATOR_BIN [WEBHOOK_FLAG...]
#       Start everything with its files in DIR and return once the webhook
#       is registered. Writes DIR/stack.env (see stack_env_file) and
#       leaves every process running. Returns nonzero after printing what
#       failed; the caller then runs stack_down DIR.
#   stack_down DIR
#       Stop what stack_up DIR started. Safe to run more than once, and
#       after a stack_up that failed halfway. Leaves DIR in place.
#
# Layout of DIR: the cluster's files (env, kubeconfig, pki/, logs/, run/;
# see test/cluster/README.md), azure/ (the emulator's azure.env, CA
# certificate and log), logs/webhook.log, run/webhook.pid.

# shellcheck source=../test/cluster/lib.sh
. "$repo/test/cluster/lib.sh"
# shellcheck source=../test/emulator/emulator.sh
. "$repo/test/emulator/emulator.sh"

# Namespace the webhook would run in; the webhook configuration leaves it
# out of admission.
stack_webhook_namespace=azidt-system

# DIR/stack.env: the cluster's env file plus AZIDT_WEBHOOK_URL (base URL
# of the webhook), AZIDT_WEBHOOK_LOG and AZIDT_AZURE_ENV (the emulator's
# AZURE_* settings and AZURE_EMULATOR_ADMIN_URL).
stack_env_file() {
    echo "$1/stack.env"
}

stack_up() {
    local dir=$1 webhook_bin=$2 emulator_bin=$3
    shift 3
    local port log azure_env

    "$repo/test/cluster/up.sh" "$dir" || {
        say "the local control plane did not start"
        return 1
    }
    # shellcheck source=/dev/null
    . "$dir/env"
    start_emulator "$emulator_bin" "$dir/azure" || return 1
    azure_env=$dir/azure/azure.env

    port=$(free_port)
    log=$dir/logs/webhook.log
    echo "=== $(date -u +%FT%TZ) starting the webhook on port $port" >>"$log"
    (
        set -a
        # shellcheck source=/dev/null
        . "$azure_env"
        set +a
        exec "$webhook_bin" \
            --listen-address 127.0.0.1 \
            --port "$port" \
            --tls-cert-file "$AZIDT_TEST_WEBHOOK_CERT_FILE" \
            --tls-key-file "$AZIDT_TEST_WEBHOOK_KEY_FILE" \
            --kubeconfig "$KUBECONFIG" \
            "$@"
    ) </dev/null >>"$log" 2>&1 &
    echo $! >"$dir/run/webhook.pid"
    if ! wait_until 30 "the webhook's /readyz" curl --noproxy '*' -fsS \
        --max-time 2 --cacert "$AZIDT_TEST_CA_FILE" \
        "https://127.0.0.1:$port/readyz"; then
        say "the webhook did not become ready; the end of $log follows"
        tail -n 40 "$log" >&2
        return 1
    fi

    "$repo/scripts/render-webhook-config.sh" \
        --ca-file "$AZIDT_TEST_CA_FILE" \
        --namespace "$stack_webhook_namespace" \
        --url "https://127.0.0.1:$port" >"$dir/webhook-configurations.yaml" &&
        kubectl apply -f "$dir/webhook-configurations.yaml" >/dev/null &&
        kubectl create namespace "$stack_webhook_namespace" >/dev/null || {
        say "registering the webhook failed"
        return 1
    }

    {
        cat "$dir/env"
        printf 'export AZIDT_WEBHOOK_URL=%q\n' "https://127.0.0.1:$port"
        printf 'export AZIDT_WEBHOOK_LOG=%q\n' "$log"
        printf 'export AZIDT_AZURE_ENV=%q\n' "$azure_env"
    } >"$(stack_env_file "$dir")"
}

stack_down() {
    local dir=$1

    # The webhook stops first, so that it does not log a lost apiserver.
    # down.sh stops the control plane and any other process with a pid
    # file in DIR/run.
    stop_pid "$dir/run/webhook.pid" webhook
    stop_emulator "$dir/azure"
    if [[ -d "$dir/run" ]]; then
        "$repo/test/cluster/down.sh" "$dir"
    fi
}
