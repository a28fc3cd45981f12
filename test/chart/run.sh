#!/usr/bin/env bash
# Tests of the Helm chart and the plain manifests. They check that the
# generated files are current and that helm lints and renders the chart
# with cert-manager on and off. The apiserver of a local control plane
# (test/cluster/up.sh) must accept every rendered object in a server-side
# dry run, and the rendered webhook configurations must equal what
# scripts/render-webhook-config.sh makes. Last, the webhook runs with the
# rendered pod's environment, signs in to Kubernetes as the chart's
# ServiceAccount and to the Azure emulator with a client secret and then
# with workload identity, and provisions and deletes an identity with the
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
# helm keeps its cache and settings inside the test folder.
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config \
    HELM_DATA_HOME=$work/helm/data
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
variants=(defaults no_cert_manager workload_identity own_issuer service_monitor
    client_auth)
variant_args() {
    case "$1" in
    defaults) ;;
    no_cert_manager) echo "--set certManager.enabled=false --set-file tls.caBundle=$ca_file" ;;
    workload_identity) echo "--set azure.credential=workloadIdentity --set azure.tenantId=contoso.onmicrosoft.com --set azure.caBundleConfigMap.name=corporate-ca --set webhook.clusterId=aks-west-1" ;;
    own_issuer) echo "--set certManager.issuerRef.kind=ClusterIssuer --set certManager.issuerRef.name=corporate --set certManager.issuerRef.group=cert-manager.io" ;;
    service_monitor) echo "--set metrics.serviceMonitor.enabled=true --set metrics.serviceMonitor.labels.release=prometheus" ;;
    client_auth) echo "--set webhook.clientAuth.caSecretName=apiserver-client-ca --set webhook.clientAuth.certNames={kube-apiserver,front-proxy} --set webhook.maxConnections=2048" ;;
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

