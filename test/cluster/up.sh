#!/usr/bin/env bash
# Starts a local Kubernetes control plane on 127.0.0.1: etcd,
# kube-apiserver and kube-controller-manager (garbage collector, namespace
# and service-account controllers), with certificates made by OpenSSL, then
# installs the CRDs the product needs and waits until they are established.
#
# Usage: test/cluster/up.sh [--webhook-client-cert] DIR
#
# --webhook-client-cert makes the apiserver present a client certificate
# to admission webhooks (AdmissionConfiguration with a kubeconfig whose
# "*" user has the certificate), signed by a CA of its own; DIR/env then
# names the CA, and a second certificate from it for tests.
#
# DIR contains everything the cluster uses and may not exist yet:
#   DIR/env          shell file to source: KUBECONFIG, PATH with the pinned
#                    kubectl first, and the AZIDT_TEST_* values listed below
#   DIR/kubeconfig   admin (system:masters) kubeconfig
#   DIR/pki/         test CA, serving and client certificates, SA keys;
#                    webhook.crt/webhook.key is a serving certificate for
#                    127.0.0.1 signed by the CA in ca.crt
#   DIR/admission/   with --webhook-client-cert: the apiserver's
#                    AdmissionConfiguration and webhook kubeconfig
#   DIR/logs/        one log per component
#   DIR/run/         pid files
# The processes keep running after this script returns; stop them with
# test/cluster/down.sh DIR (callers do that from an EXIT trap). On failure
# this script prints the component logs and stops what it started.
#
# Environment:
#   AZIDT_K8S_BIN  folder with the binaries (default test/k8s/bin, made by
#                  test/k8s/build.sh)
#   AZIDT_CRD      AzureIdentityTerminator CRD to install (default
#                  manifests/crd/azureidentityterminators.yaml)
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

webhook_client_cert=0
if [[ "${1:-}" == --webhook-client-cert ]]; then
    webhook_client_cert=1
    shift
