#!/usr/bin/env bash
# Starts the demo: a local control plane, the Azure emulator and the
# webhook on 127.0.0.1, with their files in .demo/ at the top of the
# repository. Then applies manifests/examples/azure-kv-access-test.yaml,
# waits until the AzureIdentityTerminator is Ready, shows what it created
# (never a secret value) and shows that the stored client secret obtains a
# token from the emulator. Everything keeps running after this script
# returns; scripts/demo-down.sh stops it. A demo already running in .demo/
# is stopped first.
#
# Usage: scripts/demo-up.sh [BUILD_DIR]
#   BUILD_DIR  meson build folder with the webhook and the emulator
#              (default: build). `make demo` builds them first.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=local-stack.sh
. "$here/local-stack.sh"

build=$(realpath "${1:-$repo/build}")
demo=$repo/.demo
webhook_bin=$build/src/azidt-webhook
emulator_bin=$build/test/emulator/azidt-azure-emulator
example=$repo/manifests/examples/azure-kv-access-test.yaml
namespace=my-namespace
name=azure-kv-access-test
ready_timeout=120

for bin in "$webhook_bin" "$emulator_bin"; do
    [[ -x "$bin" ]] || die "$bin is missing; run make build first"
done

if [[ -e "$demo" ]]; then
    say "stopping the demo that is already in $demo"
    "$here/demo-down.sh" || die "stopping the previous demo failed"
fi
mkdir -p "$demo"

# On failure stop what started, but keep the logs for reading.
failed() {
    say "$*"
    say "stopping the demo; its logs stay in $demo/logs and $demo/azure" \
        "until make demo-down"
    stack_down "$demo" 2>/dev/null
    exit 1
}
trap 'failed "interrupted"' INT TERM

# env_value FILE NAME: the value of NAME=... in FILE.
env_value() {
    sed -n "s/^$2=//p" "$1"
}

heading() {
    printf '\n== %s\n' "$*"
}

started=$SECONDS
stack_up "$demo" "$webhook_bin" "$emulator_bin" --log-level info ||
    failed "starting the control plane, the emulator or the webhook failed"
# shellcheck source=/dev/null
. "$(stack_env_file "$demo")"
admin_url=$(env_value "$AZIDT_AZURE_ENV" AZURE_EMULATOR_ADMIN_URL)
authority=$(env_value "$AZIDT_AZURE_ENV" AZURE_AUTHORITY_HOST)
arm=$(env_value "$AZIDT_AZURE_ENV" AZURE_ARM_ENDPOINT)
azure_ca=$(env_value "$AZIDT_AZURE_ENV" AZURE_CA_FILE)
say "control plane, Azure emulator and webhook running after" \
    "$((SECONDS - started)) s"

# The CRDs come from test/cluster/up.sh; a missing one would make the
# example fail with a less clear message.
for crd in azureidentityterminators.azidterminator.io \
    azureidentities.aadpodidentity.k8s.io \
    azureidentitybindings.aadpodidentity.k8s.io; do
    kubectl get crd "$crd" >/dev/null || failed "the CRD $crd is not installed"
done

kubectl create namespace "$namespace" >/dev/null ||
    failed "creating the namespace $namespace failed"
heading "kubectl apply -f ${example#"$repo"/}"
applied=$(date +%s%N)
kubectl apply -f "$example" || failed "applying the example was rejected"
if ! kubectl wait --for=condition=Ready --timeout="${ready_timeout}s" \
    -n "$namespace" "azidt/$name"; then
    kubectl get azidt "$name" -n "$namespace" \
        -o 'jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
    tail -n 30 "$AZIDT_WEBHOOK_LOG"
    failed "the AzureIdentityTerminator was not Ready within ${ready_timeout} s"
fi
ready_ms=$((($(date +%s%N) - applied) / 1000000))
# Count before the token request below, which the emulator counts too.
calls=$(curl --noproxy '*' -fsS --max-time 5 --cacert "$azure_ca" \
    "$admin_url/calls") || failed "reading the emulator's call log failed"

heading "kubectl get azidt -A"
kubectl get azidt -A

heading "Secret $namespace/$name (kubectl describe shows sizes, not values)"
kubectl describe secret "$name" -n "$namespace"

heading "AzureIdentity and AzureIdentityBinding $namespace/$name"
kubectl get azureidentity,azureidentitybinding "$name" -n "$namespace" \
    -o yaml

heading "The stored client secret obtains a token from the emulator"
tenant=$(kubectl get azureidentity "$name" -n "$namespace" \
    -o 'jsonpath={.spec.tenantID}')
client_id=$(kubectl get azureidentity "$name" -n "$namespace" \
    -o 'jsonpath={.spec.clientID}')
token_url=$authority/$tenant/oauth2/v2.0/token
token_reply=$demo/token-reply.json
# The secret goes to curl on stdin, so no command line shows it, and the
# reply with the token is deleted once its two fields are read.
status=$(kubectl get secret "$name" -n "$namespace" \
    -o 'jsonpath={.data.clientSecret}' | base64 -d |
    curl --noproxy '*' -sS --max-time 10 --cacert "$azure_ca" \
        -o "$token_reply" -w '%{http_code}' \
        --data-urlencode grant_type=client_credentials \
        --data-urlencode "client_id=$client_id" \
        --data-urlencode "scope=$arm/.default" \
        --data-urlencode client_secret@- \
        "$token_url")
fields=$(jq -r '"token_type \(.token_type), expires_in \(.expires_in) s"' \
    "$token_reply" 2>/dev/null)
error=$(jq -r '.error // empty' "$token_reply" 2>/dev/null)
rm -f "$token_reply"
echo "POST $token_url"
echo "  grant_type=client_credentials client_id=$client_id scope=$arm/.default"
echo "  client_secret=(the Secret's clientSecret, not shown)"
if [[ "$status" != 200 ]]; then
    echo "  HTTP $status ${error:-}"
    failed "the stored client secret did not obtain a token"
fi
echo "  HTTP $status, $fields (token not shown)"

heading "Summary"
echo "Ready $((ready_ms / 1000)).$(printf '%03d' $((ready_ms % 1000))) s after kubectl apply"
echo "Azure calls the emulator served (webhook and controller, including" \
    "their own token requests): $(jq -r .total <<<"$calls")"
jq -r '.counts | group_by(.service)[]
       | "  \(.[0].service): \(map(.count) | add)"' <<<"$calls"
cat <<EOF

Everything keeps running. To use the cluster:
  export KUBECONFIG=$KUBECONFIG
or, to get the pinned kubectl on PATH too:
  . $demo/env
Logs: $demo/logs/ (webhook.log, kube-apiserver.log, ...), $demo/azure/emulator.log
Emulator admin API: $admin_url (CA $azure_ca)
Stop everything: make demo-down
EOF
