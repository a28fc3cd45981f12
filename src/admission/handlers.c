#include "azidt/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/clock.h"
#include "azidt/constants.h"
#include "azidt/identity_cache.h"
#include "azidt/identity_spec.h"
#include "azidt/jsonpatch.h"
#include "azidt/log.h"
#include "azidt/provisioner.h"
#include "azidt/role_policy.h"

void azidt_handler_ctx_init(struct azidt_handler_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    azidt_validate_limits_init(&ctx->limits);
}

static bool is_azidt(const struct azidt_admission_request *req)
{
    return strcmp(req->group, AZIDT_GROUP) == 0 &&
           strcmp(req->kind, AZIDT_KIND) == 0;
}

/* Deny with 500 after an allocation failure, so the apiserver applies the
 * webhook's failure policy instead of admitting an unchecked object. */
static void deny_nomem(const struct azidt_admission_request *req,
                       struct azidt_admission_response *resp)
{
    AZIDT_LOG_ERROR("admission handler ran out of memory", "uid", req->uid,
                    "namespace", req->namespace_, "name", req->name);
    azidt_admission_deny(resp, 500, "internal error: out of memory");
}

/* Return the JSONPatch value that adds AZIDT_FINALIZER and set *path to
 * where it goes: appended to metadata.finalizers when that list exists,
 * else a new list, else a new metadata object. */
static cJSON *finalizer_value(const cJSON *metadata, const cJSON *finalizers,
                              const char **path)
{
    cJSON *list = NULL, *name = NULL, *wrapper = NULL;

    if (cJSON_IsArray(finalizers)) {
        *path = "/metadata/finalizers/-";
        return cJSON_CreateString(AZIDT_FINALIZER);
    }
    list = cJSON_CreateArray();
    name = cJSON_CreateString(AZIDT_FINALIZER);
    if (!list || !name || !cJSON_AddItemToArray(list, name)) {
        cJSON_Delete(list);
        cJSON_Delete(name);
        return NULL;
    }
    if (cJSON_IsObject(metadata)) {
        *path = "/metadata/finalizers";
        return list;
    }
    wrapper = cJSON_CreateObject();
    if (!wrapper || !cJSON_AddItemToObject(wrapper, "finalizers", list)) {
        cJSON_Delete(wrapper);
        cJSON_Delete(list);
        return NULL;
    }
    *path = "/metadata";
    return wrapper;
}

/* Return the patch that adds AZIDT_FINALIZER, or NULL with *rc = AZIDT_OK
 * when the object has it already or is being deleted. */
static cJSON *finalizer_patch(const cJSON *object, azidt_err *rc)
{
    const cJSON *metadata =
        cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *finalizers =
        cJSON_GetObjectItemCaseSensitive(metadata, "finalizers");
    const cJSON *deleting =
        cJSON_GetObjectItemCaseSensitive(metadata, "deletionTimestamp");
    const cJSON *entry;
    const char *path = NULL;
    cJSON *patch = NULL, *value = NULL;

    *rc = AZIDT_OK;
    /* The apiserver rejects new finalizers on an object being deleted. */
    if (deleting && !cJSON_IsNull(deleting))
        return NULL;
    if (cJSON_IsArray(finalizers)) {
        cJSON_ArrayForEach(entry, finalizers)
        {
            if (cJSON_IsString(entry) &&
                strcmp(entry->valuestring, AZIDT_FINALIZER) == 0)
                return NULL;
        }
    }

    value = finalizer_value(metadata, finalizers, &path);
    patch = value ? azidt_jsonpatch_new() : NULL;
    if (!patch) {
        cJSON_Delete(value);
        *rc = AZIDT_ERR_NOMEM;
        return NULL;
    }
    *rc = azidt_jsonpatch_add(patch, path, value);
    if (*rc) {
        cJSON_Delete(patch);
        return NULL;
    }
    return patch;
}

void azidt_handle_azidt_mutate(void *ctx,
                               const struct azidt_admission_request *req,
                               struct azidt_admission_response *resp)
{
    azidt_err rc;

    azidt_admission_allow(resp);
    if (!is_azidt(req) || req->subresource ||
        (req->operation != AZIDT_OP_CREATE &&
         req->operation != AZIDT_OP_UPDATE))
        return;
    resp->patch = finalizer_patch(req->object, &rc);
    if (rc)
        deny_nomem(req, resp);
}

