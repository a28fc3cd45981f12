#!/usr/bin/env bash
# End-to-end test of client certificate authentication: the local
# apiserver presents a client certificate to webhooks (test/cluster/up.sh
# --webhook-client-cert) and the webhook runs with --client-ca-file. The
# example is admitted through kubectl, while an AdmissionReview posted
# without that certificate is refused with 401 and creates nothing.
# Prints one line per case and closes with "N passed, N failed".
#
# Usage: test/e2e/client-auth.sh WEBHOOK_BINARY EMULATOR_BINARY [CASE...]
# Environment: see test/e2e/lib.sh (AZIDT_E2E_KEEP=1 keeps the logs).
set -uo pipefail

export AZIDT_E2E_CLIENT_CERT=1
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# An AdmissionReview for a CREATE of the example, as the apiserver sends it.
example_review() {
    jq -n --arg uid "0f6c2d0e-client-auth-$1" --arg name "$1" '{
        apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
        request: {uid: $uid,
            kind: {group: "azidterminator.io", version: "v1alpha1",
                   kind: "AzureIdentityTerminator"},
            resource: {group: "azidterminator.io", version: "v1alpha1",
                       resource: "azureidentityterminators"},
            operation: "CREATE", namespace: "my-namespace", name: $name,
            userInfo: {username: "mallory"},
            object: {apiVersion: "azidterminator.io/v1alpha1",
                kind: "AzureIdentityTerminator",
                metadata: {name: $name, namespace: "my-namespace",
                           uid: "0f6c2d0e-client-auth-uid"},
                spec: {appRegistration: {displayName: $name},
                    azureIdentityName: $name,
                    nodeResourceGroup: "my-aks-cluster-node-resource-group",
                    podSelector: "azure-kv-pods",
                    servicePrincipal: {clientSecretDuration: "720h"}}}}}'
}

# post_review NAME [CURL_OPTION...]: POST the review for NAME to the
# validating route; prints the HTTP status, then the body.
post_review() {
    local name=$1
    shift
    example_review "$name" | curl --noproxy '*' -sS --max-time 20 \
        --cacert "$AZIDT_TEST_CA_FILE" -H 'Content-Type: application/json' \
        --data-binary @- -w '\n%{http_code}\n' "$@" \
        "https://127.0.0.1:$webhook_port/validate/azureidentityterminators"
}

# azure NAME: a setting the emulator wrote (URL, CA file).
azure() {
    sed -n "s/^$1=//p" "$azure_env"
}

# The sequence number of the emulator's last call.
emulator_last_call() {
    curl --noproxy '*' -fsS --max-time 10 --cacert "$(azure AZURE_CA_FILE)" \
        "$(azure AZURE_EMULATOR_ADMIN_URL)/calls" | jq -r '.lastSeq'
}

case_example_admitted() {
    run kubectl apply -f "$example"
    expect_success &&
        expect_output "azureidentityterminator.azidterminator.io/azure-kv-access-test created" ||
        return 1
    run kubectl get azidt azure-kv-access-test -n "$example_namespace" \
        -o 'jsonpath={.metadata.finalizers}'
    expect_success && expect_output "azidterminator.io/cleanup"
}

case_post_without_certificate_refused() {
    local before
    before=$(emulator_last_call) || fail "cannot read the emulator's calls" ||
        return 1
    run post_review e2e-no-cert
    expect_success && expect_output "401" &&
        expect_output "no client certificate was sent" || return 1
    # The webhook called nothing in Azure.
    run emulator_last_call
    expect_output "$before" || return 1
    run grep -c '"status":"401"' "$webhook_log"
    expect_success
}

case_post_with_other_certificate_refused() {
    # The admin certificate is valid for the apiserver, not for the webhook.
    run post_review e2e-admin-cert --cert "$AZIDT_TEST_DIR/pki/admin.crt" \
        --key "$AZIDT_TEST_DIR/pki/admin.key"
    expect_success && expect_output "401" && expect_output "not verified"
}

case_post_with_apiserver_certificate_answered() {
    # A dry run, so that nothing is created in Azure.
    run bash -c "$(declare -f example_review); example_review e2e-good-cert |
        jq '.request.dryRun = true' | curl --noproxy '*' -sS --max-time 20 \
        --cacert '$AZIDT_TEST_CA_FILE' -H 'Content-Type: application/json' \
        --cert '$AZIDT_TEST_WEBHOOK_CLIENT_CERT_FILE' \
        --key '$AZIDT_TEST_WEBHOOK_CLIENT_KEY_FILE' --data-binary @- \
        -w '\n%{http_code}\n' \
        https://127.0.0.1:$webhook_port/validate/azureidentityterminators"
    expect_success && expect_output '"allowed":true' && expect_output "200"
}

case_probes_open_without_certificate() {
    local path
    for path in healthz readyz metrics; do
        run curl --noproxy '*' -fsS --max-time 5 \
            --cacert "$AZIDT_TEST_CA_FILE" \
            "https://127.0.0.1:$webhook_port/$path"
        expect_success || return 1
    done
    expect_output "azidt_client_certificate_rejections_total"
}

all_cases=(
    example_admitted
    post_without_certificate_refused
    post_with_other_certificate_refused
    post_with_apiserver_certificate_answered
    probes_open_without_certificate
)

e2e_main "$@"
