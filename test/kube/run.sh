#!/usr/bin/env bash
# Runs the Kubernetes client's end-to-end tests against a real
# kube-apiserver: starts a local control plane with test/cluster/up.sh,
# creates a service account whose token the tests rotate into a tokenFile
# kubeconfig, runs the test program, and stops everything on exit.
#
# Usage: test/kube/run.sh TEST_PROGRAM
# Environment:
#   AZIDT_KUBE_E2E_KEEP=1  keep the temporary folder (logs, certificates)
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

[[ $# -eq 1 ]] || { echo "usage: $0 TEST_PROGRAM" >&2; exit 2; }
program=$(realpath "$1")

work=$(mktemp -d "${TMPDIR:-/tmp}/azidt-kube-e2e.XXXXXX")
cleanup() {
    "$repo/test/cluster/down.sh" "$work/cluster" || true
    if [[ "${AZIDT_KUBE_E2E_KEEP:-0}" == 1 ]]; then
        echo "kube e2e: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$repo/test/cluster/up.sh" "$work/cluster" >"$work/up.log" 2>&1 || {
    cat "$work/up.log" >&2
    exit 1
}
# shellcheck source=/dev/null
. "$work/cluster/env"

# A service account that may read namespaces and nothing else.
kubectl create serviceaccount kube-e2e -n default >/dev/null
kubectl create clusterrole kube-e2e-namespaces --verb=get,list \
    --resource=namespaces >/dev/null
kubectl create clusterrolebinding kube-e2e-namespaces \
    --clusterrole=kube-e2e-namespaces \
    --serviceaccount=default:kube-e2e >/dev/null
token=$(kubectl create token kube-e2e -n default --duration=1h)

# The token file starts with a token the apiserver rejects; the test
# writes the real one to check that a rotated token is picked up.
echo "not-a-valid-token" >"$work/token"
cat >"$work/token.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
current-context: token
clusters:
- name: local
  cluster:
    server: $AZIDT_TEST_APISERVER_URL
    certificate-authority: $AZIDT_TEST_CA_FILE
users:
- name: kube-e2e
  user:
    tokenFile: token
contexts:
- name: token
  context:
    cluster: local
    user: kube-e2e
KUBECONFIG

# The relist test compacts etcd; take its URL from the apiserver's flags.
etcd_url=$(tr '\0' '\n' <"/proc/$(cat "$work/cluster/run/kube-apiserver.pid")/cmdline" |
    sed -n 's/^--etcd-servers=//p')
[[ -n "$etcd_url" ]] || { echo "kube e2e: etcd URL not found" >&2; exit 1; }

export AZIDT_KUBE_E2E_CERT_KUBECONFIG=$KUBECONFIG
export AZIDT_KUBE_E2E_ETCD_URL=$etcd_url
export AZIDT_KUBE_E2E_TOKEN_KUBECONFIG=$work/token.kubeconfig
export AZIDT_KUBE_E2E_TOKEN_FILE=$work/token
export AZIDT_KUBE_E2E_TOKEN=$token
"$program"
