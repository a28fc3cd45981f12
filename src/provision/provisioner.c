#include "azidt/provisioner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azidt/constants.h"
#include "azidt/log.h"
#include "azidt/role_policy.h"

/* Tags written on every application: managed, cluster, object, uid. */
#define APP_TAG_COUNT 4

struct azidt_provisioner {
    struct azidt_azure_client *client;
    char *cluster_id;
    const struct azidt_role_policy *policy; /* borrowed, NULL allows all */
};

/* One role assignment the spec requests, with its role resolved. */
struct wanted_role {
    char role_definition_id[AZIDT_ARM_ID_MAX];
    const char *scope;
    char scope_buf[AZIDT_ARM_ID_MAX];
    bool forbidden;    /* the role policy forbids it */
    size_t spec_index; /* in spec.roleAssignments, plus 1; 0 for Reader */
};

azidt_err azidt_provisioner_new(struct azidt_azure_client *client,
                                const char *cluster_id,
                                struct azidt_provisioner **out)
{
    struct azidt_provisioner *prov;

    *out = NULL;
    if (!client || !cluster_id || !*cluster_id)
        return AZIDT_ERR_INVALID;
    prov = calloc(1, sizeof(*prov));
    if (!prov)
        return AZIDT_ERR_NOMEM;
    prov->client = client;
    prov->cluster_id = strdup(cluster_id);
    if (!prov->cluster_id) {
        free(prov);
        return AZIDT_ERR_NOMEM;
    }
    *out = prov;
    return AZIDT_OK;
}

void azidt_provisioner_free(struct azidt_provisioner *prov)
{
    if (!prov)
        return;
    free(prov->cluster_id);
    free(prov);
}

void azidt_provisioner_set_role_policy(struct azidt_provisioner *prov,
                                       const struct azidt_role_policy *policy)
{
    prov->policy = policy;
}

struct azidt_azure_client *
azidt_provisioner_client(const struct azidt_provisioner *prov)
{
    return prov->client;
}

const char *azidt_provisioner_cluster_id(const struct azidt_provisioner *prov)
{
    return prov->cluster_id;
}

void azidt_azure_identity_clear(struct azidt_azure_identity *identity)
{
    free(identity->assignments);
    cJSON_Delete(identity->app);
    memset(identity, 0, sizeof(*identity));
}

azidt_err azidt_provision_group_scope(const struct azidt_provisioner *prov,
                                      const char *rg, char *out, size_t size)
{
    const struct azidt_azure_config *cfg =
        azidt_azure_client_config(prov->client);
    int n = snprintf(out, size, "/subscriptions/%s/resourceGroups/%s",
                     cfg->subscription_id, rg);

    return (n < 0 || (size_t)n >= size) ? AZIDT_ERR_INVALID : AZIDT_OK;
}

static azidt_err build_tags(const struct azidt_provisioner *prov,
                            const struct azidt_identity_spec *spec,
                            char tags[APP_TAG_COUNT][AZIDT_TAG_SIZE])
{
    char key[AZIDT_TAG_SIZE];
    azidt_err rc;

    snprintf(tags[0], AZIDT_TAG_SIZE, "%s", AZIDT_TAG_MANAGED);
    rc = azidt_naming_tag(AZIDT_TAG_CLUSTER_PREFIX, prov->cluster_id, tags[1],
                          AZIDT_TAG_SIZE);
    if (!rc)
        rc = azidt_naming_object_key(spec->namespace_, spec->name, key,
                                     sizeof(key));
    if (!rc)
        rc = azidt_naming_tag(AZIDT_TAG_OBJECT_PREFIX, key, tags[2],
                              AZIDT_TAG_SIZE);
    if (!rc)
        rc = azidt_naming_tag(AZIDT_TAG_UID_PREFIX, spec->uid, tags[3],
                              AZIDT_TAG_SIZE);
    return rc;
}

/* Resolve Reader on the node resource group plus each spec role, before
 * anything is created, so that a bad role name creates nothing. */
