#!/usr/bin/env bash
# End-to-end tests of admission: the webhook's validation of
# AzureIdentityTerminator objects, its registration and its selectors, run
# through kubectl exactly as a user types them against a local control
# plane, the Azure emulator and the webhook (test/e2e/lib.sh sets them up).
# Prints one line per case and closes with "N passed, N failed".
#
# Usage: test/e2e/run.sh WEBHOOK_BINARY EMULATOR_BINARY [CASE...]
#   CASE  run only the named cases (default: all, in order)
# Environment: see test/e2e/lib.sh (AZIDT_E2E_KEEP=1 keeps the logs).
set -uo pipefail

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# ---------------------------------------------------------------- cases

case_crd_established() {
    local crd
    for crd in azureidentityterminators.azidterminator.io \
        azureidentities.aadpodidentity.k8s.io \
        azureidentitybindings.aadpodidentity.k8s.io; do
        run kubectl get crd "$crd" \
            -o 'jsonpath={.status.conditions[?(@.type=="Established")].status}'
        expect_success && expect_output True || return 1
    done
    # The upstream CRDs keep their api-approved annotation, which the
    # apiserver requires for a group under k8s.io.
    run kubectl get crd azureidentities.aadpodidentity.k8s.io \
        -o 'jsonpath={.metadata.annotations.api-approved\.kubernetes\.io}'
    expect_success && expect_output unapproved
}

