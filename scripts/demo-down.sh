#!/usr/bin/env bash
# Stops the demo that scripts/demo-up.sh started (webhook, Azure emulator,
# local control plane) and removes its folder .demo/. Does nothing when no
# demo folder exists, so running it twice is harmless.
#
# Usage: scripts/demo-down.sh
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=local-stack.sh
. "$here/local-stack.sh"

demo=$repo/.demo
if [[ ! -e "$demo" ]]; then
    say "no demo to stop ($demo does not exist)"
    exit 0
fi
stack_down "$demo"
rm -rf "$demo"
say "stopped the demo and removed $demo"
