#!/usr/bin/env bash
# Tests of the Helm chart and the plain manifests. They check that the
# generated files are current and that helm lints and renders the chart
# with cert-manager on and off. The apiserver of a local control plane
# (test/cluster/up.sh) must accept every rendered object in a server-side
# dry run, and the rendered webhook configurations must equal what
# scripts/render-webhook-config.sh makes. Last, the webhook signs in as the
# chart's ServiceAccount and provisions and deletes an identity with the
# chart's RBAC alone. Prints one line per case and closes with
# "N passed, N failed".
#
# Usage: test/chart/run.sh WEBHOOK_BINARY EMULATOR_BINARY [CASE...]
#   CASE  run only the named cases (default: all, in order)
# Environment:
#   HELM                  helm binary (default test/helm/bin/helm, built by
#                         test/helm/build.sh)
#   AZIDT_CHART_KEEP=1    keep the temporary folder (renderings, logs)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../cluster/lib.sh
. "$repo/test/cluster/lib.sh"
# shellcheck source=../emulator/emulator.sh
. "$repo/test/emulator/emulator.sh"

[[ $# -ge 2 ]] || die "usage: $0 WEBHOOK_BINARY EMULATOR_BINARY [CASE...]"
webhook_bin=$(realpath "$1")
emulator_bin=$(realpath "$2")
shift 2
[[ -x "$webhook_bin" ]] || die "webhook binary $webhook_bin is not executable"
[[ -x "$emulator_bin" ]] || die "emulator binary $emulator_bin is not executable"
helm=${HELM:-$repo/test/helm/bin/helm}
[[ -x "$helm" ]] || die "$helm is missing; run test/helm/build.sh first"

chart=$repo/charts/azure-identity-terminator
# The release the plain manifests are rendered for (scripts/generate-deploy.sh).
release=azure-identity-terminator
namespace=azidt-system
service_account=system:serviceaccount:$namespace:azure-identity-terminator
example=$repo/manifests/examples/azure-kv-access-test.yaml
example_namespace=my-namespace

work=$(mktemp -d "${TMPDIR:-/tmp}/azidt-chart.XXXXXX")
cleanup() {
    stop_pid "$work/run/webhook.pid" webhook 2>/dev/null
    stop_emulator "$work/azure"
    "$repo/test/cluster/down.sh" "$work"
    if [[ "${AZIDT_CHART_KEEP:-0}" == 1 ]]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rendered=$work/rendered
mkdir -p "$rendered"
# A CA certificate, as certs/generate.sh writes it, for the caBundle value.
"$repo/certs/generate.sh" "$work/certs" "$release" "$namespace" >/dev/null ||
    die "certs/generate.sh failed"
ca_file=$work/certs/ca.crt

# ----------------------------------------------------- case machinery

passed=0
failed=0
last_cmd=""
last_out=""
last_err=""
last_rc=0

# run CMD...: run a command, keep its command line, output and exit code.
run() {
    last_cmd=$*
    last_err=""
    last_out=$("$@" 2>&1)
    last_rc=$?
}

# run_split CMD...: like run, but standard error goes to last_err, so that
# last_out holds only the command's JSON.
run_split() {
    last_cmd=$*
    last_out=$("$@" 2>"$work/stderr")
    last_rc=$?
    last_err=$(cat "$work/stderr")
}

# Report a failed check: what was expected, the command and its output.
fail() {
    echo "  FAILED: $*"
    echo "  command: $last_cmd"
    echo "  exit code: $last_rc"
    echo "  output:"
    sed 's/^/    /' <<<"$last_out" | head -n 60
    if [[ -n "$last_err" ]]; then
        echo "  standard error:"
        sed 's/^/    /' <<<"$last_err" | head -n 20
    fi
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

# expect_json FILTER DESCRIPTION: jq FILTER is true for the last output.
# input fails on an empty output, where jq -e alone would succeed.
expect_json() {
    jq -en "input | ($1)" <<<"$last_out" >/dev/null ||
        fail "expected $2 (jq: $1)"
}

# expect_no_warning: the last command printed no warning except kubectl
# apply's note about objects that kubectl create or server-side apply
# stored. Pod Security violations and unknown or duplicate fields are
# warnings.
expect_no_warning() {
    local warnings
    warnings=$(grep 'Warning:' <<<"$last_err" |
        grep -v 'last-applied-configuration annotation')
    [[ -z "$warnings" ]] || fail "expected no warning, got: $warnings"
}

# render NAME ARGS...: helm template of the chart for the release and
# namespace of the plain manifests, with ARGS, into $rendered/NAME.yaml.
render() {
    local name=$1
    shift
    run_split "$helm" template "$release" "$chart" --namespace "$namespace" \
        --include-crds "$@"
    [[ $last_rc == 0 ]] && printf '%s\n' "$last_out" >"$rendered/$name.yaml"
    expect_success "helm template $*"
}

# The chart's settings in each variant the cases render and apply.
variants=(defaults no_cert_manager workload_identity own_issuer)
variant_args() {
    case "$1" in
    defaults) ;;
    no_cert_manager) echo "--set certManager.enabled=false --set-file tls.caBundle=$ca_file" ;;
    workload_identity) echo "--set azure.credential=workloadIdentity --set azure.tenantId=contoso.onmicrosoft.com --set azure.caBundleConfigMap.name=corporate-ca --set webhook.clusterId=aks-west-1" ;;
    own_issuer) echo "--set certManager.issuerRef.kind=ClusterIssuer --set certManager.issuerRef.name=corporate --set certManager.issuerRef.group=cert-manager.io" ;;
    esac
}

