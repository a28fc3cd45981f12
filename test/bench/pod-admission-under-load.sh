#!/usr/bin/env bash
# Measures pod admission latency at the webhook while provisioning is slow.
#
# Starts the local control plane, the Azure emulator and the webhook on
# 127.0.0.1 (scripts/local-stack.sh) in a temporary folder, creates the
# example AzureIdentityTerminator so that the pods' identity exists, then
# runs two phases of the same pod load (pod-admission-load: pod
# AdmissionReviews sent straight to /mutate/pods and /validate/pods over
# TLS keep-alive connections):
#   idle  nothing else runs;
#   load  the emulator delays every Graph and ARM call by LATENCY_MS, and
#         CREATES AzureIdentityTerminator CREATE reviews (distinct names)
#         are posted at once to /validate/azureidentityterminators with
#         ?timeout=30s, as the apiserver sends them.
# Prints a Markdown report: client-side and server-side (webhook log)
# latency per route and phase, and how the creates ended. Stops
# everything it started on exit.
#
# Usage: test/bench/pod-admission-under-load.sh [BUILD_DIR]
#   BUILD_DIR  meson build folder (default: build)
# Environment:
#   AZIDT_BENCH_RATE        pod reviews per second, both routes (default 100)
#   AZIDT_BENCH_SECONDS     length of each phase (default 40)
#   AZIDT_BENCH_LATENCY_MS  delay added to each Graph and ARM call
#                           (default 3000)
#   AZIDT_BENCH_CREATES     concurrent creates in the load phase (default 20)
#   AZIDT_BENCH_KEEP=1      keep the temporary folder (logs)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../../scripts/local-stack.sh
. "$repo/scripts/local-stack.sh"

build=$(realpath "${1:-$repo/build}")
rate=${AZIDT_BENCH_RATE:-100}
seconds=${AZIDT_BENCH_SECONDS:-40}
latency_ms=${AZIDT_BENCH_LATENCY_MS:-3000}
creates=${AZIDT_BENCH_CREATES:-20}
namespace=my-namespace
load_bin=$build/test/bench/pod-admission-load
webhook_bin=$build/src/azidt-webhook
emulator_bin=$build/test/emulator/azidt-azure-emulator
# The load generator is not built by default.
meson compile -C "$build" pod-admission-load >/dev/null ||
    die "building pod-admission-load failed"
for bin in "$load_bin" "$webhook_bin" "$emulator_bin"; do
    [[ -x "$bin" ]] || die "$bin is missing; build with meson compile first"
done
# The creates must end within the load phase: 30 s of admission timeout,
# plus the 2 s before they start.
((seconds >= 35)) || die "AZIDT_BENCH_SECONDS must be at least 35"

work=$(mktemp -d "${TMPDIR:-/tmp}/azidt-bench.XXXXXX")
cleanup() {
    stack_down "$work" 2>/dev/null
    if [[ "${AZIDT_BENCH_KEEP:-0}" == 1 ]]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stack_up "$work" "$webhook_bin" "$emulator_bin" --log-level info ||
    die "starting the control plane, the emulator or the webhook failed"
# shellcheck source=/dev/null
. "$(stack_env_file "$work")"
admin_url=$(sed -n 's/^AZURE_EMULATOR_ADMIN_URL=//p' "$AZIDT_AZURE_ENV")
azure_ca=$(sed -n 's/^AZURE_CA_FILE=//p' "$AZIDT_AZURE_ENV")

admin() {
    curl --noproxy '*' -fsS --max-time 10 --cacert "$azure_ca" "$@"
}

kubectl create namespace "$namespace" >/dev/null &&
    kubectl apply -f "$repo/manifests/examples/azure-kv-access-test.yaml" \
        >/dev/null &&
    kubectl wait --for=condition=Ready --timeout=120s -n "$namespace" \
        azidt/azure-kv-access-test >/dev/null ||
    die "the example AzureIdentityTerminator did not become Ready"

# pod_load PREFIX: one phase of pod reviews, uids PREFIX-<n>.
pod_load() {
    "$load_bin" --url "$AZIDT_WEBHOOK_URL" --ca-file "$AZIDT_TEST_CA_FILE" \
        --rate "$rate" --seconds "$seconds" \
        --max-requests $((rate * seconds + 100)) --uid-prefix "$1"
}

# create_review N: the AdmissionReview of the CREATE of bench-create-N.
create_review() {
    local name=bench-create-$1 uid
    uid=$(cat /proc/sys/kernel/random/uuid)
    jq -n --arg name "$name" --arg ns "$namespace" --arg uid "$uid" \
        --arg review "$(cat /proc/sys/kernel/random/uuid)" '{
        apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
        request: {
            uid: $review,
            kind: {group: "azidterminator.io", version: "v1alpha1",
                   kind: "AzureIdentityTerminator"},
            resource: {group: "azidterminator.io", version: "v1alpha1",
                       resource: "azureidentityterminators"},
            name: $name, namespace: $ns, operation: "CREATE",
            userInfo: {username: "bench"},
            object: {
                apiVersion: "azidterminator.io/v1alpha1",
                kind: "AzureIdentityTerminator",
                metadata: {name: $name, namespace: $ns, uid: $uid,
                           finalizers: ["azidterminator.io/cleanup"]},
                spec: {
                    appRegistration: {displayName: $name},
                    azureIdentityName: $name,
                    nodeResourceGroup: "my-aks-cluster-node-resource-group",
                    podSelector: ($name + "-pods"),
                    servicePrincipal: {clientSecretDuration: "720h",
                                       tags: ["azure-kv-aks-test"]}
                }
            },
            oldObject: null, dryRun: false
        }}'
}