static azidt_err resolve_roles(struct azidt_provisioner *prov,
                               const struct azidt_identity_spec *spec,
                               int64_t deadline_ms, struct wanted_role *wanted,
                               char *policy_err, size_t policy_errlen,
                               char *err, size_t errlen)
{
    char reason[512];
    azidt_err rc;

    rc = azidt_provision_group_scope(prov, spec->resource_group,
                                     wanted[0].scope_buf,
                                     sizeof(wanted[0].scope_buf));
    if (rc) {
        snprintf(err, errlen, "spec.nodeResourceGroup is too long");
        return rc;
    }
    wanted[0].scope = wanted[0].scope_buf;
    rc = azidt_arm_role_definition_id(
        prov->client, "Reader", deadline_ms, wanted[0].role_definition_id,
        sizeof(wanted[0].role_definition_id), reason, sizeof(reason));
    for (size_t i = 0; !rc && i < spec->role_count; i++) {
        struct wanted_role *w = &wanted[i + 1];

        w->scope = spec->roles[i].scope;
        w->spec_index = i + 1;
        rc = azidt_arm_role_definition_id(prov->client, spec->roles[i].role,
                                          deadline_ms, w->role_definition_id,
                                          sizeof(w->role_definition_id), reason,
                                          sizeof(reason));
        if (rc == AZIDT_ERR_NOT_FOUND) {
            snprintf(err, errlen,
                     "spec.roleAssignments[%zu].role: role \"%s\" was not "
                     "found in the subscription; use a built-in role name "
                     "such as Reader or a role definition id",
                     i, spec->roles[i].role);
            return rc;
        }
        /* Checked again here, with the resolved GUID: admission cannot
         * judge a custom role name, and an object stored under an older
         * policy, or admitted without this webhook, must not get a role
         * the policy now forbids. The first violation goes to
         * policy_err. */
        if (!rc && azidt_role_policy_check_role(
                       prov->policy, spec->roles[i].role, w->role_definition_id,
                       reason, sizeof(reason)) != AZIDT_ROLE_ALLOWED) {
            if (!policy_err[0])
                snprintf(policy_err, policy_errlen,
                         "spec.roleAssignments[%zu].role: %s", i, reason);
            w->forbidden = true;
        }
        if (!rc && !azidt_role_policy_check_scope(prov->policy, w->scope,
                                                  reason, sizeof(reason))) {
            if (!policy_err[0])
                snprintf(policy_err, policy_errlen,
                         "spec.roleAssignments[%zu].scope: %s", i, reason);
            w->forbidden = true;
        }
    }
    if (rc)
        snprintf(err, errlen, "failed to look up a role definition: %s",
                 reason);
    return rc;
}

static azidt_err check_resource_group(struct azidt_provisioner *prov,
                                      const struct azidt_identity_spec *spec,
                                      int64_t deadline_ms, char *err,
                                      size_t errlen)
{
    char reason[512];
    azidt_err rc =
        azidt_arm_resource_group_get(prov->client, spec->resource_group,
                                     deadline_ms, NULL, reason, sizeof(reason));

    if (rc == AZIDT_ERR_NOT_FOUND)
        snprintf(err, errlen,
                 "spec.nodeResourceGroup: resource group \"%s\" does not "
                 "exist in subscription %s; set it to the cluster's node "
                 "resource group (az aks show --query nodeResourceGroup)",
                 spec->resource_group,
                 azidt_azure_client_config(prov->client)->subscription_id);
    else if (rc)
        snprintf(err, errlen, "failed to read resource group \"%s\": %s",
                 spec->resource_group, reason);
    return rc;
}

static bool assignment_wanted(const struct azidt_arm_role_assignment *have,
                              const struct wanted_role *wanted, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (strcasecmp(have->scope, wanted[i].scope) == 0 &&
            strcasecmp(azidt_arm_role_guid(have->role_definition_id),
                       azidt_arm_role_guid(wanted[i].role_definition_id)) == 0)
            return true;
    }
    return false;
}