# dry_run FILE...: kubectl apply --dry-run=server, objects as JSON.
dry_run() {
    local args=() file
    for file in "$@"; do
        args+=(-f "$file")
    done
    run_split kubectl apply --dry-run=server -o json "${args[@]}"
}

# ---------------------------------------------------- cases: no cluster

case_generated_files_current() {
    run env HELM="$helm" "$repo/scripts/generate-deploy.sh" --check
    expect_success "the chart's CRD, webhook template and manifests/deploy/ match their sources"
}

case_lint() {
    local variant
    for variant in "${variants[@]}"; do
        # shellcheck disable=SC2046
        run "$helm" lint --strict "$chart" $(variant_args "$variant")
        expect_success "helm lint of $variant" &&
            expect_output "1 chart(s) linted, 0 chart(s) failed" || return 1
    done
}

case_template_variants() {
    local variant
    for variant in "${variants[@]}"; do
        # shellcheck disable=SC2046
        render "$variant" $(variant_args "$variant") || return 1
    done
}

case_template_cert_manager_objects() {
    run cat "$rendered/defaults.yaml"
    expect_output "kind: Certificate" &&
        expect_output "cert-manager.io/inject-ca-from: $namespace/$release-serving" &&
        expect_no_output "caBundle:" || return 1
    run cat "$rendered/no_cert_manager.yaml"
    expect_no_output "cert-manager.io" &&
        expect_output "caBundle: \"$(base64 -w0 "$ca_file")\"" || return 1
    # With an issuer of the user's, the chart makes no CA of its own.
    run cat "$rendered/own_issuer.yaml"
    expect_output "name: corporate" &&
        expect_no_output "selfSigned" &&
        expect_no_output "kind: Issuer"
}

case_template_missing_ca_bundle_rejected() {
    run "$helm" template "$release" "$chart" --set certManager.enabled=false
    expect_failure "a caBundle is required without cert-manager" &&
        expect_output "tls.caBundle is required when certManager.enabled is false" ||
        return 1
    run "$helm" template "$release" "$chart" --set certManager.enabled=false \
        --set tls.caBundle=not-a-certificate
    expect_failure "a caBundle that is not PEM is rejected" &&
        expect_output "tls.caBundle is neither PEM text nor the base64 of PEM text"
}

case_template_unknown_credential_rejected() {
    run "$helm" template "$release" "$chart" --set azure.credential=password
    expect_failure && expect_output 'azure.credential is "password"'
}

# ------------------------------------------------ cases: real apiserver