/* True when an UPDATE leaves spec as it was: status writes, finalizer
 * removal and label changes. These pass even when the stored spec breaks
 * a rule added later, so an old object can always be deleted. */
static bool spec_unchanged(const struct azidt_admission_request *req)
{
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(req->object, "spec");
    const cJSON *before =
        cJSON_GetObjectItemCaseSensitive(req->old_object, "spec");

    if (!now || !before)
        return now == before;
    return cJSON_Compare(now, before, true);
}

/* Deny a CREATE whose spec.azureIdentityName another AzureIdentityTerminator
 * in the namespace already uses: both would claim the same Secret,
 * AzureIdentity and binding. Returns true when it denied. */
static bool identity_name_taken(const struct azidt_handler_ctx *hctx,
                                const struct azidt_admission_request *req,
                                struct azidt_admission_response *resp)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(req->object, "spec");
    const char *identity_name = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(spec, "azureIdentityName"));
    char owner[256];

    if (!hctx->identities || !identity_name ||
        azidt_identity_cache_find_identity_name(
            hctx->identities, req->namespace_, identity_name, req->name, owner,
            sizeof(owner)) != AZIDT_OK)
        return false;
    azidt_admission_deny(resp, 409,
                         "AzureIdentityTerminator %s/%s: "
                         "spec.azureIdentityName \"%s\" is already used by "
                         "AzureIdentityTerminator %s/%s, which owns the "
                         "Secret, AzureIdentity and AzureIdentityBinding of "
                         "that name; choose another name",
                         req->namespace_, req->name, identity_name,
                         req->namespace_, owner);
    return true;
}

/* Deny while the identity cache has not synced: the checks below would
 * otherwise miss objects it has not seen yet. Returns true when it
 * denied. */
static bool cache_not_synced(const struct azidt_handler_ctx *hctx,
                             const struct azidt_admission_request *req,
                             struct azidt_admission_response *resp)
{
    if (!hctx->identities || azidt_identity_cache_synced(hctx->identities))
        return false;
    AZIDT_LOG_WARN("denied: identity cache not synced yet", "uid", req->uid,
                   "namespace", req->namespace_, "name", req->name);
    azidt_admission_deny(resp, 503,
                         "AzureIdentityTerminator %s/%s: the webhook has "
                         "not finished reading the cluster's identities; "
                         "retrying the request in a few seconds may succeed",
                         req->namespace_, req->name);
    return true;
}

/* Deny a CREATE of an object that exists already. The apiserver returns
 * AlreadyExists only after validating admission, so without this check a
 * CREATE of a live name would reach Azure and change the live object's
 * application. Returns true when it denied. */
static bool object_exists(const struct azidt_handler_ctx *hctx,
                          const struct azidt_admission_request *req,
                          struct azidt_admission_response *resp)
{
    struct azidt_identity_view view;

    if (!hctx->identities ||
        azidt_identity_cache_find(hctx->identities, req->namespace_, req->name,
                                  &view) != AZIDT_OK)
        return false;
    AZIDT_LOG_INFO("denied: CREATE of an existing object", "uid", req->uid,
                   "namespace", req->namespace_, "name", req->name);
    azidt_admission_deny(resp, 409,
                         "AzureIdentityTerminator %s/%s already exists; "
                         "delete it first or choose another name",
                         req->namespace_, req->name);
    free(resp->reason);
    resp->reason = strdup("AlreadyExists");
    return true;
}

/* Deny when spec.podSelector is selected by an AzureIdentityBinding of
 * another namespace, on CREATE and on an UPDATE that changes it: its pods
 * could then take this identity. The message does not name the other
 * namespace. Returns true when it denied. */