# post_creates: all creates at once; DIR/creates.txt gets one line per
# create: HTTP status, seconds, allowed, code.
post_creates() {
    local i pids=()
    for ((i = 1; i <= creates; i++)); do
        create_review "$i" >"$work/create-$i.json"
    done
    for ((i = 1; i <= creates; i++)); do
        curl --noproxy '*' -sS --max-time 40 --cacert "$AZIDT_TEST_CA_FILE" \
            -H 'Content-Type: application/json' \
            --data-binary "@$work/create-$i.json" \
            -o "$work/create-$i.reply" -w '%{http_code} %{time_total}\n' \
            "$AZIDT_WEBHOOK_URL/validate/azureidentityterminators?timeout=30s" \
            >"$work/create-$i.status" 2>&1 &
        pids+=($!)
    done
    # Only these pids: a bare wait would also wait for the webhook and
    # the emulator, which are children of this shell too.
    wait "${pids[@]}"
    for ((i = 1; i <= creates; i++)); do
        printf '%s %s %s\n' "$(cat "$work/create-$i.status")" \
            "$(jq -r '.response.allowed' "$work/create-$i.reply" 2>/dev/null)" \
            "$(jq -r '.response.status.code // 200' "$work/create-$i.reply" \
                2>/dev/null)"
    done >"$work/creates.txt"
}

# server_latency PREFIX: percentiles of the latency_ms that the webhook
# logged for requests whose uid starts with PREFIX-, per path.
server_latency() {
    echo "| route | answered | p50 ms | p95 ms | p99 ms | max ms |"
    echo "| --- | --- | --- | --- | --- | --- |"
    jq -rs --arg prefix "$1-" '
        def pct(p): .[((p / 100 * length) | ceil) - 1];
        map(select(.msg == "admission review" and
                   (.uid // "" | startswith($prefix))))
        | group_by(.path)[]
        | (map(.latency_ms | tonumber) | sort) as $v
        | "| \(.[0].path) | \($v | length) | \($v | pct(50)) | \($v | pct(95)) | \($v | pct(99)) | \($v[-1]) |"' \
        < <(grep '^{' "$AZIDT_WEBHOOK_LOG")
}

say "phase idle: $rate pod reviews/s for $seconds s"
pod_load idle >"$work/idle.md" || die "the idle phase failed"

say "phase load: Graph and ARM delayed by $latency_ms ms, $creates creates"
for service in graph arm; do
    admin -X POST -H 'Content-Type: application/json' \
        -d "{\"service\":\"$service\",\"kind\":\"latency\",\"latencyMs\":$latency_ms}" \
        "$admin_url/faults" >/dev/null || die "setting the latency fault failed"
done
calls_before=$(admin "$admin_url/calls" | jq .lastSeq)
pod_load load >"$work/load.md" &
load_pid=$!
sleep 2
create_started=$SECONDS
post_creates
create_seconds=$((SECONDS - create_started))
wait "$load_pid" || die "the load phase failed"
calls_during=$(admin "$admin_url/calls?since=$calls_before" |
    jq '.calls | length')
admin -X DELETE "$admin_url/faults" >/dev/null

# ------------------------------------------------------------- report

cat <<EOF
### Run of $(date -u +%FT%TZ)

Command: \`test/bench/pod-admission-under-load.sh\` with AZIDT_BENCH_RATE=$rate,
AZIDT_BENCH_SECONDS=$seconds, AZIDT_BENCH_LATENCY_MS=$latency_ms,
AZIDT_BENCH_CREATES=$creates. Webhook built from commit
$(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- src include || echo " with local changes").

Machine: $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p')),
$(free -g | awk '/^Mem:/ {print $2}') GiB of memory, shared with other work.

#### Pod reviews, client side (pod-admission-load)

Idle:

$(cat "$work/idle.md")

While $creates creates wait on Graph and ARM delayed by $latency_ms ms:

$(cat "$work/load.md")

#### Pod reviews, server side (latency_ms in the webhook log)

Idle:

$(server_latency idle)

Under load:

$(server_latency load)

#### The $creates creates

All posted at once; the last answer came after $create_seconds s. The
emulator served $calls_during calls during the load phase.

| HTTP status | allowed | code | count |
| --- | --- | --- | --- |
$(awk '{print "| " $1 " | " $3 " | " $4 " |"}' "$work/creates.txt" | sort | uniq -c |
    awk '{c=$1; $1=""; sub(/^ /, ""); print $0 " " c " |"}')

Seconds per create (client side): $(awk '{print $2}' "$work/creates.txt" | sort -n |
    awk '{v[NR]=$1} END {printf "min %.1f, median %.1f, max %.1f", v[1], v[int((NR+1)/2)], v[NR]}')
EOF