# Every object of each variant is accepted by the apiserver, and the pods
# pass the restricted Pod Security Standard without a warning.
case_dry_run_variants() {
    local variant
    for variant in "${variants[@]}"; do
        [[ -f "$rendered/$variant.yaml" ]] ||
            render "$variant" $(variant_args "$variant") || return 1
        dry_run "$rendered/$variant.yaml"
        expect_success "the apiserver accepts the $variant rendering" &&
            expect_no_warning || return 1
    done
}

case_dry_run_plain_manifests() {
    dry_run "$repo/manifests/deploy/azure-identity-terminator.yaml" \
        "$repo/manifests/deploy/cert-manager.yaml" \
        "$repo/manifests/deploy/webhook-configurations.yaml"
    expect_success "the apiserver accepts manifests/deploy/" &&
        expect_no_warning &&
        expect_json '[.items[].kind] | index("CustomResourceDefinition") != null' \
            "the plain manifests to contain the CRD"
}

case_pod_spec() {
    dry_run "$rendered/defaults.yaml"
    expect_success || return 1
    last_out=$(jq '.items[] | select(.kind == "Deployment")' <<<"$last_out")
    local pod='.spec.template.spec' c='.spec.template.spec.containers[0]'
    expect_json '.spec.replicas == 2' "2 replicas" &&
        expect_json "$pod.securityContext.runAsNonRoot == true" "runAsNonRoot" &&
        expect_json "$pod.securityContext.seccompProfile.type == \"RuntimeDefault\"" \
            "seccomp RuntimeDefault" &&
        expect_json "$c.securityContext.readOnlyRootFilesystem == true" \
            "a read-only root file system" &&
        expect_json "$c.securityContext.capabilities.drop == [\"ALL\"]" \
            "all capabilities dropped" &&
        expect_json "$c.securityContext.allowPrivilegeEscalation == false" \
            "no privilege escalation" &&
        expect_json "$c.env | map(select(.name == \"POD_NAME\"))[0].valueFrom.fieldRef.fieldPath == \"metadata.name\"" \
            "POD_NAME from the downward API" &&
        expect_json "$c.env | map(select(.name == \"POD_NAMESPACE\"))[0].valueFrom.fieldRef.fieldPath == \"metadata.namespace\"" \
            "POD_NAMESPACE from the downward API" &&
        expect_json "$c.livenessProbe.httpGet == {path: \"/healthz\", port: \"https\", scheme: \"HTTPS\"}" \
            "the liveness probe on /healthz over HTTPS" &&
        expect_json "$c.readinessProbe.httpGet == {path: \"/readyz\", port: \"https\", scheme: \"HTTPS\"}" \
            "the readiness probe on /readyz over HTTPS" &&
        expect_json "$c.ports == [{name: \"https\", containerPort: 8443, protocol: \"TCP\"}]" \
            "the container port 8443" &&
        expect_json "$c.resources.requests.cpu != null and $c.resources.limits.memory != null" \
            "resource requests and limits" || return 1
    dry_run "$rendered/defaults.yaml"
    last_out=$(jq '.items[] | select(.kind == "Service")' <<<"$last_out")
    expect_json '.spec.ports == [{name: "https", port: 443, targetPort: "https", protocol: "TCP"}]' \
        "the Service port 443 to the container's https port"
}

# The chart's webhook configurations are the ones the render script makes
# from manifests/webhook/webhook-configurations.yaml, compared as the
# apiserver stores them: rules, selectors, timeouts, failure policies, the
# service reference and the caBundle.
case_webhooks_match_render_script() {
    local chart_hooks script_hooks filter
    filter='[.items[] | select(.kind | endswith("WebhookConfiguration"))
             | {kind, name: .metadata.name, webhooks}]'
    dry_run "$rendered/no_cert_manager.yaml"
    expect_success || return 1
    chart_hooks=$(jq -S "$filter" <<<"$last_out")
    run "$repo/scripts/render-webhook-config.sh" --ca-file "$ca_file" \
        --namespace "$namespace" --service "$release" --port 443
    expect_success || return 1
    printf '%s\n' "$last_out" >"$rendered/render-script.yaml"
    dry_run "$rendered/render-script.yaml"
    expect_success || return 1
    script_hooks=$(jq -S "$filter" <<<"$last_out")
    last_cmd="diff of the webhooks: render script (-) and chart (+)"
    last_out=$(diff -u <(echo "$script_hooks") <(echo "$chart_hooks"))
    last_rc=$?
    [[ $(jq length <<<"$chart_hooks") == 2 && $(jq length <<<"$script_hooks") == 2 ]] ||
        fail "expected two webhook configurations" || return 1
    ((last_rc == 0)) || fail "the chart's webhooks differ from the render script's"
}

