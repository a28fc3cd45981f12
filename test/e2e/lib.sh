# Shared machinery of the end-to-end scripts. Sourced, not run: a script
# sources it, defines its cases as functions `case_<name>` and the array
# all_cases, then calls `e2e_main WEBHOOK_BINARY EMULATOR_BINARY [CASE...]`.
#
# e2e_main starts a local control plane (test/cluster/up.sh), the Azure
# emulator and the webhook, registers the webhook as a cluster would,
# creates the test namespaces and runs the named cases (default: all, in
# order). It prints one line per case and closes with "N passed, N failed".
# A failing case prints the command, its output, and the tails of the
# apiserver, webhook and emulator logs.
#
# Environment:
#   AZIDT_E2E_KEEP=1               keep the temporary folder (logs, data)
#   AZIDT_E2E_SWEEP_INTERVAL=DUR   the webhook's --sweep-interval (10m)
#   AZIDT_E2E_ORPHAN_GRACE=DUR     the webhook's --orphan-grace (10m)
#   AZIDT_E2E_CLIENT_CERT=1        the apiserver presents a client
#                                  certificate to webhooks, and the webhook
#                                  requires it (--client-ca-file)

e2e_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$e2e_here/../.." && pwd)
# shellcheck source=../cluster/lib.sh
. "$repo/test/cluster/lib.sh"
# shellcheck source=../emulator/emulator.sh
. "$repo/test/emulator/emulator.sh"

# Namespace the webhook would run in; the webhook configuration excludes it.
webhook_namespace=azidt-system
example=$repo/manifests/examples/azure-kv-access-test.yaml
example_namespace=my-namespace

work=""
webhook_bin=""
emulator_bin=""
webhook_log=/dev/null
apiserver_log=/dev/null
emulator_log=/dev/null

e2e_cleanup() {
    [[ -n "$work" ]] || return 0
    stop_webhook 2>/dev/null
    stop_emulator "$work/azure"
    "$repo/test/cluster/down.sh" "$work"
    if [[ "${AZIDT_E2E_KEEP:-0}" == 1 ]]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
}

# e2e_start WEBHOOK_BINARY EMULATOR_BINARY: the control plane and the
# emulator, with a trap that stops them on exit.
e2e_start() {
    webhook_bin=$(realpath "$1")
    emulator_bin=$(realpath "$2")
    [[ -x "$webhook_bin" ]] || die "webhook binary $webhook_bin is not executable"
    [[ -x "$emulator_bin" ]] || die "emulator binary $emulator_bin is not executable"

    work=$(mktemp -d "${TMPDIR:-/tmp}/azidt-e2e.XXXXXX")
    trap e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    local up_options=()
    [[ "${AZIDT_E2E_CLIENT_CERT:-0}" == 1 ]] &&
        up_options=(--webhook-client-cert)
    "$repo/test/cluster/up.sh" "${up_options[@]}" "$work" ||
        die "the control plane did not start"
    # shellcheck source=/dev/null
    . "$work/env"
    webhook_log=$AZIDT_TEST_LOG_DIR/webhook.log
    apiserver_log=$AZIDT_TEST_LOG_DIR/kube-apiserver.log
    emulator_log=$work/azure/emulator.log
    start_emulator "$emulator_bin" "$work/azure" ||
        die "the Azure emulator did not start"
    azure_env=$work/azure/azure.env
    manifests=$work/manifests
    mkdir -p "$manifests"
}

# ------------------------------------------------------------- webhook