case_template_optional_objects() {
    run cat "$rendered/defaults.yaml"
    expect_output "kind: Certificate" &&
        expect_output "cert-manager.io/inject-ca-from: $namespace/$release-serving" &&
        expect_no_output "caBundle:" || return 1
    run cat "$rendered/no_cert_manager.yaml"
    expect_no_output "cert-manager.io" &&
        expect_output "caBundle: \"$(base64 -w0 "$ca_file")\"" || return 1
    expect_no_output "kind: ServiceMonitor" || return 1
    run cat "$rendered/service_monitor.yaml"
    expect_output "kind: ServiceMonitor" && expect_output "release: prometheus" ||
        return 1
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

# values.schema.json rejects misspelt keys and invalid choices, naming the
# value; the templates check the credential again for
# --skip-schema-validation.
case_template_invalid_values_rejected() {
    local cases=(
        "azure.credential=password|at '/azure/credential': value must be one of 'secret', 'workloadIdentity'"
        "webhook.provisioning=on|at '/webhook/provisioning'"
        "webhook.logLevel=verbose|at '/webhook/logLevel'"
        "replicas=3|additional properties 'replicas' not allowed"
        "azure.tenantId=contoso/x|at '/azure/tenantId'"
        "azure.armEndpoint=http://management.azure.com|at '/azure/armEndpoint'"
    ) entry
    for entry in "${cases[@]}"; do
        run "$helm" template "$release" "$chart" --set "${entry%%|*}"
        expect_failure "--set ${entry%%|*} is invalid" &&
            expect_output "${entry#*|}" || return 1
    done
    run "$helm" template "$release" "$chart" --skip-schema-validation \
        --set azure.credential=password
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

# Every environment variable the chart sets is one the webhook reads: a
# misspelt name would be ignored without an error. The AZIDT_*, POD_* and
# KUBECONFIG names come from the webhook's --help, the AZURE_* names from
# include/azidt/azure_config.h.
case_env_names_known() {
    local known variant names name
    known=" $("$webhook_bin" --help | sed -n 's/.*Environment: \([A-Z_]*\)\..*/\1/p' | tr '\n' ' ')"
    known+="AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_CLIENT_SECRET"
    known+=" AZURE_FEDERATED_TOKEN_FILE AZURE_SUBSCRIPTION_ID"
    known+=" AZURE_AUTHORITY_HOST AZURE_GRAPH_ENDPOINT AZURE_ARM_ENDPOINT"
    known+=" AZURE_CA_FILE "
    [[ "$known" == *" AZIDT_LOG_LEVEL "* ]] ||
        fail "azidt-webhook --help lists no environment variables" || return 1
    for variant in "${variants[@]}"; do
        dry_run "$rendered/$variant.yaml"
        expect_success || return 1
        names=$(jq -r '.items[]
            | if .kind == "ConfigMap" then .data | keys[]
              elif .kind == "Deployment"
              then .spec.template.spec.containers[0].env[].name
              else empty end' <<<"$last_out")
        for name in $names; do
            [[ "$known" == *" $name "* ]] ||
                fail "the $variant rendering sets $name, which azidt-webhook does not read" ||
                return 1
        done
    done
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

# helm install, dry run on the server: helm maps every object through the
# apiserver's discovery, and the notes tell what is still missing.
case_install_notes() {
    run "$helm" install "$release" "$chart" --namespace "$namespace" \
        --dry-run=server
    expect_success &&
        expect_output "WARNING: not set: azure.tenantId, azure.clientId, azure.subscriptionId" &&
        expect_output "kubectl create secret generic azure-identity-terminator-azure" &&
        expect_output "kubectl get certificate --namespace $namespace" || return 1
    run "$helm" install "$release" "$chart" --namespace "$namespace" \
        --dry-run=server --set azure.credential=workloadIdentity \
        --set azure.tenantId=contoso.onmicrosoft.com \
        --set azure.clientId=00000000-0000-0000-0000-000000000001 \
        --set azure.subscriptionId=00000000-0000-0000-0000-000000000002 \
        --set certManager.enabled=false --set-file tls.caBundle="$ca_file"
    expect_success &&
        expect_no_output "WARNING" &&
        expect_output "subject:  $service_account" &&
        expect_output "kubectl create secret generic $release-tls"
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

# ------------------------------------------- cases: the webhook itself

webhook_log=""
webhook_port=""
webhook_env=()

# emulator_setting NAME: a value from the Azure emulator's env file.
emulator_setting() {
    (
        # shellcheck source=/dev/null
        . "$work/azure/azure.env"
        printf '%s' "${!1}"
    )
}

# start_emulator_for_cluster: the Azure emulator with its default
# configuration, except that the webhook's federated credential trusts
# this apiserver's service account issuer and signing keys.
start_emulator_for_cluster() {
    local jwks
    [[ -s "$work/azure/azure.env" ]] && return 0
    jwks=$(kubectl get --raw /openid/v1/jwks) ||
        { say "reading the apiserver's /openid/v1/jwks failed"; return 1; }
    jq --arg issuer "$AZIDT_TEST_APISERVER_URL" --argjson jwks "$jwks" '
        .applications |= map(if .caller then
            .federatedIdentityCredentials[0].issuer = $issuer else . end)
        | .federatedIssuers = [{issuer: $issuer, jwks: $jwks}]' \
        "$repo/test/emulator/default-config.json" >"$work/emulator-config.json" &&
        start_emulator "$emulator_bin" "$work/azure" "$work/emulator-config.json"
}

# webhook_environment RENDERED_JSON: the environment of the rendered
# Deployment's container, one NAME=VALUE a line, as the kubelet would set
# it: the ConfigMap it names, its env values, the downward API fields and
# the Secret keys (read from the cluster). Files the pod would mount are
# replaced by local ones, after checking that the variable names the
# mounted path.
webhook_environment() {
    local json=$1 deployment container
    deployment=$(jq '.items[] | select(.kind == "Deployment")' <<<"$json")
    container=$(jq '.spec.template.spec.containers[0]' <<<"$deployment")
    jq -r '.items[] | select(.kind == "ConfigMap") | .data | to_entries[]
        | "\(.key)=\(.value)"' <<<"$json"
    local name value field secret key mount projected
    # Fields are separated by US (0x1f): read merges runs of a whitespace
    # separator such as tab, which would shift the empty fields.
    while IFS=$'\x1f' read -r name value field secret key; do
        if [[ -n "$field" ]]; then
            case "$field" in
            metadata.name) value=webhook-0 ;;
            metadata.namespace) value=$namespace ;;
            *) say "env $name: unexpected downward API field $field"; return 1 ;;
            esac
        elif [[ -n "$secret" ]]; then
            value=$(kubectl get secret "$secret" -n "$namespace" \
                -o "jsonpath={.data.$key}" | base64 -d) && [[ -n "$value" ]] ||
                { say "env $name: Secret $secret has no key $key"; return 1; }
        fi
        case "$name" in
        AZURE_FEDERATED_TOKEN_FILE)
            # The token the kubelet would project: same ServiceAccount,
            # audience and lifetime.
            projected=$(jq '.spec.template.spec.volumes[]
                | select(.name == "azure-token")
                | .projected.sources[0].serviceAccountToken' <<<"$deployment")
            mount=$(jq -r '.volumeMounts[] | select(.name == "azure-token")
                | .mountPath' <<<"$container")
            mount+=/$(jq -r .path <<<"$projected")
            [[ "$value" == "$mount" ]] ||
                { say "env $name is $value, but the token is mounted at $mount"; return 1; }
            value=$work/azure-identity-token
            kubectl create token -n "$namespace" \
                "$(jq -r .spec.template.spec.serviceAccountName <<<"$deployment")" \
                --audience "$(jq -r .audience <<<"$projected")" \
                --duration "$(jq -r .expirationSeconds <<<"$projected")s" \
                >"$value" || { say "creating the projected token failed"; return 1; }
            ;;
        AZURE_CA_FILE)
            mount=$(jq -r '.volumeMounts[] | select(.name == "azure-ca")
                | .mountPath' <<<"$container")
            [[ "$value" == "$mount/"* ]] ||
                { say "env $name is $value, outside the CA mount $mount"; return 1; }
            value=$(emulator_setting AZURE_CA_FILE)
            ;;
        esac
        printf '%s=%s\n' "$name" "$value"
    done < <(jq -r '.env[] | [.name, .value // "",
        .valueFrom.fieldRef.fieldPath // "",
        .valueFrom.secretKeyRef.name // "",
        .valueFrom.secretKeyRef.key // ""] | join("\u001f")' <<<"$container")
}

# write_webhook_kubeconfig: a kubeconfig with a token of the chart's
# ServiceAccount, which rbac_least_privilege stored.
write_webhook_kubeconfig() {
    run kubectl create token azure-identity-terminator -n "$namespace" \
        --duration 1h
    expect_success || return 1
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
    token: $last_out
contexts:
- name: webhook
  context: {cluster: test, user: webhook}
current-context: webhook
EOF
}

# start_chart_webhook ARGS...: render the chart for the Azure emulator with
# ARGS, and run the webhook on 127.0.0.1 with exactly the environment of
# the rendered pod and the ServiceAccount's kubeconfig. Only the listen
# address, port, certificate and kubeconfig come from flags. Then register
# the webhook configurations by URL.
start_chart_webhook() {
    local env_lines
    stop_pid "$work/run/webhook.pid" webhook
    start_emulator_for_cluster || fail "the Azure emulator did not start" || return 1
    render live --set azure.tenantId="$(emulator_setting AZURE_TENANT_ID)" \
        --set azure.clientId="$(emulator_setting AZURE_CLIENT_ID)" \
        --set azure.subscriptionId="$(emulator_setting AZURE_SUBSCRIPTION_ID)" \
        --set azure.authorityHost="$(emulator_setting AZURE_AUTHORITY_HOST)" \
        --set azure.graphEndpoint="$(emulator_setting AZURE_GRAPH_ENDPOINT)" \
        --set azure.armEndpoint="$(emulator_setting AZURE_ARM_ENDPOINT)" \
        --set azure.caBundleConfigMap.name=emulator-ca \
        --set webhook.logLevel=debug "$@" || return 1
    dry_run "$rendered/live.yaml"
    expect_success || return 1
    last_cmd="webhook_environment (the rendered pod's environment)"
    env_lines=$(webhook_environment "$last_out") ||
        fail "the rendered pod's environment cannot be reproduced" || return 1
    mapfile -t webhook_env <<<"$env_lines"
    write_webhook_kubeconfig || return 1

    webhook_log=$AZIDT_TEST_LOG_DIR/webhook.log
    webhook_port=$(free_port)
    echo "=== $(date -u +%FT%TZ) starting the webhook with" \
        "${webhook_env[*]%%=*}" >>"$webhook_log"
    env -i PATH="$PATH" "${webhook_env[@]}" "$webhook_bin" \
        --listen-address 127.0.0.1 --port "$webhook_port" \
        --tls-cert-file "$AZIDT_TEST_WEBHOOK_CERT_FILE" \
        --tls-key-file "$AZIDT_TEST_WEBHOOK_KEY_FILE" \
        --kubeconfig "$work/webhook.kubeconfig" \
        </dev/null >>"$webhook_log" 2>&1 &
    echo $! >"$work/run/webhook.pid"
    last_cmd="azidt-webhook with the rendered pod's environment"
    if ! wait_until 30 "the webhook's /readyz" curl --noproxy '*' -fsS \
        --max-time 2 --cacert "$AZIDT_TEST_CA_FILE" \
        "https://127.0.0.1:$webhook_port/readyz"; then
        last_out=$(tail -n 40 "$webhook_log")
        fail "the webhook did not become ready" || return 1
    fi

    run "$repo/scripts/render-webhook-config.sh" --ca-file "$AZIDT_TEST_CA_FILE" \
        --namespace "$namespace" --url "https://127.0.0.1:$webhook_port"
    expect_success || return 1
    printf '%s\n' "$last_out" >"$work/webhook-url.yaml"
    run kubectl apply -f "$work/webhook-url.yaml"
    expect_success
}

# create_pod_until WANT NAMESPACE NAME LABELS: create a pod, retrying for
# up to 15 s while the outcome is not WANT (created or denied), because the
# webhook's caches follow the watches a moment behind the apiserver.
create_pod_until() {
    local want=$1 deadline=$((SECONDS + 15))
    while :; do
        run kubectl run "$3" -n "$2" --image=registry.k8s.io/pause:3.10 \
            --restart=Never --labels="$4"
        [[ $want == created && $last_rc == 0 ]] && return 0
        [[ $want == denied && $last_rc != 0 ]] && return 0
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# expect_pod_admission: pod admission works from the caches that the
# webhook fills through watches with the chart's RBAC. A pod naming the
# example identity gets its aadpodidbinding label, and a pod in another
# namespace that sets that label itself is denied.
expect_pod_admission() {
    local suffix=$RANDOM
    create_pod_until created "$example_namespace" "identity-pod-$suffix" \
        azidterminator.io/identity=azure-kv-access-test ||
        fail "the pod naming the example identity was not created" || return 1
    run kubectl get pod "identity-pod-$suffix" -n "$example_namespace" \
        -o 'jsonpath={.metadata.labels.aadpodidbinding}'
    expect_success && expect_output "azure-kv-pods" || return 1
    kubectl create namespace other-team >/dev/null 2>&1
    create_pod_until denied other-team "borrower-$suffix" aadpodidbinding=azure-kv-pods ||
        fail "the pod borrowing another namespace's binding was admitted" ||
        return 1
    expect_output 'admission webhook "pods.validate.azidterminator.io" denied the request'
}

# expect_example_provisioned: the example identity becomes Ready with its
# Secret, AzureIdentity and AzureIdentityBinding, and is deleted again,
# with no request of the webhook forbidden by RBAC.
expect_example_provisioned() {
    local mark
    mark=$(wc -l <"$webhook_log")
    run kubectl apply -f "$example"
    expect_success || return 1
    run kubectl wait --for=condition=Ready --timeout=60s \
        azidt/azure-kv-access-test -n "$example_namespace"
    if ((last_rc != 0)); then
        last_out+=$'\n'$(kubectl get azidt -n "$example_namespace" -o yaml)
        last_out+=$'\n'$(grep -i 'forbidden\|error' "$webhook_log" | tail -n 20)
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
    expect_pod_admission || return 1
    run kubectl delete -f "$example" --timeout=60s
    expect_success || return 1
    run kubectl get secret,azureidentity,azureidentitybinding -n "$example_namespace" \
        -o name
    expect_success && expect_no_output "azure-kv-access-test" || return 1
    last_cmd="grep -i forbidden $webhook_log"
    last_out=$(tail -n "+$((mark + 1))" "$webhook_log" | grep -i 'forbidden')
    [[ -z "$last_out" ]] || fail "some of the webhook's requests were forbidden"
}

# The webhook runs with the rendered pod's environment and the client
# secret from the Secret the chart references, and provisions and deletes
# the example identity with the chart's RBAC alone.
case_webhook_runs_with_chart_rbac() {
    start_emulator_for_cluster || fail "the Azure emulator did not start" || return 1
    run kubectl create secret generic azure-identity-terminator-azure \
        -n "$namespace" --from-literal=clientSecret="$(emulator_setting AZURE_CLIENT_SECRET)"
    expect_success || return 1
    start_chart_webhook && expect_example_provisioned
}

# The same with workload identity: the emulator exchanges a token of the
# chart's ServiceAccount, with the audience of the chart's projected
# volume, for an Azure AD token through the federated credential that
# docs/install.md describes.
case_webhook_runs_with_workload_identity() {
    start_chart_webhook --set azure.credential=workloadIdentity || return 1
    last_cmd="the rendered pod's environment"
    last_out=$(printf '%s\n' "${webhook_env[@]%%=*}")
    expect_output AZURE_FEDERATED_TOKEN_FILE &&
        expect_no_output AZURE_CLIENT_SECRET || return 1
    expect_example_provisioned
}

all_cases=(
    generated_files_current
    lint
    template_variants
    template_optional_objects
    template_missing_ca_bundle_rejected
    template_invalid_values_rejected
    dry_run_variants
    dry_run_plain_manifests
    pod_spec
    env_names_known
    webhooks_match_render_script
    install_notes
    rbac_least_privilege
    webhook_runs_with_chart_rbac
    webhook_runs_with_workload_identity
)

# ----------------------------------------------------------------- main

"$repo/test/cluster/up.sh" "$work" || die "the control plane did not start"
# shellcheck source=/dev/null
. "$work/env"
kubectl apply -f "$repo/test/crds/cert-manager/cert-manager.io.yaml" \
    -f "$repo/test/crds/prometheus-operator/monitoring.coreos.com.yaml" >/dev/null &&
    kubectl wait --for condition=established --timeout=60s \
        crd/issuers.cert-manager.io crd/certificates.cert-manager.io \
        crd/servicemonitors.monitoring.coreos.com >/dev/null &&
    wait_until 30 "discovery of the cert-manager and ServiceMonitor CRDs" \
        kubectl get certificates.cert-manager.io,issuers.cert-manager.io,servicemonitors.monitoring.coreos.com -A ||
    die "installing the cert-manager and ServiceMonitor CRDs failed"
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