# can_i EXPECTED VERB RESOURCE [ARGS...]: what the webhook's ServiceAccount
# may do, as the apiserver's RBAC authorizer decides.
can_i() {
    local expected=$1
    shift
    run_split kubectl auth can-i --as "$service_account" "$@"
    [[ "$last_out" == "$expected" ]] ||
        fail "expected '$expected' for: kubectl auth can-i $*"
}

# The chart's RBAC grants what the webhook needs and nothing around it.
case_rbac_least_privilege() {
    # Only the ServiceAccount and the RBAC objects are stored for real.
    run "$helm" template "$release" "$chart" --namespace "$namespace" \
        --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml
    expect_success || return 1
    printf '%s\n' "$last_out" >"$rendered/rbac.yaml"
    run kubectl apply -f "$rendered/rbac.yaml"
    expect_success || return 1
    local verb
    for verb in get list watch patch update; do
        can_i yes "$verb" azureidentityterminators.azidterminator.io -A || return 1
    done
    for verb in create get list watch update patch delete; do
        can_i yes "$verb" secrets -n "$example_namespace" || return 1
        can_i yes "$verb" azureidentities.aadpodidentity.k8s.io -n "$example_namespace" || return 1
        can_i yes "$verb" azureidentitybindings.aadpodidentity.k8s.io -n "$example_namespace" || return 1
    done
    can_i yes patch azureidentityterminators.azidterminator.io --subresource status -n "$example_namespace" &&
        can_i yes update azureidentityterminators.azidterminator.io --subresource finalizers -n "$example_namespace" &&
        can_i no create azureidentityterminators.azidterminator.io -n "$example_namespace" &&
        can_i no delete azureidentityterminators.azidterminator.io -n "$example_namespace" &&
        can_i yes create events -n "$example_namespace" &&
        can_i yes patch events -n "$example_namespace" &&
        can_i no get events -n "$example_namespace" &&
        can_i yes get namespace/kube-system &&
        can_i no get namespace/default &&
        can_i no list namespaces &&
        can_i no get pods -n "$example_namespace" &&
        can_i no list pods -A &&
        can_i yes create leases.coordination.k8s.io -n "$namespace" &&
        can_i yes update leases.coordination.k8s.io/azure-identity-terminator -n "$namespace" &&
        can_i no update leases.coordination.k8s.io/other -n "$namespace" &&
        can_i no create leases.coordination.k8s.io -n "$example_namespace" &&
        can_i no get leases.coordination.k8s.io -n kube-system &&
        can_i no create mutatingwebhookconfigurations.admissionregistration.k8s.io &&
        can_i no get configmaps -n "$namespace"
}

