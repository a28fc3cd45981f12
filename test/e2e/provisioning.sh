#!/usr/bin/env bash
# End-to-end tests of provisioning against a local control plane. An
# AzureIdentityTerminator applied with kubectl becomes an application,
# service principal, client secret and role assignment in the Azure
# emulator, and a Secret, AzureIdentity and AzureIdentityBinding in
# Kubernetes. Deleting it removes them all. The cases also cover the
# hazards: dry runs, a create delivered twice, a client retry, replication
# delay and throttling, Azure failing or down, an object that is never
# stored, drift, conflicts, and secret values leaking into logs, Events or
# status.
#
# Each case checks kubectl's output, the stored objects and the emulator's
# state and call log (its admin endpoint). Prints one line per case, the
# measured provisioning time and call counts, and closes with
# "N passed, N failed".
#
# Usage: test/e2e/provisioning.sh WEBHOOK_BINARY EMULATOR_BINARY [CASE...]
#   CASE  run only the named cases (default: all, in order; later cases
#         do not depend on earlier ones except where a comment says so)
# Environment: see test/e2e/lib.sh (AZIDT_E2E_KEEP=1 keeps the logs).
set -uo pipefail

# The orphan sweep must run within the test's patience: an application
# whose object was never stored goes after the grace plus one interval.
export AZIDT_E2E_SWEEP_INTERVAL=${AZIDT_E2E_SWEEP_INTERVAL:-5s}
export AZIDT_E2E_ORPHAN_GRACE=${AZIDT_E2E_ORPHAN_GRACE:-30s}

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

example_name=azure-kv-access-test
# Role definition id of the built-in Reader role.
reader_role=acdd72a7-3385-48ef-bd42-f606fba81ae7
node_group=my-aks-cluster-node-resource-group
# Maximum wait for Ready after an admitted create, in seconds.
ready_timeout=90

# ------------------------------------------------------------ emulator

# emu METHOD PATH [JSON]: call the emulator's admin endpoint.
emu() {
    local method=$1 path=$2 body=${3:-}
    curl --noproxy '*' -fsS --max-time 10 --cacert "$(azure AZURE_CA_FILE)" \
        -X "$method" ${body:+-H 'Content-Type: application/json' -d "$body"} \
        "$(azure AZURE_EMULATOR_ADMIN_URL)$path"
}

# The sequence number of the emulator's last call, to read later calls.
call_mark() {
    emu GET /calls | jq -r '.lastSeq'
}

# calls_since SEQ: "METHOD /route status" lines of the calls after SEQ.
calls_since() {
    emu GET "/calls?since=$1" |
        jq -r '.calls[] | "\(.service) \(.route) \(.status)"'
}

# count_summary LINES: calls per service and route, most frequent first.
count_summary() {
    awk '{ $NF = ""; print }' | sort | uniq -c | sort -rn |
        sed 's/^ */      /'
}

