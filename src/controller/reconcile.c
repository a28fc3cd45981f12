/*
 * One reconcile of one AzureIdentityTerminator. A live object gets its
 * Azure objects, Secret, AzureIdentity and AzureIdentityBinding made to
 * match the spec, and the outcome goes into status. An object being
 * deleted loses all of them, and then its finalizer.
 */
#include "controller_internal.h"
#include "secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/clock.h"
#include "azidt/constants.h"
#include "azidt/log.h"
#include "azidt/owned_objects.h"

/* Retry delays after a failure, and while Azure still refuses a new
 * secret (it can take several seconds to replicate). */
#define RETRY_AFTER_FAILURE_MS 15000
#define RETRY_SECRET_PENDING_MS 2000
/* Time kept back from the reconcile budget to undo a failed create. */
#define UNDO_RESERVE_MS 10000

struct ready {
    const char *status; /* "True" or "False" */
    const char *reason;
    char message[1400];
};

static const char *meta_string(const cJSON *object, const char *key)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");

    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, key));
}

static bool has_finalizer(const cJSON *object)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *item;

    cJSON_ArrayForEach(item,
                       cJSON_GetObjectItemCaseSensitive(meta, "finalizers"))
    {
        if (cJSON_IsString(item) &&
            strcmp(item->valuestring, AZIDT_FINALIZER) == 0)
            return true;
    }
    return false;
}

/* --- Status ------------------------------------------------------------- */

/* Keep the condition's lastTransitionTime unless its status changes. */
static void transition_time(const cJSON *object, const char *status, char *out,
                            size_t size)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(object, "status");
    const cJSON *cond;

    cJSON_ArrayForEach(cond, cJSON_GetObjectItemCaseSensitive(st, "conditions"))
    {
        const char *type = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cond, "type"));
        const char *old = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cond, "status"));
        const char *when = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cond, "lastTransitionTime"));

        if (type && strcmp(type, "Ready") == 0 && old && when &&
            strcmp(old, status) == 0) {
            snprintf(out, size, "%s", when);
            return;
        }
    }
    controller_format_time(azidt_clock_wall_ms(), out, size);
}

static bool was_ready(const cJSON *object)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(object, "status");
    const cJSON *cond;

    cJSON_ArrayForEach(cond, cJSON_GetObjectItemCaseSensitive(st, "conditions"))
    {
        const char *type = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cond, "type"));
        const char *value = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cond, "status"));

        if (type && value && strcmp(type, "Ready") == 0)
            return strcmp(value, "True") == 0;
    }
    return false;
}

static void add_azure_status(cJSON *status,
                             const struct azidt_identity_spec *spec,
                             const struct azidt_azure_identity *azure,
                             const struct secret_state *secret)
{
    cJSON *app = cJSON_AddObjectToObject(status, "appRegistration");
    cJSON *sp = cJSON_AddObjectToObject(status, "servicePrincipal");
    cJSON *roles = cJSON_AddArrayToObject(status, "roleAssignments");
    char when[40];

    cJSON_AddStringToObject(app, "objectID", azure->app_object_id);
    cJSON_AddStringToObject(app, "clientID", azure->client_id);
    cJSON_AddStringToObject(sp, "objectID", azure->sp_object_id);
    if (secret && secret->expiry_wall_ms) {
        controller_format_time(secret->expiry_wall_ms, when, sizeof(when));
        cJSON_AddStringToObject(sp, "clientSecretExpiration", when);
    }
    if (secret && secret->rotated_wall_ms) {
        controller_format_time(secret->rotated_wall_ms, when, sizeof(when));
        cJSON_AddStringToObject(sp, "lastRotationTime", when);
    }
    for (size_t i = 0; i < azure->assignment_count; i++) {
        const struct azidt_arm_role_assignment *a = &azure->assignments[i];
        cJSON *entry = cJSON_CreateObject();

        cJSON_AddStringToObject(entry, "id", a->id);
        cJSON_AddStringToObject(entry, "role", a->role_definition_id);
        cJSON_AddStringToObject(entry, "scope", a->scope);
        cJSON_AddItemToArray(roles, entry);
    }
    /* The first assignment is always Reader on the node resource group. */
    if (azure->assignment_count > 0)
        cJSON_AddStringToObject(status, "roleAssignment",
                                azure->assignments[0].id);
    cJSON_AddStringToObject(status, "azureIdentityBinding",
                            spec->identity_name);
}