webhook_port=""
# start_webhook [INSTANCE]: start a webhook replica on a free port and wait
# for its /readyz. The default instance is "webhook"; another name starts a
# further replica with its own pid file, log lines marked with its name.
# Sets webhook_port to the new replica's port.
start_webhook() {
    local instance=${1:-webhook}
    local auth=()
    [[ -n "${AZIDT_TEST_WEBHOOK_CLIENT_CA_FILE:-}" ]] &&
        auth=(--client-ca-file "$AZIDT_TEST_WEBHOOK_CLIENT_CA_FILE"
            --client-cert-names "$AZIDT_TEST_WEBHOOK_CLIENT_NAME")
    webhook_port=$(free_port)
    echo "=== $(date -u +%FT%TZ) starting $instance on port $webhook_port" \
        >>"$webhook_log"
    (
        set -a
        # shellcheck source=/dev/null
        . "$azure_env"
        set +a
        exec "$webhook_bin" \
            --listen-address 127.0.0.1 \
            --port "$webhook_port" \
            --tls-cert-file "$AZIDT_TEST_WEBHOOK_CERT_FILE" \
            --tls-key-file "$AZIDT_TEST_WEBHOOK_KEY_FILE" \
            --kubeconfig "$KUBECONFIG" \
            --instance "$instance" \
            --sweep-interval "${AZIDT_E2E_SWEEP_INTERVAL:-10m}" \
            --orphan-grace "${AZIDT_E2E_ORPHAN_GRACE:-10m}" \
            --secret-overlap "${AZIDT_E2E_SECRET_OVERLAP:-10m}" \
            --log-level debug \
            "${auth[@]}"
    ) </dev/null >>"$webhook_log" 2>&1 &
    echo $! >"$AZIDT_TEST_DIR/run/$instance.pid"
    if ! wait_until 30 "the webhook's /readyz" curl --noproxy '*' -fsS \
        --max-time 2 --cacert "$AZIDT_TEST_CA_FILE" \
        "https://127.0.0.1:$webhook_port/readyz"; then
        say "$instance did not become ready; its log follows"
        tail -n 60 "$webhook_log" >&2
        return 1
    fi
}

# stop_webhook [INSTANCE]: SIGTERM, then SIGKILL after 10 s.
stop_webhook() {
    [[ -n "${AZIDT_TEST_DIR:-}" ]] || return 0
    stop_pid "$AZIDT_TEST_DIR/run/${1:-webhook}.pid" "${1:-webhook}"
}

# ----------------------------------------------------------- Azure side

# azure NAME: one setting from the emulator's env file.
azure() {
    sed -n "s/^$1=//p" "$azure_env"
}

# token_for CLIENT_ID SECRET: the token endpoint's JSON answer for a client
# secret, as a pod using the identity would request it.
token_for() {
    local graph tenant
    graph=$(azure AZURE_GRAPH_ENDPOINT)
    tenant=$(azure AZURE_TENANT_ID)
    curl --noproxy '*' -sS --max-time 10 --cacert "$(azure AZURE_CA_FILE)" \
        --data-urlencode grant_type=client_credentials \
        --data-urlencode "client_id=$1" \
        --data-urlencode "client_secret=$2" \
        --data-urlencode "scope=$graph/.default" \
        "$(azure AZURE_AUTHORITY_HOST)/$tenant/oauth2/v2.0/token"
}

register_webhook() {
    "$repo/scripts/render-webhook-config.sh" \
        --ca-file "$AZIDT_TEST_CA_FILE" \
        --namespace "$webhook_namespace" \
        --url "https://127.0.0.1:$webhook_port" >"$manifests/webhook.yaml" &&
        kubectl apply -f "$manifests/webhook.yaml" >/dev/null
}

# -------------------------------------------------- stored objects

# Namespace of the example and most cases, and how long Ready may take.
ns=$example_namespace
ready_timeout=${ready_timeout:-90}

# get KIND NAME JSONPATH: one field of a stored object.
get() {
    kubectl get "$1" "$2" -n "$ns" -o "jsonpath=$3"
}