# azure_objects NAME: the emulator's objects made for AzureIdentityTerminator
# NAME of the test namespace, as one line
# "apps=N sps=N assignments=N deleted=N". An application belongs to it by
# its object tag; service principals by the application's appId; role
# assignments by the principal id. Principal ids seen before are passed in
# SEEN_PRINCIPALS (space separated) so assignments left behind after their
# principal went are still counted.
azure_objects() {
    emu GET /state | jq -r --arg tag "azidterminator.io:object=$example_namespace/$1" \
        --arg seen "${SEEN_PRINCIPALS:-}" '
        [.applications[] | select((.tags // []) | index($tag))] as $apps
        | [.deletedItems[] | select((.tags // []) | index($tag))] as $gone
        | ($apps | map(.appId)) as $appids
        | [.servicePrincipals[] | select(.appId as $a | $appids | index($a))]
            as $sps
        | (($sps | map(.id)) + ($seen | split(" ") | map(select(. != ""))))
            as $pids
        | [.roleAssignments[]
           | select(.properties.principalId as $p | $pids | index($p))] as $ras
        | "apps=\($apps | length) sps=\($sps | length) assignments=\($ras | length) deleted=\($gone | length)"'
}

# Every object in the emulator, counted, to compare before and after.
# Deleted items count applications only: a deleted application's service
# principal stays among the deleted items, without credentials, and cannot
# be restored once its application is purged.
azure_totals() {
    emu GET /state | jq -r '"apps=\(.applications | length) sps=\(.servicePrincipals | length) assignments=\(.roleAssignments | length) deleted=\([.deletedItems[] | select(."@odata.type" == "#microsoft.graph.application")] | length)"'
}

# expect_azure NAME WANT: azure_objects NAME prints WANT.
expect_azure() {
    run azure_objects "$1"
    [[ "$last_out" == "$2" ]] ||
        fail "expected the emulator to hold $2 for $1"
}

# wait_azure SECONDS NAME WANT: wait until azure_objects NAME prints WANT.
azure_is() {
    [[ "$(azure_objects "$1")" == "$2" ]]
}
wait_azure() {
    wait_until "$1" "the emulator to hold $3 for $2" azure_is "$2" "$3" ||
        expect_azure "$2" "$3"
}

# writes_since SEQ: the calls after SEQ that changed something in Graph or
# ARM.
writes_since() {
    calls_since "$1" | grep -E '^(graph|arm) (PUT|PATCH|POST|DELETE) '
}

# ---------------------------------------------------------- kubernetes

# wait_gone KIND NAME: wait until the object is gone.
object_gone() {
    ! kubectl get "$1" "$2" -n "$ns" >/dev/null 2>&1
}
wait_gone() {
    if ! wait_until 60 "$1 $2 to go" object_gone "$1" "$2"; then
        run kubectl get "$1" "$2" -n "$ns" -o yaml
        fail "$1 $2 still exists"
        return 1
    fi
}

# delete_terminator NAME: kubectl delete and wait until it is gone (the
# finalizer runs first).
delete_terminator() {
    run kubectl delete azidt "$1" -n "$ns" --timeout=90s
    expect_success "deleting $1" || return 1
    wait_gone azidt "$1"
}

# expect_owned KIND NAME OWNER: KIND NAME exists and its controller owner
# reference is the AzureIdentityTerminator OWNER (uid included).
expect_owned() {
    local uid
    uid=$(get azidt "$3" '{.metadata.uid}')
    run get "$1" "$2" '{.metadata.ownerReferences[?(@.controller==true)].kind}/{.metadata.ownerReferences[?(@.controller==true)].name}/{.metadata.ownerReferences[?(@.controller==true)].uid}'
    expect_success "$1 $2 exists" &&
        expect_output "AzureIdentityTerminator/$3/$uid"
}


# ---------------------------------------------------------------- cases

# The documented example becomes Ready with every object it promises.
case_example_becomes_ready() {
    local mark started elapsed_ms uid client_id app_id sp_id calls
    mark=$(call_mark)
    started=$(date +%s%N)
    run kubectl apply -f "$example"
    expect_success &&
        expect_output "azureidentityterminator.azidterminator.io/$example_name created" ||
        return 1
    wait_ready "$example_name" || return 1
    elapsed_ms=$((($(date +%s%N) - started) / 1000000))

    # Status, in the field names users see.
    run kubectl get azidt "$example_name" -n "$ns" -o json
    expect_success || return 1
    uid=$(jq -r .metadata.uid <<<"$last_out")
    client_id=$(jq -r '.status.appRegistration.clientID // ""' <<<"$last_out")
    app_id=$(jq -r '.status.appRegistration.objectID // ""' <<<"$last_out")
    sp_id=$(jq -r '.status.servicePrincipal.objectID // ""' <<<"$last_out")
    local check
    for check in \
        '.status.appRegistration.objectID | test("^[0-9a-f-]{36}$")' \
        '.status.appRegistration.clientID | test("^[0-9a-f-]{36}$")' \
        '.status.servicePrincipal.objectID | test("^[0-9a-f-]{36}$")' \
        '.status.servicePrincipal.clientSecretExpiration | test("^20[0-9][0-9]-")' \
        '.status.roleAssignment | test("/resourceGroups/'"$node_group"'/providers/Microsoft.Authorization/roleAssignments/")' \
        '.status.roleAssignments | length == 1' \
        '.status.roleAssignments[0].role | endswith("'"$reader_role"'")' \
        '.status.azureIdentityBinding == "'"$example_name"'"' \
        '.status.observedGeneration == .metadata.generation' \
        '.status.conditions[] | select(.type == "Ready") | .reason == "Provisioned"'; do
        [[ "$(jq -r "$check" <<<"$last_out")" == true ]] ||
            fail "status: expected $check" || return 1
    done

    # The Kubernetes objects, owned by the AzureIdentityTerminator.
    expect_owned secret "$example_name" "$example_name" &&
        expect_owned azureidentity "$example_name" "$example_name" &&
        expect_owned azureidentitybinding "$example_name" "$example_name" ||
        return 1
    run get secret "$example_name" '{.data}'
    expect_output '"clientSecret"' || return 1
    run kubectl get azureidentity "$example_name" -n "$ns" -o json
    expect_success || return 1
    for check in \
        '.spec.type == 1' \
        '.spec.tenantID == "'"$(azure AZURE_TENANT_ID)"'"' \
        '.spec.clientID == "'"$client_id"'"' \
        '.spec.clientPassword.name == "'"$example_name"'"' \
        '.spec.clientPassword.namespace == "'"$ns"'"' \
        '.metadata.annotations["aadpodidentity.k8s.io/Behavior"] == "namespaced"'; do
        [[ "$(jq -r "$check" <<<"$last_out")" == true ]] ||
            fail "AzureIdentity: expected $check" || return 1
    done
    run get azureidentitybinding "$example_name" '{.spec.azureIdentity} {.spec.selector}'
    expect_success && expect_output "$example_name azure-kv-pods" || return 1

    # Azure: one application, one service principal, one Reader assignment
    # on the node resource group, all tied to this object.
    run emu GET /state
    for check in \
        '[.applications[] | select(.id == "'"$app_id"'" and .appId == "'"$client_id"'")] | length == 1' \
        '[.applications[] | select(.id == "'"$app_id"'") | .tags[] | select(. == "azidterminator.io:uid='"$uid"'")] | length == 1' \
        '[.servicePrincipals[] | select(.appId == "'"$client_id"'")] | length == 1' \
        '[.servicePrincipals[] | select(.appId == "'"$client_id"'") | .id][0] == "'"$sp_id"'"' \
        '[.servicePrincipals[] | select(.appId == "'"$client_id"'") | .tags[] | select(. == "azure-kv-aks-test")] | length == 1' \
        '[.roleAssignments[] | select(.properties.principalId == "'"$sp_id"'")] | length == 1' \
        '[.roleAssignments[] | select(.properties.principalId == "'"$sp_id"'")][0].properties.scope == "/subscriptions/'"$(azure AZURE_SUBSCRIPTION_ID)"'/resourceGroups/'"$node_group"'"' \
        '[.roleAssignments[] | select(.properties.principalId == "'"$sp_id"'")][0].properties.roleDefinitionId | endswith("'"$reader_role"'")' \
        '[.roleAssignments[] | select(.properties.principalId == "'"$sp_id"'")][0].properties.principalType == "ServicePrincipal"' \
        '[.applications[] | select(.id == "'"$app_id"'") | .passwordCredentials[]] | length == 1'; do
        [[ "$(jq -r "$check" <<<"$last_out")" == true ]] ||
            fail "emulator state: expected $check" || return 1
    done
    SEEN_PRINCIPALS=$sp_id expect_azure "$example_name" \
        "apps=1 sps=1 assignments=1 deleted=0" || return 1

    # An Event records the success.
    run kubectl get events -n "$ns" \
        --field-selector "involvedObject.name=$example_name,involvedObject.kind=AzureIdentityTerminator" \
        -o 'jsonpath={range .items[*]}{.type} {.reason}{"\n"}{end}'
    expect_success && expect_output "Normal Provisioned" || return 1

    calls=$(calls_since "$mark")
    echo "    provisioning time (kubectl apply to Ready): $elapsed_ms ms"
    echo "    emulator calls for the example: $(wc -l <<<"$calls") in all"
    count_summary <<<"$calls"
}

# Secret values stay out of the webhook's log, Events, status and
# messages. Needs the example from example_becomes_ready.
case_secret_value_never_leaks() {
    local value encoded
    value=$(stored_secret "$example_name")
    [[ ${#value} -ge 16 ]] ||
        fail "the Secret $example_name holds no client secret" || return 1
    encoded=$(printf %s "$value" | base64 -w0)
    run grep -cF -- "$value" "$webhook_log"
    [[ "$last_out" == 0 ]] || fail "the webhook log holds the secret" ||
        return 1
    run grep -cF -- "$encoded" "$webhook_log"
    [[ "$last_out" == 0 ]] ||
        fail "the webhook log holds the base64 secret" || return 1
    run kubectl get events -A -o yaml
    expect_success && expect_no_output "$value" &&
        expect_no_output "$encoded" || return 1
    run kubectl get azidt -A -o yaml
    expect_success && expect_no_output "$value" &&
        expect_no_output "$encoded" || return 1
    run kubectl get azureidentities,azureidentitybindings -A -o yaml
    expect_success && expect_no_output "$value" &&
        expect_no_output "$encoded" || return 1
    # Azure keeps only a hint of the secret, never the value.
    run emu GET /state
    expect_no_output "$value"
}

# The stored secret obtains a token; after kubectl delete it does not, and
# nothing is left in Azure or Kubernetes. Needs the example.
case_secret_gets_token_until_deleted() {
    local client_id sp_id value kind
    client_id=$(get azidt "$example_name" '{.status.appRegistration.clientID}')
    sp_id=$(get azidt "$example_name" '{.status.servicePrincipal.objectID}')
    value=$(stored_secret "$example_name")
    run token_for "$client_id" "$value"
    expect_output '"access_token"' || return 1
    [[ "$(jq -r '.access_token | split(".")[1] | @base64d | fromjson | .appid' <<<"$last_out" 2>/dev/null)" == "$client_id" ]] ||
        fail "the token is not for application $client_id" || return 1

    delete_terminator "$example_name" || return 1
    run token_for "$client_id" "$value"
    expect_no_output '"access_token"' &&
        expect_output '"error"' || return 1
    for kind in secret azureidentity azureidentitybinding; do
        wait_gone "$kind" "$example_name" || return 1
    done
    SEEN_PRINCIPALS=$sp_id expect_azure "$example_name" \
        "apps=0 sps=0 assignments=0 deleted=0" || return 1
    run emu GET /state
    [[ "$(jq "[.servicePrincipals[] | select(.id == \"$sp_id\")] | length" <<<"$last_out")" == 0 ]] ||
        fail "service principal $sp_id is still in the emulator"
}

# A server-side dry run creates nothing in Azure or Kubernetes.
case_server_dry_run_creates_nothing() {
    local mark file before
    file=$(terminator e2e-dry-run </dev/null)
    before=$(azure_totals)
    mark=$(call_mark)
    run kubectl apply --dry-run=server -f "$file"
    expect_success &&
        expect_output "e2e-dry-run created (server dry run)" || return 1
    expect_not_stored e2e-dry-run || return 1
    run writes_since "$mark"
    [[ -z "$last_out" ]] || fail "the dry run wrote to Azure" || return 1
    run azure_totals
    [[ "$last_out" == "$before" ]] ||
        fail "the emulator changed from $before" || return 1
    expect_azure e2e-dry-run "apps=0 sps=0 assignments=0 deleted=0" || return 1
    run kubectl get secret,azureidentity,azureidentitybinding -n "$ns" \
        --ignore-not-found -o name
    expect_no_output e2e-dry-run
}

# review_for NAME UID: an AdmissionReview of a CREATE of NAME as the
# apiserver sends it to the validating webhook.
review_for() {
    local name=$1 uid=$2
    jq -n --arg name "$name" --arg ns "$ns" --arg uid "$uid" '{
      apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
      request: {
        uid: ("review-" + $uid),
        kind: {group: "azidterminator.io", version: "v1alpha1",
               kind: "AzureIdentityTerminator"},
        resource: {group: "azidterminator.io", version: "v1alpha1",
                   resource: "azureidentityterminators"},
        requestKind: {group: "azidterminator.io", version: "v1alpha1",
                      kind: "AzureIdentityTerminator"},
        requestResource: {group: "azidterminator.io", version: "v1alpha1",
                          resource: "azureidentityterminators"},
        name: $name, namespace: $ns, operation: "CREATE",
        userInfo: {username: "e2e"},
        object: {
          apiVersion: "azidterminator.io/v1alpha1",
          kind: "AzureIdentityTerminator",
          metadata: {name: $name, namespace: $ns, uid: $uid,
                     finalizers: ["azidterminator.io/cleanup"]},
          spec: {appRegistration: {displayName: $name},
                 azureIdentityName: $name,
                 nodeResourceGroup: "my-aks-cluster-node-resource-group",
                 podSelector: ($name + "-pods"),
                 servicePrincipal: {clientSecretDuration: "720h",
                                    tags: ["azure-kv-aks-test"]}}},
        oldObject: null, dryRun: false,
        options: {apiVersion: "meta.k8s.io/v1", kind: "CreateOptions"}}}'
}

# post_review FILE: POST an AdmissionReview to the validating webhook as the
# apiserver does; prints "allowed=BOOL" and the message.
post_review() {
    curl --noproxy '*' -sS --max-time 40 --cacert "$AZIDT_TEST_CA_FILE" \
        -H 'Content-Type: application/json' --data-binary "@$1" \
        "https://127.0.0.1:$webhook_port/validate/azureidentityterminators?timeout=30s" |
        jq -r '"allowed=\(.response.allowed) \(.response.status.message // "")"'
}

# The same create delivered twice to the webhook (an apiserver retry, two
# replicas) makes one application, one principal and one assignment; the
# object then stored for real adopts them. The object's uid is the one the
# apiserver would give, so the object and Azure agree.
case_create_delivered_twice_leaves_one_set() {
    local name=e2e-twice uid review mark sp_id
    uid=$(cat /proc/sys/kernel/random/uuid)
    review=$manifests/$name-review.json
    review_for "$name" "$uid" >"$review"
    run post_review "$review"
    expect_output "allowed=true" || return 1
    run post_review "$review"
    expect_output "allowed=true" || return 1
    run azure_objects "$name"
    [[ "$last_out" == "apps=1 sps=1 assignments="*" deleted=0" ]] ||
        fail "expected one application and one principal" || return 1
    run emu GET /state
    sp_id=$(jq -r --arg tag "azidterminator.io:object=$ns/$name" '
        [.applications[] | select(.tags | index($tag)) | .appId][0] as $a
        | [.servicePrincipals[] | select(.appId == $a) | .id][0]' <<<"$last_out")
    SEEN_PRINCIPALS=$sp_id expect_azure "$name" \
        "apps=1 sps=1 assignments=1 deleted=0" || return 1

    # Two replicas receive the same create at the same moment.
    local name2=e2e-twice-parallel uid2 review2 out1 out2 sp2 first
    uid2=$(cat /proc/sys/kernel/random/uuid)
    review2=$manifests/$name2-review.json
    review_for "$name2" "$uid2" >"$review2"
    post_review "$review2" >"$manifests/$name2-1.out" 2>&1 &
    first=$!
    post_review "$review2" >"$manifests/$name2-2.out" 2>&1
    wait "$first"
    out1=$(cat "$manifests/$name2-1.out")
    out2=$(cat "$manifests/$name2-2.out")
    last_cmd="two concurrent POSTs of $review2"
    last_out="$out1
$out2"
    [[ "$out1" == "allowed=true "* && "$out2" == "allowed=true "* ]] ||
        fail "both concurrent deliveries should be admitted" || return 1
    sp2=$(emu GET /state | jq -r --arg tag "azidterminator.io:object=$ns/$name2" '
        [.applications[] | select(.tags | index($tag)) | .appId][0] as $a
        | [.servicePrincipals[] | select(.appId == $a) | .id] | join(" ")')
    SEEN_PRINCIPALS=$sp2 expect_azure "$name2" \
        "apps=1 sps=1 assignments=1 deleted=0" || return 1

    # The object is now created through the apiserver: a third delivery,
    # then the controller. Still one set, and Ready.
    mark=$(call_mark)
    run kubectl apply -f "$(terminator "$name" </dev/null)"
    expect_success || return 1
    wait_ready "$name" || return 1
    sp_id=$(get azidt "$name" '{.status.servicePrincipal.objectID}')
    SEEN_PRINCIPALS=$sp_id expect_azure "$name" \
        "apps=1 sps=1 assignments=1 deleted=0" || return 1
    delete_terminator "$name" || return 1
    SEEN_PRINCIPALS=$sp_id wait_azure 30 "$name" \
        "apps=0 sps=0 assignments=0 deleted=0"
}

# kubectl gives up waiting (a client-side timeout) while the create goes on
# in the apiserver; the user retries. One set of Azure objects, and the
# retry finds the object.
case_client_retry_after_timeout_leaves_one_set() {
    local name=e2e-retry file sp_id
    file=$(terminator "$name" </dev/null)
    run emu POST /faults '{"service":"arm","route":"PUT */roleAssignments/*","kind":"latency","latencyMs":4000,"times":1}'
    expect_success || return 1
    # timeout(1) ends kubectl on the client side only; kubectl's own
    # --request-timeout would shorten the apiserver's deadline instead.
    run timeout 2 kubectl apply -f "$file"
    expect_failure "kubectl gives up after 2 s" || return 1
    run kubectl apply -f "$file"
    expect_success "the retry" || return 1
    wait_ready "$name" || return 1
    sp_id=$(get azidt "$name" '{.status.servicePrincipal.objectID}')
    SEEN_PRINCIPALS=$sp_id expect_azure "$name" \
        "apps=1 sps=1 assignments=1 deleted=0" || return 1
    delete_terminator "$name" || return 1
    SEEN_PRINCIPALS=$sp_id wait_azure 30 "$name" \
        "apps=0 sps=0 assignments=0 deleted=0"
}

# The object is deleted while the webhook is down and its finalizer is
# removed by hand, so its Azure objects stay behind; the user then creates
# it again. The new object adopts the application: one set of Azure
# objects, Ready, and the orphan sweep leaves it alone. The old owned
# objects go with the garbage collector and are made again.
case_recreated_after_forced_delete_leaves_one_set() {
    local name=e2e-recreate file app_id sp_id grace_s wait_s
    file=$(terminator "$name" </dev/null)
    run kubectl apply -f "$file"
    expect_success || return 1
    wait_ready "$name" || return 1
    app_id=$(get azidt "$name" '{.status.appRegistration.objectID}')
    sp_id=$(get azidt "$name" '{.status.servicePrincipal.objectID}')

    # The webhook also reviews updates, so with it merely stopped its
    # failure policy would reject the patch that removes the finalizer:
    # take the product out as an uninstall would, then put it back.
    stop_webhook
    kubectl delete -f "$manifests/webhook.yaml" >/dev/null
    run kubectl delete azidt "$name" -n "$ns" --wait=false
    local deleted=$last_rc
    run kubectl patch azidt "$name" -n "$ns" --type merge \
        -p '{"metadata":{"finalizers":null}}'
    local patched=$last_rc
    start_webhook && register_webhook ||
        fail "the webhook did not start again" || return 1
    ((deleted == 0 && patched == 0)) ||
        fail "deleting $name and removing its finalizer failed" || return 1
    wait_gone azidt "$name" || return 1
    SEEN_PRINCIPALS=$sp_id expect_azure "$name" \
        "apps=1 sps=1 assignments=1 deleted=0" || return 1

    run kubectl apply -f "$file"
    expect_success "creating $name again" || return 1
    wait_ready "$name" || return 1
    run get azidt "$name" '{.status.appRegistration.objectID} {.status.servicePrincipal.objectID}'
    expect_output "$app_id $sp_id" || return 1
    SEEN_PRINCIPALS=$sp_id expect_azure "$name" \
        "apps=1 sps=1 assignments=1 deleted=0" || return 1
    # The old object's Secret, AzureIdentity and binding are replaced at
    # once rather than reported as conflicts until the garbage collector
    # removes them; the ones present belong to the new object.
    run kubectl get events -n "$ns" --field-selector \
        "involvedObject.uid=$(get azidt "$name" '{.metadata.uid}')" \
        -o 'jsonpath={range .items[*]}{.reason}{"\n"}{end}'
    expect_success && expect_no_output Conflict || return 1
    expect_owned secret "$name" "$name" &&
        expect_owned azureidentity "$name" "$name" &&
        expect_owned azureidentitybinding "$name" "$name" || return 1
    # The application keeps one password: the one the new Secret holds.
    one_password() {
        [[ "$(emu GET /state | jq --arg id "$1" '[.applications[] | select(.id == $id) | .passwordCredentials[]] | length')" == 1 ]]
    }
    wait_until 60 "one password on the application" one_password "$app_id" || {
        run emu GET /state
        fail "application $app_id should keep exactly one password"
        return 1
    }
    # Past the orphan grace and a sweep, the adopted application stays.
    grace_s=${AZIDT_E2E_ORPHAN_GRACE%s}
    wait_s=$((grace_s + ${AZIDT_E2E_SWEEP_INTERVAL%s} + 5))
    sleep "$wait_s"
    SEEN_PRINCIPALS=$sp_id expect_azure "$name" \
        "apps=1 sps=1 assignments=1 deleted=0" || return 1
    is_ready "$name" || fail "$name is no longer Ready" || return 1
    delete_terminator "$name" || return 1
    SEEN_PRINCIPALS=$sp_id wait_azure 30 "$name" \
        "apps=0 sps=0 assignments=0 deleted=0"
}

# With replication delay and throttling switched on, the create still
# succeeds within the admission deadline, and the calls stay bounded.
case_replication_delay_and_throttling_tolerated() {
    local name=e2e-faults file mark started elapsed_ms calls count sp_id
    file=$(terminator "$name" </dev/null)
    run emu PUT /faults '{"replicationDelayMs":3000,"rules":[
        {"service":"graph","route":"*","kind":"status","status":429,"retryAfter":1,"probability":0.3,"seed":7},
        {"service":"arm","route":"*","kind":"status","status":429,"retryAfter":1,"probability":0.3,"seed":11}]}'
    expect_success || return 1

    mark=$(call_mark)
    started=$(date +%s%N)
    run kubectl apply -f "$file"
    elapsed_ms=$((($(date +%s%N) - started) / 1000000))
    if ! expect_success "admission with faults"; then
        emu PUT /faults '{"replicationDelayMs":0,"rules":[]}' >/dev/null
        return 1
    fi
    echo "    admission with faults on: $elapsed_ms ms"
    wait_ready "$name"
    local ready=$?
    elapsed_ms=$((($(date +%s%N) - started) / 1000000))
    emu PUT /faults '{"replicationDelayMs":0,"rules":[]}' >/dev/null
    ((ready == 0)) || return 1

    calls=$(calls_since "$mark")
    count=$(wc -l <<<"$calls")
    echo "    apply to Ready with faults on: $elapsed_ms ms, $count emulator calls, $(grep -c ' 429$' <<<"$calls") answered 429"
    count_summary <<<"$calls"
    ((count <= 100)) || fail "$count calls to Azure for one create" ||
        return 1
    sp_id=$(get azidt "$name" '{.status.servicePrincipal.objectID}')
    SEEN_PRINCIPALS=$sp_id expect_azure "$name" \
        "apps=1 sps=1 assignments=1 deleted=0" || return 1
    delete_terminator "$name" || return 1
    SEEN_PRINCIPALS=$sp_id wait_azure 30 "$name" \
        "apps=0 sps=0 assignments=0 deleted=0"
}

# Azure failing (500 on the role assignment, after the application and its
# principal exist) or unreachable (connections reset): the create is denied
# with a message naming what failed and that retrying may help, and the
# emulator contains nothing from it afterwards.
case_azure_failure_denied_and_undone() {
    local name=e2e-azure-fails file before
    file=$(terminator "$name" </dev/null)
    before=$(azure_totals)
    run emu PUT /faults '{"rules":[{"service":"arm","route":"PUT */roleAssignments/*","kind":"status","status":500}]}'
    expect_success || return 1
    run kubectl apply -f "$file"
    emu PUT /faults '{"rules":[]}' >/dev/null
    expect_failure "Azure answers 500" &&
        expect_output 'admission webhook "azureidentityterminators.validate.azidterminator.io" denied the request' &&
        expect_output "$name was not created" &&
        expect_output "assign role $reader_role" &&
        expect_output "retrying" || return 1
    expect_not_stored "$name" || return 1
    expect_azure "$name" "apps=0 sps=0 assignments=0 deleted=0" || return 1
    run azure_totals
    [[ "$last_out" == "$before" ]] ||
        fail "the emulator changed from $before" || return 1

    run emu PUT /faults '{"rules":[{"service":"*","route":"*","kind":"reset"}]}'
    expect_success || return 1
    run kubectl apply -f "$file"
    emu PUT /faults '{"rules":[]}' >/dev/null
    expect_failure "Azure resets every connection" &&
        expect_output "$name was not created" &&
        expect_output "retrying" || return 1
    expect_not_stored "$name" || return 1
    run azure_totals
    [[ "$last_out" == "$before" ]] ||
        fail "the emulator changed from $before"
}

# deny_webhook NAME: register a second validating webhook for
# AzureIdentityTerminators labelled e2e.azidterminator.io/deny=true whose
# server is unreachable (nothing listens on its port), with failure
# policy Fail: the apiserver rejects the object after this product's
# webhook admitted it.
deny_webhook() {
    local port ca
    port=$(free_port)
    ca=$(base64 -w0 <"$AZIDT_TEST_CA_FILE")
    write_manifest e2e-deny-webhook <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: $1
webhooks:
- name: deny.e2e.azidterminator.io
  clientConfig:
    url: https://127.0.0.1:$port/deny
    caBundle: $ca
  rules:
  - apiGroups: ["azidterminator.io"]
    apiVersions: ["*"]
    operations: ["CREATE"]
    resources: ["azureidentityterminators"]
  objectSelector:
    matchLabels:
      e2e.azidterminator.io/deny: "true"
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: ["v1"]
  timeoutSeconds: 5
EOF
}

# Admission succeeds at this webhook, another webhook fails, the object is
# never stored: the sweep removes the application within the orphan grace
# plus one sweep interval.
case_never_stored_object_is_swept() {
    local name=e2e-never-stored file seen grace_s wait_s
    run kubectl apply -f "$(deny_webhook e2e-deny)"
    expect_success || return 1
    file=$(terminator "$name" </dev/null)
    sed -i "s|^  namespace: .*|&\n  labels:\n    e2e.azidterminator.io/deny: \"true\"|" "$file"
    mark_webhook_log
    run kubectl apply -f "$file"
    kubectl delete validatingwebhookconfiguration e2e-deny >/dev/null 2>&1
    expect_failure "the second webhook fails" &&
        expect_output 'failed calling webhook "deny.e2e.azidterminator.io"' ||
        return 1
    expect_not_stored "$name" || return 1
    run new_webhook_log
    expect_output '"msg":"provisioned Azure identity"' || return 1
    run azure_objects "$name"
    [[ "$last_out" == "apps=1 sps=1 assignments="*" deleted=0" ]] ||
        fail "our webhook should have provisioned $name" || return 1
    seen=$(emu GET /state | jq -r --arg tag "azidterminator.io:object=$ns/$name" '
        [.applications[] | select(.tags | index($tag)) | .appId][0] as $a
        | [.servicePrincipals[] | select(.appId == $a) | .id][0]')
    grace_s=${AZIDT_E2E_ORPHAN_GRACE%s}
    wait_s=$((grace_s + ${AZIDT_E2E_SWEEP_INTERVAL%s} + 15))
    SEEN_PRINCIPALS=$seen wait_azure "$wait_s" "$name" \
        "apps=0 sps=0 assignments=0 deleted=0" || return 1
    run new_webhook_log
    expect_output "removed orphaned application"
}

# The webhook is killed while it provisions (waiting on a slow role
# assignment): the apiserver rejects the create, and the next sweep of the
# restarted webhook removes the application, principal and assignment.
case_killed_webhook_leaves_no_orphan() {
    local name=e2e-killed file output seen pid grace_s wait_s
    file=$(terminator "$name" </dev/null)
    output=$manifests/$name.out
    run emu POST /faults '{"service":"arm","route":"PUT */roleAssignments/*","kind":"latency","latencyMs":4000,"times":1}'
    expect_success || return 1
    kubectl apply -f "$file" >"$output" 2>&1 &
    pid=$!
    provisioning_started() {
        [[ "$(azure_objects "$1")" == "apps=1 sps=1 "* ]]
    }
    if ! wait_until 20 "the application of $name" provisioning_started "$name"; then
        wait "$pid"
        run cat "$output"
        fail "the webhook did not start provisioning $name"
        return 1
    fi
    seen=$(emu GET /state | jq -r --arg tag "azidterminator.io:object=$ns/$name" '
        [.applications[] | select(.tags | index($tag)) | .appId][0] as $a
        | [.servicePrincipals[] | select(.appId == $a) | .id][0]')
    kill -KILL "$(cat "$AZIDT_TEST_DIR/run/webhook.pid")"
    rm -f "$AZIDT_TEST_DIR/run/webhook.pid"
    wait "$pid"
    last_rc=$?
    last_cmd="kubectl apply -f $file (webhook killed meanwhile)"
    last_out=$(cat "$output")
    start_webhook && register_webhook ||
        fail "the webhook did not start again" || return 1
    expect_failure "the webhook died during the create" &&
        expect_output "failed calling webhook" || return 1
    expect_not_stored "$name" || return 1

    grace_s=${AZIDT_E2E_ORPHAN_GRACE%s}
    wait_s=$((grace_s + ${AZIDT_E2E_SWEEP_INTERVAL%s} + 15))
    SEEN_PRINCIPALS=$seen wait_azure "$wait_s" "$name" \
        "apps=0 sps=0 assignments=0 deleted=0"
}

# A podSelector change reaches the binding; a deleted Secret comes back
# with a new client secret and the object is Ready again.
case_selector_update_and_secret_repair() {
    local name=e2e-drift file old_value new_value client_id
    file=$(terminator "$name" </dev/null)
    run kubectl apply -f "$file"
    expect_success || return 1
    wait_ready "$name" || return 1

    run kubectl patch azidt "$name" -n "$ns" --type merge \
        -p '{"spec":{"podSelector":"e2e-drift-new-pods"}}'
    expect_success || return 1
    binding_selector_is() {
        [[ "$(get azureidentitybinding "$1" '{.spec.selector}')" == "$2" ]]
    }
    wait_until 30 "the binding's selector" \
        binding_selector_is "$name" e2e-drift-new-pods || {
        run get azureidentitybinding "$name" '{.spec.selector}'
        fail "the binding's selector did not follow podSelector"
        return 1
    }
    generation_observed() {
        [[ "$(get azidt "$1" '{.status.observedGeneration}')" == \
            "$(get azidt "$1" '{.metadata.generation}')" ]]
    }
    wait_until 30 "observedGeneration to follow" generation_observed \
        "$name" || {
        run kubectl get azidt "$name" -n "$ns" -o yaml
        fail "status.observedGeneration did not follow the update"
        return 1
    }

    old_value=$(stored_secret "$name")
    client_id=$(get azidt "$name" '{.status.appRegistration.clientID}')
    run kubectl delete secret "$name" -n "$ns"
    expect_success || return 1
    secret_back() {
        kubectl get secret "$1" -n "$ns" >/dev/null 2>&1
    }
    wait_until 60 "the Secret to come back" secret_back "$name" || {
        run kubectl get secret "$name" -n "$ns"
        fail "the controller did not recreate the deleted Secret"
        return 1
    }
    expect_owned secret "$name" "$name" || return 1
    wait_ready "$name" || return 1
    new_value=$(stored_secret "$name")
    [[ -n "$new_value" && "$new_value" != "$old_value" ]] ||
        fail "the recreated Secret should hold a new client secret" ||
        return 1
    run token_for "$client_id" "$new_value"
    expect_output '"access_token"' || return 1
    delete_terminator "$name"
}

# A reconcile that keeps failing (Graph rejects the application update
# with 403) is retried after the retry delay, not at once. The status it
# writes carries a new request id each time, so that update must not start
# the next attempt.
case_persistent_failure_backs_off() {
    local name=e2e-backoff file mark count
    file=$(terminator "$name" </dev/null)
    run kubectl apply -f "$file"
    expect_success || return 1
    wait_ready "$name" || return 1

    run emu PUT /faults '{"rules":[{"service":"graph","route":"PATCH /v1.0/applications*","kind":"status","status":403}]}'
    expect_success || return 1
    mark=$(call_mark)
    run kubectl patch azidt "$name" -n "$ns" --type merge \
        -p '{"spec":{"podSelector":"e2e-backoff-new-pods"}}'
    expect_success || return 1
    provisioning_failed() {
        [[ "$(get azidt "$1" '{.status.conditions[?(@.type=="Ready")].reason}')" == AzureProvisioningFailed ]]
    }
    if ! wait_until 30 "reason AzureProvisioningFailed" provisioning_failed "$name"; then
        emu PUT /faults '{"rules":[]}' >/dev/null
        run kubectl get azidt "$name" -n "$ns" -o yaml
        fail "the failure was not reported in status"
        return 1
    fi
    sleep 10
    run calls_since "$mark"
    emu PUT /faults '{"rules":[]}' >/dev/null
    count=$(grep -c "^graph PATCH /v1.0/applications" <<<"$last_out")
    echo "    application updates in 10 s of a persistent failure: $count"
    ((count <= 3)) ||
        fail "$count attempts in 10 s: the retry delay was not kept" ||
        return 1

    # With the fault gone, the next attempt succeeds.
    wait_ready "$name" || return 1
    delete_terminator "$name"
}

# An existing Secret of the same name that this product does not own is
# left alone and reported.
case_foreign_secret_not_overwritten() {
    local name=e2e-conflict file
    run kubectl create secret generic "$name" -n "$ns" \
        --from-literal=clientSecret=not-ours
    expect_success || return 1
    file=$(terminator "$name" </dev/null)
    run kubectl apply -f "$file"
    expect_success || return 1
    conflict_reported() {
        [[ "$(get azidt "$1" '{.status.conditions[?(@.type=="Ready")].reason}')" == SecretConflict ]]
    }
    wait_until 60 "reason SecretConflict" conflict_reported "$name" || {
        run kubectl get azidt "$name" -n "$ns" -o yaml
        fail "expected Ready=False with reason SecretConflict"
        return 1
    }
    run get azidt "$name" '{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}'
    expect_output "False" && expect_output "Secret" &&
        expect_output "$ns/$name" || return 1
    run stored_secret "$name"
    [[ "$last_out" == not-ours ]] ||
        fail "the foreign Secret was overwritten" || return 1
    run get secret "$name" '{.metadata.ownerReferences}'
    [[ -z "$last_out" ]] || fail "the foreign Secret gained an owner" ||
        return 1
    run kubectl get events -n "$ns" \
        --field-selector "involvedObject.name=$name" \
        -o 'jsonpath={range .items[*]}{.type} {.reason}{"\n"}{end}'
    expect_output "Warning SecretConflict" || return 1

    delete_terminator "$name" || return 1
    run stored_secret "$name"
    [[ "$last_out" == not-ours ]] ||
        fail "deleting the AzureIdentityTerminator removed a foreign Secret" ||
        return 1
    kubectl delete secret "$name" -n "$ns" >/dev/null
    wait_azure 30 "$name" "apps=0 sps=0 assignments=0 deleted=0"
}

# With the emulator stopped, a create is denied with a clear message.
# Stops the emulator, so it comes last.
case_azure_down_denied() {
    local name=e2e-azure-down
    stop_emulator "$work/azure"
    run kubectl apply -f "$(terminator "$name" </dev/null)"
    expect_failure "Azure is down" &&
        expect_output 'admission webhook "azureidentityterminators.validate.azidterminator.io" denied the request' &&
        expect_output "$name was not created" &&
        expect_output "retrying" || return 1
    expect_not_stored "$name"
}

# The default role policy denies Owner, and scopes outside the resource
# groups of the subscription, at admission: nothing is written to Azure.
case_forbidden_roles_denied() {
    local name=e2e-owner sub mark
    sub=$(azure AZURE_SUBSCRIPTION_ID)
    mark=$(call_mark)
    run kubectl apply -f "$(terminator "$name" <<EOF
  appRegistration:
    displayName: $name
  azureIdentityName: $name
  nodeResourceGroup: $node_group
  podSelector: $name-pods
  roleAssignments:
  - role: Owner
    scope: /subscriptions/$sub/resourceGroups/$node_group
  - role: Reader
    scope: /subscriptions/$sub
  servicePrincipal:
    clientSecretDuration: 720h
EOF
)"
    expect_failure "Owner and a subscription scope are forbidden" &&
        expect_output 'admission webhook "azureidentityterminators.validate.azidterminator.io" denied the request' &&
        expect_output 'spec.roleAssignments[0].role: role "Owner" is denied by the role policy (--denied-roles)' &&
        expect_output "spec.roleAssignments[1].scope: scope \"/subscriptions/$sub\" is outside" &&
        expect_not_stored "$name" || return 1
    run writes_since "$mark"
    [[ -z "$last_out" ]] || fail "the denied create wrote to Azure"
}

# A CREATE of a name that exists reaches validating admission before the
# apiserver returns AlreadyExists: it is denied without any Azure call,
# and the live application keeps its uid tag.
case_create_of_live_name_denied() {
    local name=e2e-live uid live_uid review mark
    run kubectl apply -f "$(terminator "$name" </dev/null)"
    expect_success || return 1
    wait_ready "$name" || return 1
    live_uid=$(get azidt "$name" '{.metadata.uid}')
    uid=$(cat /proc/sys/kernel/random/uuid)
    review=$manifests/$name-review.json
    review_for "$name" "$uid" >"$review"
    mark=$(call_mark)
    run post_review "$review"
    expect_output "allowed=false" &&
        expect_output "AzureIdentityTerminator $ns/$name already exists" ||
        return 1
    run writes_since "$mark"
    [[ -z "$last_out" ]] || fail "the denied create wrote to Azure" ||
        return 1
    run emu GET /state
    jq -e --arg tag "azidterminator.io:object=$ns/$name" \
        --arg uid "azidterminator.io:uid=$live_uid" '
        [.applications[] | select(.tags | index($tag))]
        | length == 1 and (.[0].tags | index($uid) != null)' \
        <<<"$last_out" >/dev/null ||
        fail "the live application lost its uid tag $live_uid" || return 1
    delete_terminator "$name"
}

cleanup_failed() {
    [[ "$(get azidt "$1" '{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}')" == False/CleanupFailed ]]
}

# While Azure refuses the deletion, the object being deleted shows
# Ready=False with reason CleanupFailed; once Azure recovers it goes.
case_failed_cleanup_not_ready() {
    local name=e2e-cleanup-fails
    run kubectl apply -f "$(terminator "$name" </dev/null)"
    expect_success || return 1
    wait_ready "$name" || return 1
    run emu PUT /faults '{"rules":[{"service":"graph","route":"DELETE *","kind":"status","status":500}]}'
    expect_success || return 1
    run kubectl delete azidt "$name" -n "$ns" --wait=false
    expect_success || return 1
    if ! wait_until 60 "$name to show Ready=False CleanupFailed" \
        cleanup_failed "$name"; then
        emu PUT /faults '{"rules":[]}' >/dev/null
        run kubectl get azidt "$name" -n "$ns" -o yaml
        fail "$name does not show the failed cleanup"
        return 1
    fi
    run emu PUT /faults '{"rules":[]}'
    expect_success || return 1
    wait_gone azidt "$name"
}

# app_tags NAME: the tags of NAME's application in the emulator, one line.
app_tags() {
    emu GET /state | jq -r --arg tag "azidterminator.io:object=$ns/$1" '
        [.applications[] | select(.tags | index($tag)) | .tags][0] | join(" ")'
}

uid_tag_is() {
    [[ " $(app_tags "$1") " == *" azidterminator.io:uid=$2 "* ]]
}

# A second CREATE of a name with another uid, before any object is
# stored, adopts the application without rewriting its uid tag: the
# apiserver may still reject that CREATE. The controller then writes the
# uid of the object actually stored.
case_admission_keeps_other_uid_tag() {
    local name=e2e-other-uid uid1 uid2 stored_uid
    uid1=$(cat /proc/sys/kernel/random/uuid)
    uid2=$(cat /proc/sys/kernel/random/uuid)
    review_for "$name" "$uid1" >"$manifests/$name-1.json"
    review_for "$name" "$uid2" >"$manifests/$name-2.json"
    run post_review "$manifests/$name-1.json"
    expect_output "allowed=true" || return 1
    run post_review "$manifests/$name-2.json"
    expect_output "allowed=true" || return 1
    run app_tags "$name"
    uid_tag_is "$name" "$uid1" ||
        fail "the second CREATE rewrote the uid tag $uid1" || return 1

    run kubectl apply -f "$(terminator "$name" </dev/null)"
    expect_success || return 1
    wait_ready "$name" || return 1
    stored_uid=$(get azidt "$name" '{.metadata.uid}')
    wait_until 30 "the uid tag $stored_uid" uid_tag_is "$name" "$stored_uid" ||
        fail "the controller did not tag the stored uid" || return 1
    delete_terminator "$name"
}

ready_reason_is() {
    [[ "$(get azidt "$1" '{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}')" == "$2" ]]
}

# An object admitted under an older policy: after the webhook restarts
# with Contributor denied, the controller removes that assignment and
# shows Ready=False with reason RoleNotAllowed.
case_stored_object_checked_against_policy() {
    local name=e2e-old-policy sub rc=0
    sub=$(azure AZURE_SUBSCRIPTION_ID)
    run kubectl apply -f "$(terminator "$name" <<EOF
  appRegistration:
    displayName: $name
  azureIdentityName: $name
  nodeResourceGroup: $node_group
  podSelector: $name-pods
  roleAssignments:
  - role: Contributor
    scope: /subscriptions/$sub/resourceGroups/$node_group
  servicePrincipal:
    clientSecretDuration: 720h
EOF
)"
    expect_success || return 1
    wait_ready "$name" || return 1
    expect_azure "$name" "apps=1 sps=1 assignments=2 deleted=0" || return 1

    stop_webhook
    AZIDT_DENIED_ROLES="Owner,b24988ac-6180-42a0-ab88-20f7382dd24c" \
        start_webhook && register_webhook ||
        fail "the webhook did not start with the new policy" || return 1
    wait_until 60 "$name to show Ready=False RoleNotAllowed" \
        ready_reason_is "$name" False/RoleNotAllowed || rc=1
    run get azidt "$name" '{.status.conditions[?(@.type=="Ready")].message}'
    [[ $rc == 0 ]] && expect_output 'spec.roleAssignments[0].role: role "Contributor" is denied by the role policy (--denied-roles)' ||
        rc=1
    # The Contributor assignment made under the old policy is removed.
    [[ $rc == 0 ]] && wait_azure 30 "$name" \
        "apps=1 sps=1 assignments=1 deleted=0" || rc=1

    stop_webhook
    start_webhook && register_webhook ||
        fail "the webhook did not start again" || return 1
    [[ $rc == 0 ]] || fail "$name was not stopped by the new policy" ||
        return 1
    delete_terminator "$name"
}

all_cases=(
    example_becomes_ready
    secret_value_never_leaks
    secret_gets_token_until_deleted
    server_dry_run_creates_nothing
    create_delivered_twice_leaves_one_set
    client_retry_after_timeout_leaves_one_set
    recreated_after_forced_delete_leaves_one_set
    replication_delay_and_throttling_tolerated
    azure_failure_denied_and_undone
    never_stored_object_is_swept
    killed_webhook_leaves_no_orphan
    selector_update_and_secret_repair
    foreign_secret_not_overwritten
    persistent_failure_backs_off
    forbidden_roles_denied
    create_of_live_name_denied
    failed_cleanup_not_ready
    admission_keeps_other_uid_tag
    stored_object_checked_against_policy
    azure_down_denied
)

e2e_main "$@"
