#!/usr/bin/env bash
# End-to-end tests of the controller's background work: secret rotation
# with an overlap, and leader election between two webhook replicas. Runs
# against a local control plane, the Azure emulator and the real webhook
# (test/e2e/lib.sh), and closes with "N passed, N failed".
#
# Usage: test/e2e/controller.sh WEBHOOK_BINARY EMULATOR_BINARY [CASE...]
set -uo pipefail

# The previous client secret stays valid this long after a rotation.
export AZIDT_E2E_SECRET_OVERLAP=${AZIDT_E2E_SECRET_OVERLAP:-8s}

. "$(dirname "$0")/lib.sh"

lease_holder() {
    kubectl get lease azure-identity-terminator -n default \
        -o 'jsonpath={.spec.holderIdentity}'
}

holder_is() {
    [[ "$(lease_holder)" == "$1" ]]
}

key_id() {
    get secret "$1" '{.metadata.annotations.azidterminator\.io/key-id}'
}

key_differs() {
    [[ "$(key_id "$1")" != "$2" ]]
}

gets_token() {
    token_for "$1" "$2" | jq -e '.access_token' >/dev/null
}

no_token() {
    ! gets_token "$1" "$2"
}

# A secret due for rotation a few seconds after it was made is rotated; the
# old one keeps working through the overlap, then stops; the new one works.
case_secret_rotates_with_overlap() {
    local name=e2e-rotation client_id old_key old_secret new_secret file
    file=$(terminator "$name" <<EOF
  appRegistration:
    displayName: $name
  azureIdentityName: $name
  nodeResourceGroup: my-aks-cluster-node-resource-group
  podSelector: $name-pods
  servicePrincipal:
    clientSecretDuration: 1h
    renewBefore: 59m55s
EOF
)
    run kubectl apply -f "$file"
    expect_success "creating $name" || return 1
    wait_ready "$name" || return 1
    client_id=$(get azidt "$name" '{.status.appRegistration.clientID}')
    old_key=$(key_id "$name")
    old_secret=$(stored_secret "$name")

    if ! wait_until 30 "the secret of $name to rotate" key_differs "$name" \
        "$old_key"; then
        run kubectl get secret "$name" -n "$ns" -o yaml
        fail "the secret was not rotated within 30 s"
        return 1
    fi
    run get secret "$name" \
        '{.metadata.annotations.azidterminator\.io/previous-key-id}'
    [[ "$last_out" == "$old_key" ]] ||
        fail "previous-key-id is not the old key $old_key" || return 1
    new_secret=$(stored_secret "$name")
    [[ "$new_secret" != "$old_secret" ]] ||
        fail "the rotated Secret holds the old value" || return 1
    run token_for "$client_id" "$old_secret"
    expect_output '"access_token"' || return 1

    if ! wait_until 40 "the old secret to stop working" no_token \
        "$client_id" "$old_secret"; then
        fail "the old secret still obtains a token after the overlap"
        return 1
    fi
    wait_until 20 "the new secret to work" gets_token "$client_id" \
        "$new_secret" || fail "the new secret obtains no token" || return 1
    run kubectl get events -n "$ns" --field-selector \
        "involvedObject.name=$name,reason=SecretRotated" -o name
    [[ -n "$last_out" ]] || fail "no SecretRotated event" || return 1
    run kubectl delete azidt "$name" -n "$ns" --wait=true --timeout=60s
    expect_success "deleting $name"
}

# Two replicas: one holds the Lease; killed without releasing it, the other
# takes over after the lease duration and provisions new objects.
case_standby_takes_over_lease() {
    local first second_port file pid
    first=$(lease_holder)
    [[ "$first" == webhook ]] ||
        fail "the first replica does not hold the Lease (holder: $first)" ||
        return 1
    start_webhook standby || return 1
    second_port=$webhook_port
    sleep 3
    holder_is webhook || fail "the standby took a live Lease" || return 1

    pid=$(cat "$AZIDT_TEST_DIR/run/webhook.pid")
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    rm -f "$AZIDT_TEST_DIR/run/webhook.pid"
    # The webhook configuration now needs the surviving replica.
    webhook_port=$second_port
    register_webhook || fail "registering the standby failed" || return 1
    if ! wait_until 30 "the standby to take the Lease" holder_is standby; then
        run kubectl get lease azure-identity-terminator -n default -o yaml
        fail "the standby did not take over within 30 s"
        return 1
    fi
    file=$(terminator e2e-after-failover </dev/null)
    run kubectl apply -f "$file"
    expect_success "creating an object after the failover" || return 1
    wait_ready e2e-after-failover
}

# A replica stopped with SIGTERM releases the Lease, so the next one leads
# at once rather than after the lease duration.
case_sigterm_releases_lease() {
    local survivor_port started
    holder_is standby || fail "the standby does not lead" || return 1
    start_webhook third || return 1
    survivor_port=$webhook_port
    started=$SECONDS
    stop_webhook standby
    webhook_port=$survivor_port
    register_webhook || fail "registering the third replica failed" ||
        return 1
    wait_until 10 "the third replica to take the Lease" holder_is third ||
        fail "the Lease was not released on SIGTERM" || return 1
    echo "  took over $((SECONDS - started)) s after SIGTERM"
    # SIGTERM must end the process well inside a 30 s grace period.
    run grep -c '"stopped leading".*"identity":"standby"' "$webhook_log"
    [[ "$last_out" -ge 1 ]] || fail "the standby did not log stopping"
}

all_cases=(
    secret_rotates_with_overlap
    standby_takes_over_lease
    sigterm_releases_lease
)

e2e_main "$@"