/* Write status with a merge patch on the status subresource. azure and
 * secret may be NULL when the reconcile stopped before them. */
static void write_status(struct azidt_controller *ctrl, const cJSON *object,
                         const struct azidt_identity_spec *spec,
                         const struct azidt_azure_identity *azure,
                         const struct secret_state *secret,
                         const struct ready *ready)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *generation =
        cJSON_GetObjectItemCaseSensitive(meta, "generation");
    cJSON *patch = cJSON_CreateObject();
    cJSON *status = cJSON_AddObjectToObject(patch, "status");
    cJSON *conditions = cJSON_AddArrayToObject(status, "conditions");
    cJSON *cond = cJSON_CreateObject();
    struct azidt_kube_response resp = {0};
    char when[40];
    char *text;
    double gen = cJSON_IsNumber(generation) ? generation->valuedouble : 0;

    if (controller_stopping(ctrl)) {
        cJSON_Delete(patch);
        return;
    }

    if (azure && azure->app_object_id[0])
        add_azure_status(status, spec, azure, secret);
    cJSON_AddNumberToObject(status, "observedGeneration", gen);
    transition_time(object, ready->status, when, sizeof(when));
    cJSON_AddStringToObject(cond, "type", "Ready");
    cJSON_AddStringToObject(cond, "status", ready->status);
    cJSON_AddStringToObject(cond, "reason", ready->reason);
    cJSON_AddStringToObject(cond, "message", ready->message);
    cJSON_AddStringToObject(cond, "lastTransitionTime", when);
    cJSON_AddNumberToObject(cond, "observedGeneration", gen);
    cJSON_AddItemToArray(conditions, cond);

    text = cJSON_PrintUnformatted(patch);
    if (!text ||
        azidt_kube_patch(
            ctrl->kube, &azidt_res_terminators,
            meta_string(object, "namespace"), meta_string(object, "name"),
            AZIDT_KUBE_PATCH_MERGE, text,
            &(struct azidt_kube_write_options){.subresource = "status"},
            azidt_deadline_in(10000), &resp))
        AZIDT_LOG_WARN("failed to write status", "namespace",
                       meta_string(object, "namespace"), "name",
                       meta_string(object, "name"), "error",
                       resp.message ? resp.message : "out of memory");
    free(text);
    cJSON_Delete(patch);
    azidt_kube_response_clear(&resp);
}

/* --- AzureIdentity and AzureIdentityBinding ----------------------------- */

azidt_err controller_delete_previous(struct azidt_controller *ctrl,
                                     const struct azidt_kube_resource *res,
                                     const char *kind,
                                     const struct azidt_identity_spec *spec,
                                     const cJSON *object, int64_t deadline_ms,
                                     char *err, size_t errlen)
{
    struct azidt_kube_response resp = {0};
    azidt_err rc;

    rc = azidt_kube_delete(ctrl->kube, res, spec->namespace_,
                           spec->identity_name,
                           &(struct azidt_kube_write_options){
                               .precondition_uid = meta_string(object, "uid")},
                           deadline_ms, &resp);
    if (rc == AZIDT_ERR_NOT_FOUND)
        rc = AZIDT_OK;
    if (rc)
        snprintf(err, errlen,
                 "failed to delete %s %s/%s left by an earlier "
                 "AzureIdentityTerminator of this name: %s",
                 kind, spec->namespace_, spec->identity_name,
                 resp.message ? resp.message : "unknown error");
    else
        AZIDT_LOG_INFO("deleted object left by an earlier "
                       "AzureIdentityTerminator of this name",
                       "kind", kind, "namespace", spec->namespace_, "name",
                       spec->identity_name);
    azidt_kube_response_clear(&resp);
    return rc;
}