# The webhook signs in with a token of the chart's ServiceAccount (stored
# by rbac_least_privilege) and provisions and then removes the example
# identity against the Azure emulator: the chart's RBAC allows all it does.
case_webhook_runs_with_chart_rbac() {
    local token port log=$AZIDT_TEST_LOG_DIR/webhook.log
    run kubectl create token azure-identity-terminator -n "$namespace" --duration 1h
    expect_success || return 1
    token=$last_out
    cat >"$work/webhook.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: $AZIDT_TEST_APISERVER_URL
    certificate-authority: $AZIDT_TEST_CA_FILE
users:
- name: webhook
  user:
    token: $token
contexts:
- name: webhook
  context: {cluster: test, user: webhook}
current-context: webhook
EOF
    start_emulator "$emulator_bin" "$work/azure" || fail "the Azure emulator did not start" || return 1
    port=$(free_port)
    (
        set -a
        # shellcheck source=/dev/null
        . "$work/azure/azure.env"
        set +a
        export POD_NAME=webhook-0 POD_NAMESPACE=$namespace
        exec "$webhook_bin" --listen-address 127.0.0.1 --port "$port" \
            --tls-cert-file "$AZIDT_TEST_WEBHOOK_CERT_FILE" \
            --tls-key-file "$AZIDT_TEST_WEBHOOK_KEY_FILE" \
            --kubeconfig "$work/webhook.kubeconfig" --log-level debug
    ) </dev/null >>"$log" 2>&1 &
    echo $! >"$work/run/webhook.pid"
    last_cmd="azidt-webhook --kubeconfig (token of $service_account)"
    if ! wait_until 30 "the webhook's /readyz" curl --noproxy '*' -fsS \
        --max-time 2 --cacert "$AZIDT_TEST_CA_FILE" \
        "https://127.0.0.1:$port/readyz"; then
        last_out=$(tail -n 40 "$log")
        fail "the webhook did not become ready" || return 1
    fi
    run "$repo/scripts/render-webhook-config.sh" --ca-file "$AZIDT_TEST_CA_FILE" \
        --namespace "$namespace" --url "https://127.0.0.1:$port"
    expect_success || return 1
    printf '%s\n' "$last_out" >"$work/webhook-url.yaml"
    run kubectl apply -f "$work/webhook-url.yaml"
    expect_success || return 1
    run kubectl apply -f "$example"
    expect_success || return 1
    run kubectl wait --for=condition=Ready --timeout=60s \
        azidt/azure-kv-access-test -n "$example_namespace"
    if ((last_rc != 0)); then
        last_out+=$'\n'$(kubectl get azidt -n "$example_namespace" -o yaml)
        last_out+=$'\n'$(grep -i 'forbidden\|error' "$log" | tail -n 20)
        fail "the identity did not become Ready" || return 1
    fi
    run kubectl get secret,azureidentity,azureidentitybinding -n "$example_namespace"
    expect_success && expect_output "secret/azure-kv-access-test" &&
        expect_output "azureidentity.aadpodidentity.k8s.io/azure-kv-access-test" &&
        expect_output "azureidentitybinding.aadpodidentity.k8s.io/azure-kv-access-test" ||
        return 1
    run kubectl get lease azure-identity-terminator -n "$namespace" \
        -o 'jsonpath={.spec.holderIdentity}'
    expect_success && expect_output "webhook-0" || return 1
    run kubectl delete -f "$example" --timeout=60s
    expect_success || return 1
    run grep -i 'forbidden' "$log"
    ((last_rc != 0)) || fail "the webhook's requests were forbidden"
}

all_cases=(
    generated_files_current
    lint
    template_variants
    template_cert_manager_objects
    template_missing_ca_bundle_rejected
    template_unknown_credential_rejected
    dry_run_variants
    dry_run_plain_manifests
    pod_spec
    webhooks_match_render_script
    rbac_least_privilege
    webhook_runs_with_chart_rbac
)

# ----------------------------------------------------------------- main

"$repo/test/cluster/up.sh" "$work" || die "the control plane did not start"
# shellcheck source=/dev/null
. "$work/env"
kubectl apply -f "$repo/test/crds/cert-manager/cert-manager.io.yaml" >/dev/null &&
    kubectl wait --for condition=established --timeout=60s \
        crd/issuers.cert-manager.io crd/certificates.cert-manager.io >/dev/null &&
    wait_until 30 "discovery of the cert-manager CRDs" \
        kubectl get certificates.cert-manager.io,issuers.cert-manager.io -A ||
    die "installing the cert-manager CRDs failed"
# The release namespace enforces the restricted Pod Security Standard, as
# a hardened cluster would; a server dry run of a violating Deployment
# prints a warning.
kubectl create namespace "$namespace" >/dev/null &&
    kubectl label namespace "$namespace" \
        pod-security.kubernetes.io/enforce=restricted \
        pod-security.kubernetes.io/warn=restricted >/dev/null &&
    kubectl create namespace "$example_namespace" >/dev/null ||
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