# Every field below spec and status has a description, and kubectl explain
# shows it.
case_explain_documents_every_field() {
    local paths path description
    run kubectl get crd azureidentityterminators.azidterminator.io -o json
    expect_success || return 1
    # Paths and descriptions of every property below spec and status of the
    # served version, as "path<TAB>description" lines.
    paths=$(jq -r '
        .spec.versions[] | select(.served) | .schema.openAPIV3Schema
        | paths(objects) as $p | getpath($p) as $node
        | select($p[-2] == "properties"
                 and ($p[1] == "spec" or $p[1] == "status"))
        | [($p | map(select(. != "properties" and . != "items"))
              | join(".")),
           ($node.description // "")] | @tsv' <<<"$last_out")
    [[ -n "$paths" ]] || fail "the CRD schema has no fields under spec" ||
        return 1
    while IFS=$'\t' read -r path description; do
        run kubectl explain "azidt.$path"
        expect_success || return 1
        [[ -n "$description" ]] ||
            fail "azidt.$path has no description in the CRD" || return 1
        # kubectl wraps long descriptions; compare the first words.
        expect_output "$(cut -d' ' -f1-4 <<<"$description")" || return 1
    done <<<"$paths"
    run kubectl explain azidt.spec
    local field
    for field in appRegistration azureIdentityName nodeResourceGroup \
        podSelector servicePrincipal; do
        expect_output "$field" || return 1
    done
}

case_example_admitted() {
    mark_webhook_log
    run kubectl apply -f "$example"
    expect_success &&
        expect_output "azureidentityterminator.azidterminator.io/azure-kv-access-test created" ||
        return 1
    run kubectl get azidt azure-kv-access-test -n "$example_namespace" \
        -o 'jsonpath={.spec.servicePrincipal.clientSecretDuration} {.spec.podSelector} {.spec.servicePrincipal.tags[0]}'
    expect_success &&
        expect_output "720h azure-kv-pods azure-kv-aks-test" || return 1
    # The mutating webhook's JSONPatch added the cleanup finalizer.
    run kubectl get azidt azure-kv-access-test -n "$example_namespace" \
        -o 'jsonpath={.metadata.finalizers}'
    expect_success && expect_output "azidterminator.io/cleanup" || return 1
    # Both webhooks saw the request.
    run new_webhook_log
    expect_output "/mutate/azureidentityterminators" &&
        expect_output "/validate/azureidentityterminators" &&
        expect_output "azure-kv-access-test"
}

# Fields that name existing Azure and Kubernetes objects cannot change.
case_immutable_field_update_rejected() {
    run kubectl patch azidt azure-kv-access-test -n "$example_namespace" \
        --type merge -p '{"spec":{"azureIdentityName":"renamed-identity"}}'
    expect_failure "azureIdentityName is immutable" &&
        expect_output 'admission webhook "azureidentityterminators.validate.azidterminator.io" denied the request' &&
        expect_output "spec.azureIdentityName" &&
        expect_output "immutable" || return 1
    run kubectl get azidt azure-kv-access-test -n "$example_namespace" \
        -o 'jsonpath={.spec.azureIdentityName}'
    expect_success && expect_output "azure-kv-access-test"
}

case_invalid_update_rejected() {
    run kubectl patch azidt azure-kv-access-test -n "$example_namespace" \
        --type merge \
        -p '{"spec":{"servicePrincipal":{"clientSecretDuration":"30d"}}}'
    expect_failure "30d is not a valid duration" &&
        expect_output "spec.servicePrincipal.clientSecretDuration" || return 1
    run kubectl get azidt azure-kv-access-test -n "$example_namespace" \
        -o 'jsonpath={.spec.servicePrincipal.clientSecretDuration}'
    expect_success && expect_output "720h"
}

case_valid_update_admitted() {
    run kubectl patch azidt azure-kv-access-test -n "$example_namespace" \
        --type merge \
        -p '{"spec":{"servicePrincipal":{"clientSecretDuration":"1440h"}}}'
    expect_success &&
        expect_output "azureidentityterminator.azidterminator.io/azure-kv-access-test patched"
}

case_bad_duration_rejected() {
    local file
    file=$(valid_spec_with 's/720h/30d/' | terminator e2e-bad-duration)
    run kubectl apply -f "$file"
    expect_webhook_denial e2e-bad-duration \
        spec.servicePrincipal.clientSecretDuration
}

case_negative_duration_rejected() {
    local file
    file=$(valid_spec_with 's/720h/-1h/' | terminator e2e-negative-duration)
    run kubectl apply -f "$file"
    expect_webhook_denial e2e-negative-duration \
        spec.servicePrincipal.clientSecretDuration
}

case_bad_identity_name_rejected() {
    local file
    file=$(valid_spec_with 's/azureIdentityName: .*/azureIdentityName: Bad_Name/' |
        terminator e2e-bad-identity-name)
    run kubectl apply -f "$file"
    expect_webhook_denial e2e-bad-identity-name spec.azureIdentityName
}

case_bad_resource_group_rejected() {
    local file
    file=$(valid_spec_with 's/nodeResourceGroup: .*/nodeResourceGroup: "rg-ends-in-period."/' |
        terminator e2e-bad-resource-group)
    run kubectl apply -f "$file"
    expect_webhook_denial e2e-bad-resource-group spec.nodeResourceGroup
}

case_bad_pod_selector_rejected() {
    local file
    file=$(valid_spec_with 's/podSelector: .*/podSelector: "not a label value"/' |
        terminator e2e-bad-pod-selector)
    run kubectl apply -f "$file"
    expect_webhook_denial e2e-bad-pod-selector spec.podSelector
}

# The CRD keeps unknown fields under spec, so the webhook receives a misspelt
# field and rejects it by name instead of the apiserver dropping it.
case_unknown_field_rejected() {
    local file
    file=$(valid_spec_with 's/^  podSelector: .*/&\n  clientSecretDurationn: 24h/' |
        terminator e2e-unknown-field)
    run kubectl apply -f "$file"
    expect_webhook_denial e2e-unknown-field '"spec.clientSecretDurationn"'
}

case_wrongly_cased_field_rejected() {
    local file
    file=$(valid_spec_with 's/^  podSelector:/  podselector:/' |
        terminator e2e-wrong-case)
    run kubectl apply -f "$file"
    expect_webhook_denial e2e-wrong-case '"spec.podselector"'
}

# kubectl --validate=false skips the client's and the apiserver's field
# checks; the webhook still rejects the misspelt field.
case_unknown_field_rejected_without_validation() {
    local file
    file=$(valid_spec_with 's/^    clientSecretDuration:/    ClientSecretDuration:/' |
        terminator e2e-wrong-case-lax)
    run kubectl apply --validate=false -f "$file"
    expect_webhook_denial e2e-wrong-case-lax '"spec.servicePrincipal.ClientSecretDuration"'
}

case_server_dry_run_reaches_webhook() {
    local file
    file=$(terminator e2e-dry-run </dev/null)
    mark_webhook_log
    run kubectl apply --dry-run=server -f "$file"
    expect_success &&
        expect_output "azureidentityterminator.azidterminator.io/e2e-dry-run created (server dry run)" &&
        expect_not_stored e2e-dry-run || return 1
    # The validating webhook reviewed it, and every review of it in the log
    # is marked as a dry run.
    run new_webhook_log
    last_out=$(grep -F '"name":"e2e-dry-run"' <<<"$last_out")
    expect_output '"path":"/validate/azureidentityterminators"' &&
        expect_output '"dry_run":"true"' &&
        expect_no_output '"dry_run":"false"'
}

# A pod that carries the identity labels reaches the webhook when it is
# created in an ordinary namespace: the control case for the skips below.
case_labelled_pod_reaches_webhook() {
    mark_webhook_log
    run kubectl run e2e-labelled-pod -n "$example_namespace" \
        --image=registry.k8s.io/pause:3.10 --restart=Never \
        --labels=azidterminator.io/identity=azure-kv-access-test
    run new_webhook_log
    expect_output "e2e-labelled-pod"
}

# ---------------------------------------------------------------- pods
# Pods stay Pending: the test cluster runs no scheduler and no kubelet.

# run_pod NAMESPACE NAME LABELS: create a pause pod with the labels
# (key=value,...).
run_pod() {
    run kubectl run "$2" -n "$1" --image=registry.k8s.io/pause:3.10 \
        --restart=Never --labels="$3"
}

# run_pod_retrying WANT NAMESPACE NAME LABELS: create the pod, retrying
# for up to 15 s while the outcome is not WANT (created or denied). The
# webhook's cache follows AzureIdentityTerminators and
# AzureIdentityBindings through watches, so it may see a change a moment
# after kubectl does. A pod created against WANT is deleted first.
run_pod_retrying() {
    local want=$1 deadline=$((SECONDS + 15))
    shift
    while :; do
        run_pod "$@"
        if [[ $want == created ]] && ((last_rc == 0)); then return; fi
        if [[ $want == denied ]] && ((last_rc != 0)); then return; fi
        ((SECONDS < deadline)) || return
        if ((last_rc == 0)); then
            kubectl delete pod "$2" -n "$1" --wait=false >/dev/null 2>&1
            wait_until 10 "pod $1/$2 to go" \
                bash -c "! kubectl get pod '$2' -n '$1'"
        fi
        sleep 0.5
    done
}

identity_is_ready() {
    [[ "$(kubectl get azidt "$1" -n "$example_namespace" \
        -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

selector_is_bound() {
    kubectl get azureidentitybindings -n "$example_namespace" \
        -o 'jsonpath={.items[*].spec.selector}' | grep -qw -- "$1"
}

# The example's pods name it by the identity label and get its podSelector
# as their aadpodidbinding label.
case_identity_pod_gets_binding_label() {
    if ! wait_until 120 "azure-kv-access-test to be Ready" \
        identity_is_ready azure-kv-access-test; then
        run kubectl get azidt azure-kv-access-test -n "$example_namespace" \
            -o yaml
        fail "the example AzureIdentityTerminator did not become Ready"
        return 1
    fi
    run_pod_retrying created "$example_namespace" e2e-identity-pod \
        azidterminator.io/identity=azure-kv-access-test
    expect_success && expect_output "pod/e2e-identity-pod created" || return 1
    run kubectl get pod e2e-identity-pod -n "$example_namespace" \
        -o 'jsonpath={.metadata.labels.aadpodidbinding}'
    expect_success && expect_output "azure-kv-pods"
}

case_missing_identity_pod_denied() {
    run_pod "$example_namespace" e2e-missing-identity-pod \
        azidterminator.io/identity=no-such-identity
    expect_failure "no AzureIdentityTerminator no-such-identity exists" &&
        expect_output 'admission webhook "pods.mutate.azidterminator.io" denied the request' &&
        expect_output "azidterminator.io/identity=no-such-identity" &&
        expect_output "does not exist in namespace $example_namespace" ||
        return 1
    run kubectl get pod e2e-missing-identity-pod -n "$example_namespace"
    expect_failure "the denied pod must not be stored" &&
        expect_output "NotFound"
}

ready_reason_is() {
    [[ "$(kubectl get azidt "$1" -n "$example_namespace" \
        -o 'jsonpath={.status.conditions[?(@.type=="Ready")].reason}')" == "$2" ]]
}

# A pod that names an identity which is not Ready is denied with the Ready
# reason. An AzureIdentity of the same name that the product does not own
# keeps the new identity from becoming Ready.
case_not_ready_identity_pod_denied() {
    local file deadline
    file=$(write_manifest e2e-foreign-identity <<EOF
apiVersion: aadpodidentity.k8s.io/v1
kind: AzureIdentity
metadata:
  name: e2e-not-ready
  namespace: $example_namespace
spec:
  type: 1
  clientID: 00000000-0000-0000-0000-000000000000
EOF
    )
    run kubectl apply -f "$file"
    expect_success "creating an AzureIdentity the product does not own" ||
        return 1
    file=$(terminator e2e-not-ready </dev/null)
    run kubectl apply -f "$file"
    expect_success || return 1
    if ! wait_until 60 "e2e-not-ready to report IdentityConflict" \
        ready_reason_is e2e-not-ready IdentityConflict; then
        run kubectl get azidt e2e-not-ready -n "$example_namespace" -o yaml
        fail "the identity did not report Ready False, IdentityConflict"
        return 1
    fi
    # The webhook's cache receives the new reason a moment after kubectl does.
    deadline=$((SECONDS + 15))
    while :; do
        run_pod "$example_namespace" e2e-not-ready-pod \
            azidterminator.io/identity=e2e-not-ready
        grep -qF "IdentityConflict" <<<"$last_out" && break
        ((last_rc != 0 && SECONDS < deadline)) || break
        sleep 0.5
    done
    expect_failure "the identity is not Ready" &&
        expect_output 'admission webhook "pods.mutate.azidterminator.io" denied the request' &&
        expect_output "AzureIdentityTerminator $example_namespace/e2e-not-ready" &&
        expect_output "is not Ready (IdentityConflict"
}

# A pod in another namespace cannot borrow the example's identity by
# setting its aadpodidbinding label, at creation or by a later label
# change. A pod of the example's namespace may set the label directly.
case_other_namespace_binding_denied() {
    local other=e2e-other-namespace
    wait_until 60 "a binding that selects azure-kv-pods" \
        selector_is_bound azure-kv-pods ||
        fail "no AzureIdentityBinding selects azure-kv-pods" || return 1
    kubectl create namespace "$other" >/dev/null 2>&1
    run_pod_retrying denied "$other" e2e-borrower \
        aadpodidbinding=azure-kv-pods
    expect_failure "azure-kv-pods is bound only in $example_namespace" &&
        expect_output 'admission webhook "pods.validate.azidterminator.io" denied the request' &&
        expect_output "aadpodidbinding=azure-kv-pods" &&
        expect_output "is not bound in namespace $other" &&
        expect_no_output "$example_namespace" || return 1

    run_pod "$other" e2e-relabelled app=e2e
    expect_success && expect_output "pod/e2e-relabelled created" || return 1
    run kubectl label pod e2e-relabelled -n "$other" \
        aadpodidbinding=azure-kv-pods
    expect_failure "labelling a running pod is checked too" &&
        expect_output "is not bound in namespace $other" || return 1

    run_pod "$example_namespace" e2e-direct-label \
        aadpodidbinding=azure-kv-pods
    expect_success && expect_output "pod/e2e-direct-label created"
}

# kube-system is excluded from both pod webhooks: its pods keep their
# labels as written, even ones the webhook would deny elsewhere.
case_kube_system_pod_unaffected() {
    mark_webhook_log
    run_pod kube-system e2e-system-borrower \
        azidterminator.io/identity=no-such-identity,aadpodidbinding=azure-kv-pods
    expect_success && expect_output "pod/e2e-system-borrower created" ||
        return 1
    run kubectl get pod e2e-system-borrower -n kube-system \
        -o 'jsonpath={.metadata.labels.aadpodidbinding}'
    expect_success && expect_output "azure-kv-pods" || return 1
    run new_webhook_log
    expect_no_output "e2e-system-borrower"
}

case_kube_system_pod_skips_webhook() {
    mark_webhook_log
    run kubectl run e2e-system-pod -n kube-system \
        --image=registry.k8s.io/pause:3.10 --restart=Never \
        --labels=azidterminator.io/identity=missing,aadpodidbinding=missing
    expect_success && expect_output "pod/e2e-system-pod created" || return 1
    run new_webhook_log
    expect_no_output "e2e-system-pod"
}

case_webhook_namespace_pod_skips_webhook() {
    mark_webhook_log
    run kubectl run e2e-own-pod -n "$webhook_namespace" \
        --image=registry.k8s.io/pause:3.10 --restart=Never \
        --labels=azidterminator.io/identity=missing,aadpodidbinding=missing
    expect_success && expect_output "pod/e2e-own-pod created" || return 1
    run new_webhook_log
    expect_no_output "e2e-own-pod"
}

# scrape_metrics: GET /metrics into last_out.
scrape_metrics() {
    run curl --noproxy '*' -fsS --max-time 5 --cacert "$AZIDT_TEST_CA_FILE" \
        "https://127.0.0.1:$webhook_port/metrics"
}

# metric_positive SERIES: the last scrape has SERIES with a value above 0.
metric_positive() {
    awk -v series="$1" 'index($0, series " ") == 1 && $2 > 0 { found = 1 }
        END { exit !found }' <<<"$last_out" ||
        fail "expected a positive value for $1"
}

# metric_settled SERIES: scrape until SERIES is positive, for up to 30 s.
metric_settled() {
    local deadline=$((SECONDS + 30))
    until scrape_metrics && metric_positive "$1" >/dev/null; do
        ((SECONDS < deadline)) || {
            metric_positive "$1"
            return 1
        }
        sleep 0.5
    done
}

# After the example was provisioned through the emulator (example_admitted)
# and one invalid object was denied, /metrics counts the Azure and
# Kubernetes calls, reconciles and admission decisions, and contains no
# secret or object name.
case_metrics_count_provisioning() {
    local file series secret client_secret
    file=$(valid_spec_with 's/720h/30d/' | terminator e2e-metrics-denied)
    run kubectl apply -f "$file"
    expect_webhook_denial e2e-metrics-denied \
        spec.servicePrincipal.clientSecretDuration || return 1
    for series in \
        'azidt_leader' \
        'azidt_reconciles_total{result="success"}' \
        'azidt_admission_requests_total{route="/validate/azureidentityterminators",decision="allowed"}' \
        'azidt_admission_requests_total{route="/validate/azureidentityterminators",decision="denied"}' \
        'azidt_admission_requests_total{route="/mutate/azureidentityterminators",decision="allowed"}' \
        'azidt_azure_requests_total{service="token",method="POST",status_class="2xx"}' \
        'azidt_azure_requests_total{service="graph",method="PATCH",status_class="2xx"}' \
        'azidt_azure_requests_total{service="arm",method="PUT",status_class="2xx"}' \
        'azidt_azure_request_duration_seconds_count{service="graph"}' \
        'azidt_kubernetes_requests_total{status_class="2xx"}' \
        'azidt_reconcile_duration_seconds_count'; do
        metric_settled "$series" || return 1
    done
    secret=$(kubectl get secret azure-kv-access-test -n "$example_namespace" \
        -o 'jsonpath={.data.clientSecret}' | base64 -d)
    client_secret=$(sed -n 's/^AZURE_CLIENT_SECRET=//p' "$azure_env" |
        tr -d "'\"")
    [[ -n "$secret" ]] || fail "the example's Secret has no clientSecret" ||
        return 1
    expect_no_output "$secret" &&
        expect_no_output "${client_secret:-unset}" &&
        expect_no_output "azure-kv-access-test" &&
        expect_no_output "e2e-metrics-denied" &&
        expect_no_output "$example_namespace"
}

# With the webhook stopped, AzureIdentityTerminator requests fail closed and
# pods outside the webhook's selectors are still admitted.
case_webhook_down_fails_closed() {
    local file
    stop_webhook
    file=$(terminator e2e-webhook-down </dev/null)
    run kubectl apply -f "$file"
    expect_failure "the webhook is down and its failure policy is Fail" &&
        expect_output 'failed calling webhook "azureidentityterminators.mutate.azidterminator.io"' &&
        expect_not_stored e2e-webhook-down || return 1
    run kubectl run e2e-plain-pod -n "$example_namespace" \
        --image=registry.k8s.io/pause:3.10 --restart=Never
    expect_success && expect_output "pod/e2e-plain-pod created" || return 1
    run kubectl run e2e-system-pod-2 -n kube-system \
        --image=registry.k8s.io/pause:3.10 --restart=Never \
        --labels=azidterminator.io/identity=missing
    expect_success && expect_output "pod/e2e-system-pod-2 created"
}

# An AzureIdentityTerminator in another namespace may not take a
# podSelector that the example's binding already uses: its own binding
# would then let this namespace's pods share the selector. The denial
# does not name the namespace that contains the binding.
case_selector_bound_elsewhere_rejected() {
    local other=e2e-other-namespace name=e2e-borrowed-selector file
    wait_until 60 "a binding that selects azure-kv-pods" \
        selector_is_bound azure-kv-pods ||
        fail "no AzureIdentityBinding selects azure-kv-pods" || return 1
    kubectl create namespace "$other" >/dev/null 2>&1
    file=$(valid_spec_with 's/podSelector: .*/podSelector: azure-kv-pods/' |
        terminator "$name")
    sed -i "s/^  namespace: .*/  namespace: $other/" "$file"
    run kubectl apply -f "$file"
    expect_failure "azure-kv-pods is bound in $example_namespace" &&
        expect_output 'admission webhook "azureidentityterminators.validate.azidterminator.io" denied the request' &&
        expect_output 'spec.podSelector "azure-kv-pods" is already selected by an AzureIdentityBinding in another namespace' &&
        expect_no_output "$example_namespace" || return 1
    run kubectl get azidt "$name" -n "$other"
    expect_failure "the rejected object must not be stored" &&
        expect_output "NotFound"
}

all_cases=(
    crd_established
    explain_documents_every_field
    example_admitted
    immutable_field_update_rejected
    invalid_update_rejected
    valid_update_admitted
    bad_duration_rejected
    negative_duration_rejected
    bad_identity_name_rejected
    bad_resource_group_rejected
    bad_pod_selector_rejected
    unknown_field_rejected
    wrongly_cased_field_rejected
    unknown_field_rejected_without_validation
    server_dry_run_reaches_webhook
    labelled_pod_reaches_webhook
    identity_pod_gets_binding_label
    missing_identity_pod_denied
    not_ready_identity_pod_denied
    other_namespace_binding_denied
    selector_bound_elsewhere_rejected
    kube_system_pod_unaffected
    kube_system_pod_skips_webhook
    webhook_namespace_pod_skips_webhook
    metrics_count_provisioning
    webhook_down_fails_closed
)

# Cases run in the order given; webhook_down_fails_closed stops the webhook
# and so comes last.
e2e_main "$@"