/* Delete the principal's assignments that no wanted role matches. */
static azidt_err prune_assignments(struct azidt_provisioner *prov,
                                   const char *principal_id,
                                   const struct wanted_role *wanted,
                                   size_t count, const char *why,
                                   int64_t deadline_ms, char *err,
                                   size_t errlen)
{
    const struct azidt_azure_config *cfg =
        azidt_azure_client_config(prov->client);
    struct azidt_arm_role_assignment *items = NULL;
    size_t item_count = 0;
    char scope[AZIDT_ARM_ID_MAX];
    azidt_err rc;

    snprintf(scope, sizeof(scope), "/subscriptions/%s", cfg->subscription_id);
    rc = azidt_arm_role_assignment_list(prov->client, scope, principal_id,
                                        deadline_ms, &items, &item_count, err,
                                        errlen);
    for (size_t i = 0; !rc && i < item_count; i++) {
        if (assignment_wanted(&items[i], wanted, count))
            continue;
        AZIDT_LOG_INFO("removing role assignment", "reason", why, "assignment",
                       items[i].id, "principal", principal_id);
        rc = azidt_arm_role_assignment_delete(prov->client, items[i].id,
                                              deadline_ms, err, errlen);
    }
    free(items);
    return rc;
}

/* Undo what one ensure call created, newest first. */
static void undo_created(struct azidt_provisioner *prov,
                         struct azidt_azure_identity *out,
                         const bool *assignment_created, int64_t deadline_ms)
{
    char reason[512];

    for (size_t i = out->assignment_count; i-- > 0;) {
        if (assignment_created[i] && azidt_arm_role_assignment_delete(
                                         prov->client, out->assignments[i].id,
                                         deadline_ms, reason, sizeof(reason)))
            AZIDT_LOG_WARN("failed to undo a role assignment; the reaper "
                           "removes it later",
                           "assignment", out->assignments[i].id, "error",
                           reason);
    }
    if (out->app_created &&
        azidt_graph_app_delete(prov->client, out->app_object_id, true,
                               deadline_ms, reason, sizeof(reason)))
        AZIDT_LOG_WARN("failed to undo an application; the reaper removes "
                       "it later",
                       "application", out->app_object_id, "error", reason);
}