/* Create want, or bring an existing object we own to want's spec. */
static azidt_err ensure_owned(struct azidt_controller *ctrl,
                              const struct azidt_kube_resource *res,
                              const char *kind,
                              const struct azidt_identity_spec *spec,
                              cJSON *want, int64_t deadline_ms, char *err,
                              size_t errlen)
{
    struct azidt_kube_response resp = {0};
    cJSON *want_spec = cJSON_GetObjectItemCaseSensitive(want, "spec");
    const cJSON *have_spec;
    azidt_err rc;

    rc = azidt_kube_get(ctrl->kube, res, spec->namespace_, spec->identity_name,
                        deadline_ms, &resp);
    if (rc == AZIDT_OK &&
        azidt_owned_is_left_by_previous(resp.body, spec->name, spec->uid)) {
        rc = controller_delete_previous(ctrl, res, kind, spec, resp.body,
                                        deadline_ms, err, errlen);
        if (rc)
            goto out;
        rc = AZIDT_ERR_NOT_FOUND;
    }
    if (rc == AZIDT_ERR_NOT_FOUND) {
        azidt_kube_response_clear(&resp);
        rc = azidt_kube_create(ctrl->kube, res, spec->namespace_, want, NULL,
                               deadline_ms, &resp);
        if (rc)
            snprintf(err, errlen, "failed to create %s %s/%s: %s", kind,
                     spec->namespace_, spec->identity_name, resp.message);
        else
            AZIDT_LOG_INFO("created owned object", "kind", kind, "namespace",
                           spec->namespace_, "name", spec->identity_name);
        goto out;
    }
    if (rc) {
        snprintf(err, errlen, "failed to read %s %s/%s: %s", kind,
                 spec->namespace_, spec->identity_name, resp.message);
        goto out;
    }
    if (!azidt_owned_is_owned_by(resp.body, spec->uid)) {
        snprintf(err, errlen,
                 "%s %s/%s exists and is not owned by this "
                 "AzureIdentityTerminator; delete it or choose another "
                 "spec.azureIdentityName",
                 kind, spec->namespace_, spec->identity_name);
        rc = AZIDT_ERR_CONFLICT;
        goto out;
    }
    have_spec = cJSON_GetObjectItemCaseSensitive(resp.body, "spec");
    if (!cJSON_Compare(have_spec, want_spec, true)) {
        cJSON *patch = cJSON_CreateObject();
        char *text;

        cJSON_AddItemReferenceToObject(patch, "spec", want_spec);
        text = cJSON_PrintUnformatted(patch);
        cJSON_Delete(patch);
        azidt_kube_response_clear(&resp);
        rc = text
                 ? azidt_kube_patch(ctrl->kube, res, spec->namespace_,
                                    spec->identity_name, AZIDT_KUBE_PATCH_MERGE,
                                    text, NULL, deadline_ms, &resp)
                 : AZIDT_ERR_NOMEM;
        free(text);
        if (rc)
            snprintf(err, errlen, "failed to update %s %s/%s: %s", kind,
                     spec->namespace_, spec->identity_name,
                     resp.message ? resp.message : "out of memory");
        else
            AZIDT_LOG_INFO("updated owned object", "kind", kind, "namespace",
                           spec->namespace_, "name", spec->identity_name);
    }
out:
    azidt_kube_response_clear(&resp);
    return rc;
}

static azidt_err ensure_pod_identity(struct azidt_controller *ctrl,
                                     const struct azidt_identity_spec *spec,
                                     const struct azidt_azure_identity *azure,
                                     int64_t deadline_ms, char *err,
                                     size_t errlen)
{
    struct azidt_owner owner = {spec->namespace_, spec->name, spec->uid};
    const struct azidt_azure_config *cfg =
        azidt_azure_client_config(azidt_provisioner_client(ctrl->prov));
    cJSON *identity = azidt_owned_azure_identity(
        &owner, spec->identity_name, cfg->tenant_id, azure->client_id);
    cJSON *binding =
        azidt_owned_binding(&owner, spec->identity_name, spec->pod_selector);
    azidt_err rc = AZIDT_ERR_NOMEM;

    if (identity && binding) {
        rc = ensure_owned(ctrl, &azidt_res_identities, "AzureIdentity", spec,
                          identity, deadline_ms, err, errlen);
        if (!rc)
            rc = ensure_owned(ctrl, &azidt_res_bindings, "AzureIdentityBinding",
                              spec, binding, deadline_ms, err, errlen);
    } else {
        snprintf(err, errlen, "out of memory");
    }
    cJSON_Delete(identity);
    cJSON_Delete(binding);
    return rc;
}