static bool selector_bound_elsewhere(const struct azidt_handler_ctx *hctx,
                                     const struct azidt_admission_request *req,
                                     struct azidt_admission_response *resp)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(req->object, "spec");
    const cJSON *old_spec =
        cJSON_GetObjectItemCaseSensitive(req->old_object, "spec");
    const char *selector = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(spec, "podSelector"));
    const char *old_selector = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(old_spec, "podSelector"));

    if (!hctx->identities || !selector)
        return false;
    if (req->operation == AZIDT_OP_UPDATE && old_selector &&
        strcmp(selector, old_selector) == 0)
        return false;
    if (!azidt_identity_cache_bound_elsewhere(hctx->identities, selector,
                                              req->namespace_))
        return false;
    AZIDT_LOG_INFO("denied: podSelector bound in another namespace", "uid",
                   req->uid, "namespace", req->namespace_, "name", req->name,
                   "pod_selector", selector);
    azidt_admission_deny(resp, 409,
                         "AzureIdentityTerminator %s/%s: spec.podSelector "
                         "\"%s\" is already selected by an "
                         "AzureIdentityBinding in another namespace, whose "
                         "pods could then use this identity; choose another "
                         "podSelector",
                         req->namespace_, req->name, selector);
    return true;
}

/* Deny when spec.roleAssignments requests a role or scope the role policy
 * forbids, naming every offending field. Only built-in role names and
 * GUIDs can be judged here: a custom role name is compared after the
 * provisioner resolves it. Returns true when it denied. */
static bool roles_forbidden(const struct azidt_handler_ctx *hctx,
                            const struct azidt_admission_request *req,
                            struct azidt_admission_response *resp)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(req->object, "spec");
    const cJSON *list =
        cJSON_GetObjectItemCaseSensitive(spec, "roleAssignments");
    const cJSON *entry;
    char message[2048] = "";
    size_t used = 0;
    int index = 0;

    if (!hctx->role_policy)
        return false;
    cJSON_ArrayForEach(entry, list)
    {
        const char *role = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(entry, "role"));
        const char *scope = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(entry, "scope"));
        char why[768];

        if (role &&
            azidt_role_policy_check_role(hctx->role_policy, role, NULL, why,
                                         sizeof(why)) == AZIDT_ROLE_DENIED &&
            used < sizeof(message))
            used += (size_t)snprintf(message + used, sizeof(message) - used,
                                     "%sspec.roleAssignments[%d].role: %s",
                                     used ? "; " : "", index, why);
        if (scope &&
            !azidt_role_policy_check_scope(hctx->role_policy, scope, why,
                                           sizeof(why)) &&
            used < sizeof(message))
            used += (size_t)snprintf(message + used, sizeof(message) - used,
                                     "%sspec.roleAssignments[%d].scope: %s",
                                     used ? "; " : "", index, why);
        index++;
    }
    if (!used)
        return false;
    AZIDT_LOG_INFO("denied: role policy", "uid", req->uid, "namespace",
                   req->namespace_, "name", req->name, "error", message);
    azidt_admission_deny(resp, 403,
                         "AzureIdentityTerminator %s/%s is forbidden: %s",
                         req->namespace_, req->name, message);
    free(resp->reason);
    resp->reason = strdup("Forbidden");
    return true;
}

/* HTTP-style code for a failed create: 422 when the spec names something
 * that does not exist in Azure, 403 when the role policy forbids a
 * resolved role, 503 when retrying may help, else 500. */
static int provision_failure_code(azidt_err rc)
{
    switch (rc) {
    case AZIDT_ERR_NOT_FOUND:
    case AZIDT_ERR_INVALID:
        return 422;
    case AZIDT_ERR_FORBIDDEN:
        return 403;
    case AZIDT_ERR_TIMEOUT:
    case AZIDT_ERR_THROTTLED:
    case AZIDT_ERR_UNAVAILABLE:
    case AZIDT_ERR_HTTP:
    case AZIDT_ERR_TLS:
        return 503;
    default:
        return 500;
    }
}

/* Create the Azure objects of a validated CREATE before it is admitted.
 * The Kubernetes objects follow from the controller once the object is
 * stored, because their owner references need it to exist. */
static void provision_identity(const struct azidt_handler_ctx *hctx,
                               const struct azidt_admission_request *req,
                               struct azidt_admission_response *resp)
{
    struct azidt_identity_spec spec;
    struct azidt_azure_identity azure;
    int64_t started = azidt_clock_now_ms();
    char err[1024];
    char elapsed[32];
    azidt_err rc;
    int code;

