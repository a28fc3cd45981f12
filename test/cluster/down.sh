#!/usr/bin/env bash
# Stops the control plane that test/cluster/up.sh DIR started and any other
# process whose pid file lies in DIR/run (a test may put its webhook there).
# Leaves DIR with its logs in place; the caller removes it.
#
# Usage: test/cluster/down.sh DIR
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

[[ $# -eq 1 ]] || die "usage: $0 DIR"
run=$1/run
if [[ ! -d "$run" ]]; then
    # A wrong DIR would otherwise leave a running cluster behind unnoticed.
    say "warning: $1 has no run/ folder, so up.sh did not start anything there; nothing stopped"
    exit 0
fi

# Clients first, etcd last, so the apiserver does not log a lost backend.
for name in kube-controller-manager kube-apiserver; do
    stop_pid "$run/$name.pid" "$name"
done
for file in "$run"/*.pid; do
    [[ -f "$file" ]] || continue
    name=$(basename "$file" .pid)
    [[ "$name" == etcd ]] && continue
    stop_pid "$file" "$name"
done
stop_pid "$run/etcd.pid" etcd
exit 0
