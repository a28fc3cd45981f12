#include "azidt/identity_spec.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azidt/duration.h"

#define NS_PER_MS 1000000LL

static const cJSON *child(const cJSON *node, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(node, name);
}

/* Copy the string at node into *out. A missing node is an error only when
 * required; *out is then "" when not required. */
static azidt_err copy_string(const cJSON *node, const char *path, bool required,
                             char **out, char *err, size_t errlen)
{
    const char *value = "";

    if (cJSON_IsString(node) && node->valuestring)
        value = node->valuestring;
    else if (required || node) {
        snprintf(err, errlen, "%s: Required value: must be a string", path);
        return AZIDT_ERR_INVALID;
    }
    *out = strdup(value);
    return *out ? AZIDT_OK : AZIDT_ERR_NOMEM;
}

static azidt_err parse_durations(const cJSON *sp,
                                 struct azidt_identity_spec *spec, char *err,
                                 size_t errlen)
{
    const cJSON *duration = child(sp, "clientSecretDuration");
    const cJSON *renew = child(sp, "renewBefore");
    int64_t ns = 0;
    char reason[128] = "";

    if (!cJSON_IsString(duration) ||
        azidt_duration_parse_positive(duration->valuestring, &ns, reason,
                                      sizeof(reason))) {
        snprintf(err, errlen,
                 "spec.servicePrincipal.clientSecretDuration: Invalid value: "
                 "%s",
                 reason[0] ? reason : "must be a duration such as 720h");
        return AZIDT_ERR_INVALID;
    }
    spec->secret_duration_ms = ns / NS_PER_MS;
    spec->renew_before_ms = spec->secret_duration_ms / 3;
    if (cJSON_IsString(renew)) {
        if (azidt_duration_parse_positive(renew->valuestring, &ns, reason,
                                          sizeof(reason))) {
            snprintf(err, errlen,
                     "spec.servicePrincipal.renewBefore: Invalid value: %s",
                     reason);
            return AZIDT_ERR_INVALID;
        }
        spec->renew_before_ms = ns / NS_PER_MS;
    }
    return AZIDT_OK;
}

static azidt_err parse_tags(const cJSON *sp, struct azidt_identity_spec *spec)
{
    const cJSON *tags = child(sp, "tags");
    const cJSON *tag;
    int count = cJSON_GetArraySize(tags);

    if (count <= 0)
        return AZIDT_OK;
    spec->tags = calloc((size_t)count, sizeof(*spec->tags));
    if (!spec->tags)
        return AZIDT_ERR_NOMEM;
    cJSON_ArrayForEach(tag, tags)
    {
        if (!cJSON_IsString(tag))
            continue;
        spec->tags[spec->tag_count] = strdup(tag->valuestring);
        if (!spec->tags[spec->tag_count])
            return AZIDT_ERR_NOMEM;
        spec->tag_count++;
    }
    return AZIDT_OK;
}

static azidt_err parse_roles(const cJSON *spec_node,
                             struct azidt_identity_spec *spec, char *err,
                             size_t errlen)
{
    const cJSON *roles = child(spec_node, "roleAssignments");
    const cJSON *entry;
    int count = cJSON_GetArraySize(roles);
    azidt_err rc;

    if (count <= 0)
        return AZIDT_OK;
    spec->roles = calloc((size_t)count, sizeof(*spec->roles));
    if (!spec->roles)
        return AZIDT_ERR_NOMEM;
    cJSON_ArrayForEach(entry, roles)
    {
        struct azidt_role_request *role = &spec->roles[spec->role_count];
        char path[64];

        snprintf(path, sizeof(path), "spec.roleAssignments[%zu].role",
                 spec->role_count);
        rc = copy_string(child(entry, "role"), path, true, &role->role, err,
                         errlen);
        if (rc)
            return rc;
        snprintf(path, sizeof(path), "spec.roleAssignments[%zu].scope",
                 spec->role_count);
        rc = copy_string(child(entry, "scope"), path, true, &role->scope, err,
                         errlen);
        spec->role_count++;
        if (rc)
            return rc;
    }
    return AZIDT_OK;
}

azidt_err azidt_identity_spec_parse(const cJSON *object,
                                    struct azidt_identity_spec *spec, char *err,
                                    size_t errlen)
{
    const cJSON *meta = child(object, "metadata");
    const cJSON *spec_node = child(object, "spec");
    const cJSON *sp = child(spec_node, "servicePrincipal");
    const cJSON *generation = child(meta, "generation");
    azidt_err rc;

    memset(spec, 0, sizeof(*spec));
    if (err && errlen)
        err[0] = '\0';
    if (!cJSON_IsObject(spec_node)) {
        snprintf(err, errlen, "spec: Required value");
        return AZIDT_ERR_INVALID;
    }
    rc = copy_string(child(meta, "namespace"), "metadata.namespace", true,
                     &spec->namespace_, err, errlen);
    if (!rc)
        rc = copy_string(child(meta, "name"), "metadata.name", true,
                         &spec->name, err, errlen);
    if (!rc)
        rc = copy_string(child(meta, "uid"), "metadata.uid", false, &spec->uid,
                         err, errlen);
    if (!rc)
        rc = copy_string(
            child(child(spec_node, "appRegistration"), "displayName"),
            "spec.appRegistration.displayName", true, &spec->display_name, err,
            errlen);
    if (!rc)
        rc = copy_string(child(spec_node, "azureIdentityName"),
                         "spec.azureIdentityName", true, &spec->identity_name,
                         err, errlen);
    if (!rc)
        rc = copy_string(child(spec_node, "nodeResourceGroup"),
                         "spec.nodeResourceGroup", true, &spec->resource_group,
                         err, errlen);
    if (!rc)
        rc = copy_string(child(spec_node, "podSelector"), "spec.podSelector",
                         true, &spec->pod_selector, err, errlen);
    if (!rc)
        rc = parse_durations(sp, spec, err, errlen);
    if (!rc)
        rc = parse_tags(sp, spec);
    if (!rc)
        rc = parse_roles(spec_node, spec, err, errlen);
    if (rc) {
        if (rc == AZIDT_ERR_NOMEM)
            snprintf(err, errlen, "out of memory while reading the spec");
        azidt_identity_spec_clear(spec);
        return rc;
    }
    if (cJSON_IsNumber(generation))
        spec->generation = (int64_t)generation->valuedouble;
    return AZIDT_OK;
}

void azidt_identity_spec_clear(struct azidt_identity_spec *spec)
{
    free(spec->namespace_);
    free(spec->name);
    free(spec->uid);
    free(spec->display_name);
    free(spec->identity_name);
    free(spec->resource_group);
    free(spec->pod_selector);
    for (size_t i = 0; i < spec->tag_count; i++)
        free(spec->tags[i]);
    free(spec->tags);
    for (size_t i = 0; i < spec->role_count; i++) {
        free(spec->roles[i].role);
        free(spec->roles[i].scope);
    }
    free(spec->roles);
    memset(spec, 0, sizeof(*spec));
}