fi
[[ $# -eq 1 ]] || die "usage: $0 [--webhook-client-cert] DIR"
mkdir -p "$1"
dir=$(cd "$1" && pwd)
bin=${AZIDT_K8S_BIN:-$repo/test/k8s/bin}
crd=${AZIDT_CRD:-$repo/manifests/crd/azureidentityterminators.yaml}
aad_crds=$repo/test/crds/aad-pod-identity/aadpodidentity.k8s.io.yaml

for c in etcd kube-apiserver kube-controller-manager kubectl; do
    [[ -x "$bin/$c" ]] || die "$bin/$c is missing; run test/k8s/build.sh first"
done
[[ -f "$crd" ]] || die "CRD file $crd not found; set AZIDT_CRD to its path"
[[ -f "$aad_crds" ]] || die "CRD file $aad_crds not found"

pki=$dir/pki
logs=$dir/logs
run=$dir/run
mkdir -p "$pki" "$logs" "$run"

failed=0
on_error() {
    ((failed)) && return
    failed=1
    say "starting the control plane failed; component logs follow"
    print_log_tails "$dir" 60 >&2
    "$here/down.sh" "$dir" || true
}
trap on_error ERR
trap 'exit 130' INT
trap 'exit 143' TERM
# ERR does not fire for a signal; stop what was started in that case too.
trap 'rc=$?; if ((rc >= 128)); then "$here/down.sh" "$dir"; fi' EXIT

# ---------------------------------------------------------------- PKI

# new_ca NAME SUBJECT: self-signed CA certificate NAME.crt with key NAME.key.
new_ca() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 7 -sha256 \
        -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.crt" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# new_cert NAME CA SUBJECT EXTENSIONS: key and certificate signed by CA.
new_cert() {
    local name=$1 ca=$2 subject=$3 ext=$4
    openssl req -newkey rsa:2048 -nodes -subj "$subject" \
        -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
    openssl x509 -req -in "$pki/$name.csr" -days 7 -sha256 \
        -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" \
        -extfile <(printf '%s\n' "$ext") -out "$pki/$name.crt" 2>/dev/null
    rm -f "$pki/$name.csr"
}

server_ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
client_ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"

make_pki() {
    # Serving certificates: the apiserver's and the webhook's.
    new_ca ca "/CN=azidt-test-ca"
    new_cert apiserver ca "/CN=kube-apiserver" \
        "$server_ext,DNS:kubernetes,DNS:kubernetes.default.svc"
    new_cert webhook ca "/CN=azidt-webhook" "$server_ext"
    # Client certificates the apiserver trusts.
    new_ca client-ca "/CN=azidt-test-client-ca"
    new_cert admin client-ca "/O=system:masters/CN=azidt-test-admin" \
        "$client_ext"
    new_cert controller-manager client-ca "/CN=system:kube-controller-manager" \
        "$client_ext"
    # Client certificate the apiserver presents to webhooks, from a CA
    # only the webhook trusts.
    if ((webhook_client_cert)); then
        new_ca webhook-client-ca "/CN=azidt-test-webhook-client-ca"
        new_cert webhook-client webhook-client-ca \
            "/CN=kube-apiserver-webhook-client" "$client_ext"
    fi
    # Service-account token signing keys.
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$pki/sa.key" 2>/dev/null
    openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
    chmod 600 "$pki"/*.key
}

# write_kubeconfig FILE URL CERT_NAME
write_kubeconfig() {
    local b64='base64 -w0'
    cat >"$1" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: azidt-test
  cluster:
    server: $2
    certificate-authority-data: $($b64 <"$pki/ca.crt")
users:
- name: $3
  user:
    client-certificate-data: $($b64 <"$pki/$3.crt")
    client-key-data: $($b64 <"$pki/$3.key")
contexts:
- name: azidt-test
  context:
    cluster: azidt-test
    user: $3
    namespace: default
current-context: azidt-test
KUBECONFIG
    chmod 600 "$1"
}

# The apiserver finds the credentials for a webhook in this kubeconfig by
# the webhook's host and port; "*" matches every webhook.
write_admission_config() {
    local b64='base64 -w0'
    mkdir -p "$dir/admission"
    cat >"$dir/admission/webhook.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
users:
- name: '*'
  user:
    client-certificate-data: $($b64 <"$pki/webhook-client.crt")
    client-key-data: $($b64 <"$pki/webhook-client.key")
KUBECONFIG
    chmod 600 "$dir/admission/webhook.kubeconfig"
    cat >"$dir/admission/config.yaml" <<CONFIG
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: $dir/admission/webhook.kubeconfig
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: $dir/admission/webhook.kubeconfig
CONFIG
}

# ---------------------------------------------------------- processes

# start NAME ARGS...: run a component in the background, output to its log.
start() {
    local name=$1
    shift
    echo "=== $(date -u +%FT%TZ) starting: $*" >>"$logs/$name.log"
    "$@" </dev/null >>"$logs/$name.log" 2>&1 &
    echo $! >"$run/$name.pid"
}

# wait_component NAME SECONDS CHECK...: wait for CHECK while NAME runs.
# Returns 2 if NAME exited because its port was taken, so the caller can
# retry with other ports.
wait_component() {
    local name=$1 seconds=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ! pid_alive "$run/$name.pid"; then
            rm -f "$run/$name.pid"
            if grep -q "address already in use" "$logs/$name.log"; then
                say "$name: port taken, retrying on another port"
                return 2
            fi
            say "$name exited during startup"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            say "timed out after ${seconds}s waiting for $name"
            return 1
        fi
        sleep 0.2
    done
}

curl_admin() {
    curl --noproxy '*' -fsS --max-time 5 --cacert "$pki/ca.crt" \
        --cert "$pki/admin.crt" --key "$pki/admin.key" "$@"
}

start_etcd() {
    local attempt rc
    for attempt in 1 2 3; do
        etcd_port=$(free_port)
        local peer_port
        peer_port=$(free_port)
        rm -rf "$dir/etcd"
        # Plain HTTP: etcd listens on loopback only and stores test data.
        start etcd "$bin/etcd" \
            --name=azidt-test \
            --data-dir="$dir/etcd" \
            --listen-client-urls="http://127.0.0.1:$etcd_port" \
            --advertise-client-urls="http://127.0.0.1:$etcd_port" \
            --listen-peer-urls="http://127.0.0.1:$peer_port" \
            --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
            --initial-cluster="azidt-test=http://127.0.0.1:$peer_port" \
            --unsafe-no-fsync \
            --log-outputs=stderr
        rc=0
        wait_component etcd 60 curl --noproxy '*' -fsS --max-time 2 \
            "http://127.0.0.1:$etcd_port/health" || rc=$?
        ((rc == 2)) && continue
        return "$rc"
    done
    return 1
}

start_apiserver() {
    local attempt rc
    local extra=()
    if ((webhook_client_cert)); then
        write_admission_config
        extra=(--admission-control-config-file="$dir/admission/config.yaml")
    fi
    for attempt in 1 2 3; do
        api_port=$(free_port)
        api_url=https://127.0.0.1:$api_port
        start kube-apiserver "$bin/kube-apiserver" \
            --etcd-servers="http://127.0.0.1:$etcd_port" \
            --bind-address=127.0.0.1 \
            --advertise-address=127.0.0.1 \
            --secure-port="$api_port" \
            --tls-cert-file="$pki/apiserver.crt" \
            --tls-private-key-file="$pki/apiserver.key" \
            --client-ca-file="$pki/client-ca.crt" \
            --authorization-mode=RBAC \
            --service-account-issuer="$api_url" \
            --service-account-key-file="$pki/sa.pub" \
            --service-account-signing-key-file="$pki/sa.key" \
            --service-cluster-ip-range=10.96.0.0/16 \
            --endpoint-reconciler-type=none \
            --profiling=false \
            "${extra[@]}"
        rc=0
        wait_component kube-apiserver 120 curl_admin "$api_url/readyz" ||
            rc=$?
        ((rc == 2)) && continue
        return "$rc"
    done
    return 1
}

start_controller_manager() {
    local attempt rc port
    for attempt in 1 2 3; do
        port=$(free_port)
        start kube-controller-manager "$bin/kube-controller-manager" \
            --kubeconfig="$dir/controller-manager.kubeconfig" \
            --authentication-kubeconfig="$dir/controller-manager.kubeconfig" \
            --authorization-kubeconfig="$dir/controller-manager.kubeconfig" \
            --bind-address=127.0.0.1 \
            --secure-port="$port" \
            --leader-elect=false \
            --use-service-account-credentials=true \
            --controllers="$controllers" \
            --service-account-private-key-file="$pki/sa.key" \
            --root-ca-file="$pki/ca.crt" \
            --profiling=false
        rc=0
        wait_component kube-controller-manager 60 curl --noproxy '*' -fsS \
            --max-time 2 --cacert "$pki/ca.crt" -k \
            "https://127.0.0.1:$port/healthz" || rc=$?
        ((rc == 2)) && continue
        return "$rc"
    done
    return 1
}

# Controllers whose behaviour the product relies on: owner references
# (garbage collector), namespace deletion, default service accounts, and
# the kube-root-ca.crt ConfigMap that service-account token volumes name.
controllers=garbage-collector-controller,namespace-controller
controllers+=,serviceaccount-controller,serviceaccount-token-controller
controllers+=,root-ca-certificate-publisher-controller

start_time=$SECONDS
make_pki
start_etcd
start_apiserver
write_kubeconfig "$dir/kubeconfig" "$api_url" admin
write_kubeconfig "$dir/controller-manager.kubeconfig" "$api_url" \
    controller-manager
start_controller_manager

export KUBECONFIG=$dir/kubeconfig
# kubectl caches API discovery per server; keep it with the cluster.
export KUBECACHEDIR=$dir/kube-cache
kubectl=$bin/kubectl
wait_until 60 "the default namespace" "$kubectl" get namespace default
wait_until 60 "the default service account" \
    "$kubectl" get serviceaccount default --namespace default

# CRDs: the product's own and the upstream aad-pod-identity ones.
"$kubectl" apply --server-side -f "$crd" -f "$aad_crds" >>"$logs/crds.log"
"$kubectl" wait --for condition=established --timeout=60s \
    crd/azureidentityterminators.azidterminator.io \
    crd/azureidentities.aadpodidentity.k8s.io \
    crd/azureidentitybindings.aadpodidentity.k8s.io \
    crd/azureassignedidentities.aadpodidentity.k8s.io \
    crd/azurepodidentityexceptions.aadpodidentity.k8s.io >>"$logs/crds.log"
# Established comes before the apiserver's discovery lists the resources.
wait_until 30 "discovery of the CRDs" "$kubectl" get --all-namespaces \
    azureidentityterminators.azidterminator.io,azidt,azureidentities,azureidentitybindings

{
    printf 'export KUBECONFIG=%q\n' "$dir/kubeconfig"
    printf 'export KUBECACHEDIR=%q\n' "$KUBECACHEDIR"
    printf 'export PATH=%q:"$PATH"\n' "$bin"
    printf 'export AZIDT_TEST_DIR=%q\n' "$dir"
    printf 'export AZIDT_TEST_APISERVER_URL=%q\n' "$api_url"
    printf 'export AZIDT_TEST_CA_FILE=%q\n' "$pki/ca.crt"
    printf 'export AZIDT_TEST_WEBHOOK_CERT_FILE=%q\n' "$pki/webhook.crt"
    printf 'export AZIDT_TEST_WEBHOOK_KEY_FILE=%q\n' "$pki/webhook.key"
    printf 'export AZIDT_TEST_LOG_DIR=%q\n' "$logs"
    if ((webhook_client_cert)); then
        printf 'export AZIDT_TEST_WEBHOOK_CLIENT_CA_FILE=%q\n' \
            "$pki/webhook-client-ca.crt"
        printf 'export AZIDT_TEST_WEBHOOK_CLIENT_NAME=%q\n' \
            kube-apiserver-webhook-client
        printf 'export AZIDT_TEST_WEBHOOK_CLIENT_CERT_FILE=%q\n' \
            "$pki/webhook-client.crt"
        printf 'export AZIDT_TEST_WEBHOOK_CLIENT_KEY_FILE=%q\n' \
            "$pki/webhook-client.key"
    fi
} >"$dir/env"

trap - ERR EXIT
say "control plane ready at $api_url in $((SECONDS - start_time)) s;" \
    "source $dir/env to use it"
