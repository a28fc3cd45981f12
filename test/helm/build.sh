#!/usr/bin/env bash
# Builds helm from the version pinned in go.mod into bin/. The binary is
# rebuilt only when go.sum changes: bin/.stamp contains the hash of the
# go.sum it came from.
#
# Usage: test/helm/build.sh [--force]
# Environment: GOFLAGS (default -p=2, the machine has two cores).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

command -v go >/dev/null ||
    { echo "build.sh: go not found; install Go 1.26 or newer" >&2; exit 1; }

bin="$here/bin"
want=$(sha256sum go.sum | cut -d' ' -f1)
have=$(cat "$bin/.stamp" 2>/dev/null || true)
if [[ "${1:-}" != "--force" && "$want" == "$have" && -x "$bin/helm" ]]; then
    echo "build.sh: $bin/helm is current (go.sum $want)"
    exit 0
fi

export GOFLAGS="${GOFLAGS:--p=2} -mod=readonly -buildvcs=false"
export CGO_ENABLED=0

# The same stamps as helm's own Makefile: `helm version` reports the
# module version, and `helm lint` and `helm template` assume the Kubernetes
# version of the client-go that helm is built with (client-go v0.36 is
# Kubernetes 1.36), not their source defaults.
version=$(go list -m -f '{{.Version}}' helm.sh/helm/v3)
kube=$(go list -m -f '{{.Version}}' k8s.io/client-go)
kube_major=${kube#v}
kube_major=$((${kube_major%%.*} + 1))
kube_minor=${kube#v*.}
kube_minor=${kube_minor%%.*}
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=$kube_major"
    ldflags+=" -X $pkg.k8sVersionMinor=$kube_minor"
done

rm -f "$bin/.stamp"
mkdir -p "$bin"
start=$(date +%s)
echo "build.sh: building helm $version into $bin"
go build -ldflags "$ldflags" -o "$bin/helm" helm.sh/helm/v3/cmd/helm
echo "$want" >"$bin/.stamp"
echo "build.sh: done in $(($(date +%s) - start)) s"