/* True when the principal's tags are exactly the spec's, in any order. */
static bool tags_match(const cJSON *sp, const struct azidt_identity_spec *spec)
{
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(sp, "tags");
    const cJSON *tag;

    if ((size_t)cJSON_GetArraySize(tags) != spec->tag_count)
        return false;
    cJSON_ArrayForEach(tag, tags)
    {
        bool found = false;

        for (size_t i = 0; cJSON_IsString(tag) && i < spec->tag_count; i++)
            found = found || strcmp(tag->valuestring, spec->tags[i]) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* Set the service principal's tags to the spec's, which a user may change
 * on an existing AzureIdentityTerminator. */
static azidt_err update_sp_tags(struct azidt_provisioner *prov,
                                const struct azidt_graph_sp *sp,
                                const struct azidt_identity_spec *spec,
                                int64_t deadline_ms, char *err, size_t errlen)
{
    const struct azidt_azure_config *cfg =
        azidt_azure_client_config(prov->client);
    struct azidt_azure_response resp = {0};
    cJSON *body = cJSON_CreateObject();
    cJSON *tags = cJSON_AddArrayToObject(body, "tags");
    char url[1024];
    azidt_err rc;

    for (size_t i = 0; i < spec->tag_count; i++)
        cJSON_AddItemToArray(tags, cJSON_CreateString(spec->tags[i]));
    snprintf(url, sizeof(url), "%s/v1.0/servicePrincipals/%s",
             cfg->graph_endpoint, sp->id);
    struct azidt_azure_request req = {
        .operation = "update the service principal's tags",
        .method = "PATCH",
        .url = url,
        .json = body,
        .idempotent = true,
        .deadline_ms = deadline_ms,
    };
    rc = azidt_azure_client_send(prov->client, AZIDT_AZURE_GRAPH, &req, &resp,
                                 err, errlen);
    if (!rc)
        AZIDT_LOG_INFO("updated service principal tags", "principal", sp->id,
                       "namespace", spec->namespace_, "name", spec->name);
    azidt_azure_response_clear(&resp);
    cJSON_Delete(body);
    return rc;
}

/* True when app carries a uid tag that names another object than uid. */
static bool foreign_uid(const cJSON *app, const char *uid)
{
    const cJSON *tag;
    size_t len = strlen(AZIDT_TAG_UID_PREFIX);

    cJSON_ArrayForEach(tag, cJSON_GetObjectItemCaseSensitive(app, "tags"))
    {
        if (cJSON_IsString(tag) &&
            strncasecmp(tag->valuestring, AZIDT_TAG_UID_PREFIX, len) == 0)
            return strcmp(tag->valuestring + len, uid ? uid : "") != 0;
    }
    return false;
}

/*
 * At admission, read the application before the upsert. When it exists
 * and its uid tag names another object, *adopted is set and out contains it
 * unchanged: the request may be a CREATE of a live name that the
 * apiserver is about to reject, so its uid must not replace the stored
 * object's. The controller writes the tags of the object actually
 * stored.
 */
static azidt_err find_foreign_app(struct azidt_provisioner *prov,
                                  const struct azidt_identity_spec *spec,
                                  int64_t deadline_ms,
                                  struct azidt_azure_identity *out,
                                  bool *adopted, char *err, size_t errlen)
{
    struct azidt_graph_app found = {0};
    azidt_err rc = azidt_graph_app_get(
        prov->client, AZIDT_GRAPH_KEY_UNIQUE_NAME, out->unique_name, 0,
        deadline_ms, &found, err, errlen);

    *adopted = false;
    if (rc == AZIDT_ERR_NOT_FOUND)
        return AZIDT_OK;
    if (rc)
        return rc;
    if (foreign_uid(found.json, spec->uid)) {
        *adopted = true;
        snprintf(out->app_object_id, sizeof(out->app_object_id), "%s",
                 found.id);
        snprintf(out->client_id, sizeof(out->client_id), "%s", found.app_id);
        out->app = found.json;
        found.json = NULL;
        AZIDT_LOG_WARN("application is tagged with another object's uid; "
                       "its tags are left for the controller to set",
                       "namespace", spec->namespace_, "name", spec->name,
                       "application", out->app_object_id);
    }
    azidt_graph_app_clear(&found);
    return AZIDT_OK;
}

static azidt_err ensure_app_and_sp(struct azidt_provisioner *prov,
                                   const struct azidt_identity_spec *spec,
                                   bool admission, int64_t deadline_ms,
                                   struct azidt_azure_identity *out, char *err,
                                   size_t errlen)
{
    char tags[APP_TAG_COUNT][AZIDT_TAG_SIZE];
    const char *tag_ptrs[APP_TAG_COUNT];
    struct azidt_graph_app app = {0};
    struct azidt_graph_sp sp = {0};
    bool sp_created = false;
    bool adopted = false;
    azidt_err rc;

    rc = build_tags(prov, spec, tags);
    if (rc) {
        snprintf(err, errlen, "metadata.name is too long for an Azure tag");
        return rc;
    }
    for (int i = 0; i < APP_TAG_COUNT; i++)
        tag_ptrs[i] = tags[i];

    if (admission) {
        rc = find_foreign_app(prov, spec, deadline_ms, out, &adopted, err,
                              errlen);
        if (rc)
            return rc;
    }
    if (!adopted) {
        rc = azidt_graph_app_upsert(
            prov->client, out->unique_name, spec->display_name, tag_ptrs,
            APP_TAG_COUNT, deadline_ms, &app, &out->app_created, err, errlen);
        if (rc)
            return rc;
        snprintf(out->app_object_id, sizeof(out->app_object_id), "%s", app.id);
        snprintf(out->client_id, sizeof(out->client_id), "%s", app.app_id);
        out->app = app.json;
        app.json = NULL;
        azidt_graph_app_clear(&app);
    }

    /* An application that existed usually has its principal: read it
     * first rather than draw a 409 from every reconcile. */
    rc = AZIDT_ERR_NOT_FOUND;
    if (!out->app_created)
        rc = azidt_graph_sp_get_by_app_id(prov->client, out->client_id, 0,
                                          deadline_ms, &sp, err, errlen);
    if (rc == AZIDT_ERR_NOT_FOUND)
        rc = azidt_graph_sp_create(
            prov->client, out->client_id, (const char *const *)spec->tags,
            spec->tag_count, deadline_ms, &sp, &sp_created, err, errlen);
    if (!rc && !sp_created && !adopted && !tags_match(sp.json, spec))
        rc = update_sp_tags(prov, &sp, spec, deadline_ms, err, errlen);
    if (rc) {
        azidt_graph_sp_clear(&sp);
        return rc;
    }
    snprintf(out->sp_object_id, sizeof(out->sp_object_id), "%s", sp.id);
    azidt_graph_sp_clear(&sp);
    return AZIDT_OK;
}

static azidt_err assign_roles(struct azidt_provisioner *prov,
                              const struct wanted_role *wanted, size_t count,
                              int64_t deadline_ms,
                              struct azidt_azure_identity *out,
                              bool *assignment_created, char *err,
                              size_t errlen)
{
    out->assignments = calloc(count, sizeof(*out->assignments));
    if (!out->assignments)
        return AZIDT_ERR_NOMEM;
    for (size_t i = 0; i < count; i++) {
        azidt_err rc = azidt_arm_role_assignment_create(
            prov->client, wanted[i].scope, wanted[i].role_definition_id,
            out->sp_object_id, deadline_ms, &out->assignments[i],
            &assignment_created[i], err, errlen);

        /* Entry 0 is Reader on the node resource group; the others come
         * from spec.roleAssignments, so name the entry and the fix. */
        if (rc == AZIDT_ERR_NOT_FOUND && wanted[i].spec_index > 0) {
            char reason[1024];

            snprintf(reason, sizeof(reason), "%s", err);
            snprintf(err, errlen,
                     "spec.roleAssignments[%zu].scope: %s; check that the "
                     "scope exists in the subscription",
                     wanted[i].spec_index - 1, reason);
        }
        if (rc)
            return rc;
        out->assignment_count++;
    }
    return AZIDT_OK;
}

/* Remove the forbidden entries from wanted, keeping the order. Returns the
 * new count. */
static size_t drop_forbidden(struct wanted_role *wanted, size_t count)
{
    size_t kept = 0;

    for (size_t i = 0; i < count; i++) {
        if (wanted[i].forbidden)
            continue;
        if (kept != i) {
            wanted[kept] = wanted[i];
            if (wanted[i].scope == wanted[i].scope_buf)
                wanted[kept].scope = wanted[kept].scope_buf;
        }
        kept++;
    }
    return kept;
}

azidt_err azidt_provision_ensure(struct azidt_provisioner *prov,
                                 const struct azidt_identity_spec *spec,
                                 bool prune, int64_t deadline_ms,
                                 int64_t undo_deadline_ms,
                                 struct azidt_azure_identity *out, char *err,
                                 size_t errlen)
{
    size_t wanted_count = spec->role_count + 1;
    struct wanted_role *wanted = calloc(wanted_count, sizeof(*wanted));
    bool *assignment_created = calloc(wanted_count, sizeof(bool));
    char policy_err[1024] = "";
    azidt_err rc;

    memset(out, 0, sizeof(*out));
    if (!wanted || !assignment_created) {
        rc = AZIDT_ERR_NOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = azidt_naming_unique_name(prov->cluster_id, spec->namespace_,
                                  spec->name, out->unique_name);
    if (rc) {
        snprintf(err, errlen, "metadata.name and namespace are required");
        goto out;
    }
    rc = check_resource_group(prov, spec, deadline_ms, err, errlen);
    if (!rc)
        rc = resolve_roles(prov, spec, deadline_ms, wanted, policy_err,
                           sizeof(policy_err), err, errlen);
    /* A forbidden role stops admission before anything is created. The
     * controller goes on without it, so prune removes an assignment made
     * under an older policy, and then reports the violation. */
    if (!rc && policy_err[0] && !prune) {
        rc = AZIDT_ERR_FORBIDDEN;
        snprintf(err, errlen, "%s", policy_err);
        goto out;
    }
    if (!rc && policy_err[0])
        wanted_count = drop_forbidden(wanted, wanted_count);
    if (!rc)
        rc = ensure_app_and_sp(prov, spec, !prune, deadline_ms, out, err,
                               errlen);
    if (!rc)
        rc = assign_roles(prov, wanted, wanted_count, deadline_ms, out,
                          assignment_created, err, errlen);
    if (!rc && prune)
        rc = prune_assignments(prov, out->sp_object_id, wanted, wanted_count,
                               "no longer in the spec", deadline_ms, err,
                               errlen);
    if (rc) {
        undo_created(prov, out, assignment_created, undo_deadline_ms);
    } else if (policy_err[0]) {
        rc = AZIDT_ERR_FORBIDDEN;
        snprintf(err, errlen, "%s", policy_err);
    }
out:
    free(wanted);
    free(assignment_created);
    if (rc)
        azidt_azure_identity_clear(out);
    return rc;
}

azidt_err azidt_provision_lookup(struct azidt_provisioner *prov,
                                 const char *namespace_, const char *name,
                                 int64_t deadline_ms,
                                 struct azidt_azure_identity *out, char *err,
                                 size_t errlen)
{
    struct azidt_graph_app app = {0};
    struct azidt_graph_sp sp = {0};
    azidt_err rc;

    memset(out, 0, sizeof(*out));
    rc = azidt_naming_unique_name(prov->cluster_id, namespace_, name,
                                  out->unique_name);
    if (rc)
        return rc;
    rc = azidt_graph_app_get(prov->client, AZIDT_GRAPH_KEY_UNIQUE_NAME,
                             out->unique_name, 0, deadline_ms, &app, err,
                             errlen);
    if (rc)
        return rc;
    snprintf(out->app_object_id, sizeof(out->app_object_id), "%s", app.id);
    snprintf(out->client_id, sizeof(out->client_id), "%s", app.app_id);
    out->app = app.json;
    app.json = NULL;
    azidt_graph_app_clear(&app);

    rc = azidt_graph_sp_get_by_app_id(prov->client, out->client_id, 0,
                                      deadline_ms, &sp, err, errlen);
    if (rc == AZIDT_ERR_NOT_FOUND)
        return AZIDT_OK;
    if (rc) {
        azidt_azure_identity_clear(out);
        return rc;
    }
    snprintf(out->sp_object_id, sizeof(out->sp_object_id), "%s", sp.id);
    azidt_graph_sp_clear(&sp);
    return AZIDT_OK;
}

azidt_err azidt_provision_teardown_app(struct azidt_provisioner *prov,
                                       const char *app_object_id,
                                       const char *client_id,
                                       int64_t deadline_ms, char *err,
                                       size_t errlen)
{
    struct azidt_graph_sp sp = {0};
    azidt_err rc;

    rc = azidt_graph_sp_get_by_app_id(prov->client, client_id, 0, deadline_ms,
                                      &sp, err, errlen);
    if (rc == AZIDT_OK) {
        /* No assignment is wanted any more, so prune removes them all. */
        rc = prune_assignments(prov, sp.id, NULL, 0,
                               "the identity is being deleted", deadline_ms,
                               err, errlen);
        azidt_graph_sp_clear(&sp);
    } else if (rc == AZIDT_ERR_NOT_FOUND) {
        rc = AZIDT_OK;
    }
    if (rc)
        return rc;
    return azidt_graph_app_delete(prov->client, app_object_id, true,
                                  deadline_ms, err, errlen);
}

azidt_err azidt_provision_teardown(struct azidt_provisioner *prov,
                                   const char *namespace_, const char *name,
                                   int64_t deadline_ms, char *err,
                                   size_t errlen)
{
    struct azidt_azure_identity found;
    azidt_err rc = azidt_provision_lookup(prov, namespace_, name, deadline_ms,
                                          &found, err, errlen);

    if (rc == AZIDT_ERR_NOT_FOUND)
        return AZIDT_OK;
    if (rc)
        return rc;
    rc = azidt_provision_teardown_app(
        prov, found.app_object_id, found.client_id, deadline_ms, err, errlen);
    azidt_azure_identity_clear(&found);
    return rc;
}