is_ready() {
    [[ "$(get azidt "$1" '{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

# wait_ready NAME: wait until NAME reports Ready=True.
wait_ready() {
    if ! wait_until "$ready_timeout" "$1 to become Ready" is_ready "$1"; then
        run kubectl get azidt "$1" -n "$ns" -o yaml
        fail "$1 did not become Ready within $ready_timeout s"
        return 1
    fi
}

# The value of the client secret stored for identity NAME.
stored_secret() {
    get secret "$1" '{.data.clientSecret}' | base64 -d
}

# ----------------------------------------------------- case machinery

passed=0
failed=0
last_cmd=""
last_out=""
last_rc=0

# run CMD...: run a command, keep its command line, output and exit code.
run() {
    last_cmd=$*
    last_out=$("$@" 2>&1)
    last_rc=$?
}

# Report a failed check: what was expected, the command, its output and
# the log tails.
fail() {
    local log
    echo "  FAILED: $*"
    echo "  command: $last_cmd"
    echo "  exit code: $last_rc"
    echo "  output:"
    sed 's/^/    /' <<<"$last_out"
    for log in "$apiserver_log" "$webhook_log" "$emulator_log"; do
        echo "  ----- last 30 lines of $log -----"
        tail -n 30 "$log" | sed 's/^/    /'
    done
    return 1
}

expect_success() {
    ((last_rc == 0)) || fail "expected success${1:+: $1}"
}

expect_failure() {
    ((last_rc != 0)) || fail "expected the command to fail${1:+: $1}"
}

# expect_output TEXT: the last output contains TEXT (fixed string).
expect_output() {
    grep -qF -- "$1" <<<"$last_out" ||
        fail "expected the output to contain: $1"
}

expect_no_output() {
    ! grep -qF -- "$1" <<<"$last_out" ||
        fail "expected the output not to contain: $1"
}

# Lines the webhook logged since mark_webhook_log.
webhook_log_mark=0
mark_webhook_log() {
    webhook_log_mark=$(wc -l <"$webhook_log")
}
new_webhook_log() {
    tail -n "+$((webhook_log_mark + 1))" "$webhook_log"
}

# write_manifest NAME: stdin to $manifests/NAME.yaml, prints the path.
write_manifest() {
    cat >"$manifests/$1.yaml"
    echo "$manifests/$1.yaml"
}

# terminator NAME: write an AzureIdentityTerminator manifest named NAME and
# print its path. The spec is the spec lines on stdin, or one like the
# documented example when stdin is empty.
terminator() {
    local name=$1 spec
    spec=$(cat)
    if [[ -z "$spec" ]]; then
        spec="  appRegistration:
    displayName: $name
  azureIdentityName: $name
  nodeResourceGroup: my-aks-cluster-node-resource-group
  podSelector: $name-pods
  servicePrincipal:
    clientSecretDuration: 720h
    tags:
    - azure-kv-aks-test"
    fi
    write_manifest "$name" <<EOF
apiVersion: azidterminator.io/v1alpha1
kind: AzureIdentityTerminator
metadata:
  name: $name
  namespace: $example_namespace
spec:
$spec
EOF
}

# A valid spec with one line replaced: valid_spec_with SED_EXPRESSION.
valid_spec_with() {
    sed "$1" <<EOF
  appRegistration:
    displayName: e2e
  azureIdentityName: e2e-identity
  nodeResourceGroup: my-aks-cluster-node-resource-group
  podSelector: e2e-pods
  servicePrincipal:
    clientSecretDuration: 720h
    tags:
    - azure-kv-aks-test
EOF
}

# expect_not_stored NAME: no AzureIdentityTerminator NAME exists.
expect_not_stored() {
    run kubectl get azureidentityterminator "$1" -n "$example_namespace"
    expect_failure "the rejected object must not be stored" &&
        expect_output "NotFound"
}

# expect_webhook_denial NAME TEXT: the last kubectl command was denied by
# the validating webhook with a message containing TEXT (the field path or
# the unknown field's quoted name), and NAME is not stored.
expect_webhook_denial() {
    local name=$1 text=$2
    expect_failure "the manifest is invalid" &&
        expect_output 'admission webhook "azureidentityterminators.validate.azidterminator.io" denied the request' &&
        expect_output "$text" &&
        expect_not_stored "$name"
}

# ----------------------------------------------------------------- main

# e2e_main WEBHOOK_BINARY EMULATOR_BINARY [CASE...]: set everything up and
# run the cases. The exit status is 0 when every case passed.
e2e_main() {
    local name started cases
    [[ $# -ge 2 ]] ||
        die "usage: $0 WEBHOOK_BINARY EMULATOR_BINARY [CASE...]"
    e2e_start "$1" "$2"
    shift 2
    start_webhook || die "the webhook did not start"
    register_webhook || die "registering the webhook failed"
    kubectl create namespace "$example_namespace" >/dev/null &&
        kubectl create namespace "$webhook_namespace" >/dev/null ||
        die "creating the test namespaces failed"

    cases=("$@")
    ((${#cases[@]})) || cases=("${all_cases[@]}")
    for name in "${cases[@]}"; do
        if ! declare -F "case_$name" >/dev/null; then
            echo "unknown case $name; cases: ${all_cases[*]}"
            failed=$((failed + 1))
            continue
        fi
        started=$SECONDS
        if "case_$name"; then
            echo "ok   $name ($((SECONDS - started)) s)"
            passed=$((passed + 1))
        else
            echo "FAIL $name ($((SECONDS - started)) s)"
            failed=$((failed + 1))
        fi
    done

    echo "$passed passed, $failed failed"
    ((failed == 0))
}