    rc = azidt_identity_spec_parse(req->object, &spec, err, sizeof(err));
    if (rc) {
        azidt_admission_deny(resp, 422, "AzureIdentityTerminator %s/%s: %s",
                             req->namespace_, req->name, err);
        return;
    }
    /* A job that waited on the worker queue until less than the undo
     * reserve remained has no time left to create anything: the same
     * 504 as a job that waited past the deadline, without calling
     * Azure. */
    if (azidt_deadline_passed(req->deadline_ms - hctx->undo_reserve_ms)) {
        AZIDT_LOG_WARN("denied: deadline passed while waiting for a worker",
                       "uid", req->uid, "namespace", req->namespace_, "name",
                       req->name);
        azidt_admission_deny(resp, 504,
                             "AzureIdentityTerminator %s/%s was not created: "
                             "the request waited for a free worker until "
                             "its deadline passed; retry the request",
                             req->namespace_, req->name);
        azidt_identity_spec_clear(&spec);
        return;
    }
    rc = azidt_provision_ensure(hctx->provisioner, &spec, false,
                                req->deadline_ms - hctx->undo_reserve_ms,
                                req->deadline_ms, &azure, err, sizeof(err));
    snprintf(elapsed, sizeof(elapsed), "%lld",
             (long long)(azidt_clock_now_ms() - started));
    if (rc) {
        code = provision_failure_code(rc);
        AZIDT_LOG_WARN("denied: Azure provisioning failed", "uid", req->uid,
                       "namespace", req->namespace_, "name", req->name,
                       "elapsed_ms", elapsed, "error", err);
        /* The Azure client's message already states whether retrying
         * may help, so it is not repeated. */
        azidt_admission_deny(
            resp, code, "AzureIdentityTerminator %s/%s was not created: %s%s",
            req->namespace_, req->name, err,
            code == 503 && !strstr(err, "retrying")
                ? " (Azure was slow or unavailable: retrying the request may "
                  "succeed)"
                : "");
    } else {
        AZIDT_LOG_INFO("provisioned Azure identity", "uid", req->uid,
                       "namespace", req->namespace_, "name", req->name,
                       "client_id", azure.client_id, "application",
                       azure.app_object_id, "elapsed_ms", elapsed);
        azidt_azure_identity_clear(&azure);
    }
    azidt_identity_spec_clear(&spec);
}

void azidt_handle_azidt_validate(void *ctx,
                                 const struct azidt_admission_request *req,
                                 struct azidt_admission_response *resp)
{
    struct azidt_handler_ctx defaults;
    const struct azidt_handler_ctx *hctx = ctx;
    struct azidt_validate_result result = {0};
    char *message = NULL;

    if (!hctx) {
        azidt_handler_ctx_init(&defaults);
        hctx = &defaults;
    }
    azidt_admission_allow(resp);
    if (!is_azidt(req) || req->subresource ||
        (req->operation != AZIDT_OP_CREATE &&
         req->operation != AZIDT_OP_UPDATE))
        return;
    if (req->operation == AZIDT_OP_UPDATE && spec_unchanged(req))
        return;

    azidt_validate_spec(req->object, &hctx->limits, &result);
    if (req->operation == AZIDT_OP_UPDATE)
        azidt_validate_update(req->object, req->old_object, &result);
    if (result.nomem) {
        deny_nomem(req, resp);
        goto out;
    }
    if (result.count == 0) {
        bool create = req->operation == AZIDT_OP_CREATE;

        /* All of these read memory only, before any Azure call. */
        if (cache_not_synced(hctx, req, resp) ||
            (create && object_exists(hctx, req, resp)) ||
            roles_forbidden(hctx, req, resp) ||
            selector_bound_elsewhere(hctx, req, resp) ||
            (create && identity_name_taken(hctx, req, resp)))
            goto out;
        if (req->operation == AZIDT_OP_CREATE && !req->dry_run &&
            hctx->provisioner)
            provision_identity(hctx, req, resp);
        goto out;
    }

    message = azidt_validate_result_join(&result);
    if (!message) {
        deny_nomem(req, resp);
        goto out;
    }
    azidt_admission_deny(
        resp, 422, "AzureIdentityTerminator %s%s%s is invalid: %s",
        req->namespace_, req->namespace_[0] ? "/" : "", req->name, message);
    free(resp->reason);
    resp->reason = strdup("Invalid");

out:
    free(message);
    azidt_validate_result_free(&result);
}

bool azidt_azidt_validate_needs_worker(
    const struct azidt_admission_request *req)
{
    return req && req->operation == AZIDT_OP_CREATE && !req->dry_run;
}
