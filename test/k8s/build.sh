#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from the
# versions pinned in go.mod into bin/. The binaries are rebuilt only when
# go.sum changes: bin/.stamp contains the hash of the go.sum they came from.
#
# Usage: test/k8s/build.sh [--force]
# Environment: GOFLAGS (default -p=2, the machine has two cores).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

command -v go >/dev/null ||
    { echo "build.sh: go not found; install Go 1.26 or newer" >&2; exit 1; }

bin="$here/bin"
commands=(kube-apiserver kube-controller-manager kubectl etcd)

want=$(sha256sum go.sum | cut -d' ' -f1)
have=$(cat "$bin/.stamp" 2>/dev/null || true)
missing=0
for c in "${commands[@]}"; do
    [[ -x "$bin/$c" ]] || missing=1
done
if [[ "${1:-}" != "--force" && "$want" == "$have" && $missing == 0 ]]; then
    echo "build.sh: binaries in $bin are current (go.sum $want)"
    exit 0
fi

export GOFLAGS="${GOFLAGS:--p=2} -mod=readonly -buildvcs=false"
export CGO_ENABLED=0

kver=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
major=${kver#v}
major=${major%%.*}
minor=${kver#v*.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$kver -X $pkg.gitMajor=$major"
    ldflags+=" -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

rm -f "$bin/.stamp"
mkdir -p "$bin"
start=$(date +%s)
echo "build.sh: building Kubernetes $kver components into $bin"
go build -ldflags "$ldflags" -o "$bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl
echo "build.sh: building etcd $(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
go build -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3
echo "$want" >"$bin/.stamp"
echo "build.sh: done in $(($(date +%s) - start)) s"