/* --- Finalizer ---------------------------------------------------------- */

/* Add or remove the finalizer with a JSON patch that first tests the
 * resourceVersion, so a concurrent change makes the patch fail instead of
 * losing another controller's finalizer. */
static azidt_err set_finalizer(struct azidt_controller *ctrl,
                               const cJSON *object, bool present)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
    cJSON *patch = cJSON_CreateArray();
    cJSON *test = cJSON_CreateObject();
    cJSON *replace = cJSON_CreateObject();
    cJSON *list = cJSON_CreateArray();
    struct azidt_kube_response resp = {0};
    const cJSON *item;
    char *text;
    azidt_err rc;

    cJSON_ArrayForEach(item, old)
    {
        if (cJSON_IsString(item) &&
            strcmp(item->valuestring, AZIDT_FINALIZER) != 0)
            cJSON_AddItemToArray(list, cJSON_CreateString(item->valuestring));
    }
    if (present)
        cJSON_AddItemToArray(list, cJSON_CreateString(AZIDT_FINALIZER));
    cJSON_AddStringToObject(test, "op", "test");
    cJSON_AddStringToObject(test, "path", "/metadata/resourceVersion");
    cJSON_AddStringToObject(test, "value",
                            meta_string(object, "resourceVersion"));
    cJSON_AddStringToObject(replace, "op", old ? "replace" : "add");
    cJSON_AddStringToObject(replace, "path", "/metadata/finalizers");
    cJSON_AddItemToObject(replace, "value", list);
    cJSON_AddItemToArray(patch, test);
    cJSON_AddItemToArray(patch, replace);
    text = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    rc = text ? azidt_kube_patch(ctrl->kube, &azidt_res_terminators,
                                 meta_string(object, "namespace"),
                                 meta_string(object, "name"),
                                 AZIDT_KUBE_PATCH_JSON, text, NULL,
                                 azidt_deadline_in(10000), &resp)
              : AZIDT_ERR_NOMEM;
    if (rc)
        AZIDT_LOG_WARN("failed to update the finalizer; retrying", "namespace",
                       meta_string(object, "namespace"), "name",
                       meta_string(object, "name"), "error", resp.message);
    free(text);
    azidt_kube_response_clear(&resp);
    return rc;
}

/* --- Deletion ----------------------------------------------------------- */

static void delete_owned(struct azidt_controller *ctrl,
                         const struct azidt_kube_resource *res, const char *ns,
                         const char *name, const char *uid, int64_t deadline_ms)
{
    struct azidt_kube_response resp = {0};

    if (azidt_kube_get(ctrl->kube, res, ns, name, deadline_ms, &resp) ==
            AZIDT_OK &&
        azidt_owned_is_owned_by(resp.body, uid)) {
        azidt_kube_response_clear(&resp);
        azidt_kube_delete(
            ctrl->kube, res, ns, name,
            &(struct azidt_kube_write_options){.precondition_uid = NULL},
            deadline_ms, &resp);
    }
    azidt_kube_response_clear(&resp);
}

static void cleanup(struct azidt_controller *ctrl, const cJSON *object,
                    struct reconcile_result *result)
{
    const char *ns = meta_string(object, "namespace");
    const char *name = meta_string(object, "name");
    const char *uid = meta_string(object, "uid");
    const cJSON *spec_node = cJSON_GetObjectItemCaseSensitive(object, "spec");
    const char *identity = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(spec_node, "azureIdentityName"));
    int64_t deadline = azidt_deadline_in(ctrl->cfg.step_timeout_ms);
    char err[1024];
    char message[1200];

    if (!has_finalizer(object))
        return;
    if (azidt_provision_teardown(ctrl->prov, ns, name, deadline, err,
                                 sizeof(err))) {
        struct azidt_identity_spec bare = {0};
        struct ready ready = {"False", "CleanupFailed", ""};

        result->requeue_after_ms = RETRY_AFTER_FAILURE_MS;
        result->failed = true;
        /* Stopping cancels Azure calls: not the object's fault. */
        if (controller_stopping(ctrl))
            return;
        snprintf(message, sizeof(message),
                 "failed to delete the Azure objects, retrying: %s", err);
        AZIDT_LOG_ERROR("cleanup failed", "namespace", ns, "name", name,
                        "error", err);
        controller_event(ctrl, object, "Warning", "CleanupFailed", message);
        /* Ready=False, so nothing keeps reporting a half-deleted identity
         * as usable. */
        bare.namespace_ = (char *)ns;
        bare.name = (char *)name;
        snprintf(ready.message, sizeof(ready.message), "%s", message);
        write_status(ctrl, object, &bare, NULL, NULL, &ready);
        return;
    }
    if (identity && uid) {
        delete_owned(ctrl, &azidt_res_bindings, ns, identity, uid, deadline);
        delete_owned(ctrl, &azidt_res_identities, ns, identity, uid, deadline);
        delete_owned(ctrl, &azidt_res_secrets, ns, identity, uid, deadline);
    }
    if (set_finalizer(ctrl, object, false)) {
        result->requeue_after_ms = 1000;
        result->failed = true;
        return;
    }
    AZIDT_LOG_INFO("deleted identity", "namespace", ns, "name", name);
}

/* --- Ensure ------------------------------------------------------------- */

static void fail(struct azidt_controller *ctrl, const cJSON *object,
                 const struct azidt_identity_spec *spec,
                 const struct azidt_azure_identity *azure, const char *reason,
                 const char *err, struct reconcile_result *result)
{
    struct ready ready = {"False", reason, ""};

    result->failed = true;
    result->requeue_after_ms = RETRY_AFTER_FAILURE_MS;
    /* A failure caused by stopping (Azure calls are cancelled) is not the
     * object's fault, and another replica may already lead. */
    if (controller_stopping(ctrl))
        return;
    snprintf(ready.message, sizeof(ready.message), "%s", err);
    AZIDT_LOG_ERROR("reconcile failed", "namespace", spec->namespace_, "name",
                    spec->name, "reason", reason, "error", err);
    controller_event(ctrl, object, "Warning", reason, err);
    write_status(ctrl, object, spec, azure, NULL, &ready);
}

static int64_t next_check_ms(struct azidt_controller *ctrl,
                             const struct azidt_identity_spec *spec,
                             const struct secret_state *secret)
{
    int64_t now = azidt_clock_wall_ms();
    int64_t next = ctrl->cfg.resync_interval_ms;

    if (secret->expiry_wall_ms) {
        int64_t rotate = secret->expiry_wall_ms - spec->renew_before_ms - now;

        /* A due rotation waits for the previous password's overlap. */
        if (rotate <= 0 && secret->retire_wall_ms > now)
            rotate = secret->retire_wall_ms - now;
        if (rotate < next)
            next = rotate > 1000 ? rotate : 1000;
    }
    if (secret->retire_wall_ms) {
        int64_t retire = secret->retire_wall_ms - now;

        if (retire < next)
            next = retire > 1000 ? retire : 1000;
    }
    return next;
}

static void ensure(struct azidt_controller *ctrl, const cJSON *object,
                   struct reconcile_result *result)
{
    struct azidt_identity_spec spec;
    struct azidt_azure_identity azure = {0};
    struct secret_state secret = {0};
    struct ready ready = {"True", "Provisioned", ""};
    int64_t deadline = azidt_deadline_in(ctrl->cfg.step_timeout_ms);
    char err[1024];
    azidt_err rc;

    if (azidt_identity_spec_parse(object, &spec, err, sizeof(err))) {
        struct azidt_identity_spec bare = {0};

        bare.namespace_ = (char *)meta_string(object, "namespace");
        bare.name = (char *)meta_string(object, "name");
        fail(ctrl, object, &bare, NULL, "InvalidSpec", err, result);
        return;
    }
    if (!has_finalizer(object) && set_finalizer(ctrl, object, true)) {
        result->requeue_after_ms = 1000;
        result->failed = true;
        goto out;
    }
    rc = azidt_provision_ensure(ctrl->prov, &spec, true,
                                deadline - UNDO_RESERVE_MS, deadline, &azure,
                                err, sizeof(err));
    if (rc) {
        /* A role the policy forbids (the object may predate the policy)
         * gets its own reason, so the fix is clear: change the spec. */
        fail(ctrl, object, &spec, NULL,
             rc == AZIDT_ERR_FORBIDDEN && strstr(err, "role policy")
                 ? "RoleNotAllowed"
                 : "AzureProvisioningFailed",
             err, result);
        goto out;
    }
    if (controller_stopping(ctrl))
        goto out;
    rc = controller_ensure_secret(ctrl, &spec, &azure, deadline, &secret, err,
                                  sizeof(err));
    if (rc) {
        fail(ctrl, object, &spec, &azure,
             secret.conflict ? "SecretConflict" : "SecretFailed", err, result);
        goto out;
    }
    rc = ensure_pod_identity(ctrl, &spec, &azure, deadline, err, sizeof(err));
    if (rc) {
        fail(ctrl, object, &spec, &azure,
             rc == AZIDT_ERR_CONFLICT ? "IdentityConflict"
                                      : "PodIdentityFailed",
             err, result);
        goto out;
    }
    rc = controller_verify_secret(ctrl, &azure, &secret, deadline, err,
                                  sizeof(err));
    if (rc) {
        ready.status = "False";
        ready.reason = "SecretNotYetAccepted";
        snprintf(ready.message, sizeof(ready.message),
                 "Azure has not accepted the new client secret yet (%s); "
                 "checking again shortly",
                 err);
        write_status(ctrl, object, &spec, &azure, &secret, &ready);
        result->requeue_after_ms = RETRY_SECRET_PENDING_MS;
        goto out;
    }
    snprintf(ready.message, sizeof(ready.message),
             "application %s, Secret %s/%s and binding for pods labelled "
             "aadpodidbinding=%s are ready",
             azure.client_id, spec.namespace_, spec.identity_name,
             spec.pod_selector);
    if (!was_ready(object))
        controller_event(ctrl, object, "Normal", "Provisioned", ready.message);
    if (secret.rotated)
        controller_event(ctrl, object, "Normal", "SecretRotated",
                         "the client secret was rotated; the previous one "
                         "stays valid for the overlap period");
    write_status(ctrl, object, &spec, &azure, &secret, &ready);
    result->requeue_after_ms = next_check_ms(ctrl, &spec, &secret);
out:
    controller_secret_state_clear(&secret);
    azidt_azure_identity_clear(&azure);
    azidt_identity_spec_clear(&spec);
}

/* --- Entry -------------------------------------------------------------- */

static void copy_object(const void *record, void *ctx)
{
    *(cJSON **)ctx = cJSON_Duplicate(record, true);
}

void controller_reconcile(struct azidt_controller *ctrl, const char *key,
                          struct reconcile_result *result)
{
    const char *slash = strchr(key, '/');
    char ns[256];
    cJSON *object = NULL;
    const cJSON *meta;

    if (!slash || (size_t)(slash - key) >= sizeof(ns))
        return;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    if (azidt_kube_cache_lookup(ctrl->cache, ns, slash + 1, copy_object,
                                &object) != AZIDT_OK ||
        !object)
        return;
    meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    if (cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp"))
        cleanup(ctrl, object, result);
    else
        ensure(ctrl, object, result);
    cJSON_Delete(object);
}
