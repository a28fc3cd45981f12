#include "azidt/arm.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azidt/log.h"

#define MAX_PAGES 1000
#define ROLE_DEFINITIONS_PATH                                                  \
    "/providers/Microsoft.Authorization/roleDefinitions/"

struct builtin_role {
    const char *name;
    const char *guid;
};

/* Built-in role GUIDs, the same in every tenant (Azure built-in roles
 * reference, learn.microsoft.com). */
static const struct builtin_role builtin_roles[] = {
    {"Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"},
    {"Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"},
    {"Managed Identity Operator", "f1a07417-d97a-45cb-824c-7a7467783830"},
    {"Virtual Machine Contributor", "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"},
    {"Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6"},
};

const char *azidt_arm_builtin_role_guid(const char *name)
{
    for (size_t i = 0; i < sizeof(builtin_roles) / sizeof(builtin_roles[0]);
         i++)
        if (strcasecmp(name, builtin_roles[i].name) == 0)
            return builtin_roles[i].guid;
    return NULL;
}

const char *azidt_arm_builtin_role_name(const char *guid)
{
    for (size_t i = 0; i < sizeof(builtin_roles) / sizeof(builtin_roles[0]);
         i++)
        if (strcasecmp(guid, builtin_roles[i].guid) == 0)
            return builtin_roles[i].name;
    return NULL;
}

const char *azidt_arm_role_guid(const char *role_definition_id)
{
    const char *slash = strrchr(role_definition_id, '/');

    return slash ? slash + 1 : role_definition_id;
}

bool azidt_arm_scope_is_valid(const char *scope)
{
    if (!scope || scope[0] != '/' || strlen(scope) >= AZIDT_ARM_ID_MAX ||
        strstr(scope, ".."))
        return false;
    for (const char *p = scope; *p; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p) ||
            *p == '?' || *p == '#' || *p == '%')
            return false;
    return true;
}

/* Copy text lowercased, without trailing slashes, into out. */
static void lower_copy(const char *text, char *out, size_t outlen)
{
    size_t len = strlen(text);

    while (len > 1 && text[len - 1] == '/')
        len--;
    if (len >= outlen)
        len = outlen - 1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)text[i]);
    out[len] = '\0';
}

static bool scopes_equal(const char *a, const char *b)
{
    char la[AZIDT_ARM_ID_MAX], lb[AZIDT_ARM_ID_MAX];

    lower_copy(a, la, sizeof(la));
    lower_copy(b, lb, sizeof(lb));
    return strcmp(la, lb) == 0;
}

void azidt_arm_role_assignment_name(const char *scope,
                                    const char *role_definition_id,
                                    const char *principal_id,
                                    char out[AZIDT_UUID_TEXT_LEN])
{
    unsigned char ns[16];
    char lscope[AZIDT_ARM_ID_MAX], lrole[128], lprincipal[128];
    char name[AZIDT_ARM_ID_MAX + 300];
    int len;

    azidt_uuid_parse(AZIDT_ARM_ROLE_ASSIGNMENT_NAMESPACE, ns);
    lower_copy(scope, lscope, sizeof(lscope));
    lower_copy(azidt_arm_role_guid(role_definition_id), lrole, sizeof(lrole));
    lower_copy(principal_id, lprincipal, sizeof(lprincipal));
    len = snprintf(name, sizeof(name), "%s|%s|%s", lscope, lrole, lprincipal);
    azidt_uuid_v5(ns, name, (size_t)len, out);
}

/* ---- helpers ---- */

static azidt_err format_url(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static azidt_err format_url(char *out, size_t outlen, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= outlen ? AZIDT_ERR_INVALID : AZIDT_OK;
}

static const char *arm_endpoint(const struct azidt_azure_client *client)
{
    return azidt_azure_client_config(client)->arm_endpoint;
}

static const char *subscription(const struct azidt_azure_client *client)
{
    return azidt_azure_client_config(client)->subscription_id;
}

static azidt_err send_arm(struct azidt_azure_client *client,
                          const struct azidt_azure_request *req,
                          struct azidt_azure_response *resp, char *err,
                          size_t errlen)
{
    return azidt_azure_client_send(client, AZIDT_AZURE_ARM, req, resp, err,
                                   errlen);
}

static void copy_json_string(const cJSON *obj, const char *name, char *out,
                             size_t outlen)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    out[0] = '\0';
    if (cJSON_IsString(item))
        snprintf(out, outlen, "%s", item->valuestring);
}

static azidt_err invalid_input(const char *operation, const char *why,
                               char *err, size_t errlen)
{
    snprintf(err, errlen, "%s failed: %s; retrying will not help", operation,
             why);
    return AZIDT_ERR_INVALID;
}

/* ---- role definitions ---- */

static azidt_err lookup_role_by_name(struct azidt_azure_client *client,
                                     const char *role, int64_t deadline_ms,
                                     char *out, size_t outlen, char *err,
                                     size_t errlen)
{
    struct azidt_azure_response resp;
    char url[2048], filter[512], quoted[300], encoded[1600], operation[400];
    const cJSON *first;
    size_t n = 0;
    azidt_err rc;

    snprintf(operation, sizeof(operation), "look up role definition '%.200s'",
             role);
    /* OData string literals double their single quotes. */
    for (const char *p = role; *p && n + 2 < sizeof(quoted); p++) {
        quoted[n++] = *p;
        if (*p == '\'')
            quoted[n++] = '\'';
    }
    quoted[n] = '\0';
    if (format_url(filter, sizeof(filter), "roleName eq '%s'", quoted) ||
        azidt_azure_url_escape(filter, encoded, sizeof(encoded)) >=
            sizeof(encoded) ||
        format_url(url, sizeof(url),
                   "%s/subscriptions/%s/providers/Microsoft.Authorization/"
                   "roleDefinitions?$filter=%s&api-version=%s",
                   arm_endpoint(client), subscription(client), encoded,
                   AZIDT_ARM_AUTHORIZATION_API_VERSION))
        return invalid_input(operation, "the role name is too long", err,
                             errlen);

    struct azidt_azure_request req = {
        .operation = operation,
        .method = "GET",
        .url = url,
        .idempotent = true,
        .deadline_ms = deadline_ms,
    };
    rc = send_arm(client, &req, &resp, err, errlen);
    if (rc)
        goto out;
    first = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(resp.json, "value"), 0);
    if (!first) {
        snprintf(err, errlen,
                 "%s failed: no role with that name exists in subscription "
                 "%s; use a built-in role name or an existing custom role; "
                 "retrying will not help",
                 operation, subscription(client));
        rc = AZIDT_ERR_NOT_FOUND;
        goto out;
    }
    copy_json_string(first, "name", url, sizeof(url));
    if (!url[0] ||
        format_url(out, outlen, "/subscriptions/%s" ROLE_DEFINITIONS_PATH "%s",
                   subscription(client), url)) {
        snprintf(err, errlen,
                 "%s failed: ARM answered without a usable name; retrying "
                 "will not help",
                 operation);
        rc = AZIDT_ERR_REMOTE;
    }
out:
    azidt_azure_response_clear(&resp);
    return rc;
}

azidt_err azidt_arm_role_definition_id(struct azidt_azure_client *client,
                                       const char *role, int64_t deadline_ms,
                                       char *out, size_t outlen, char *err,
                                       size_t errlen)
{
    const char *guid = azidt_arm_builtin_role_guid(role);
    unsigned char bytes[16];

    if (!guid && azidt_uuid_parse(role, bytes) == AZIDT_OK)
        guid = role;
    if (guid) {
        if (format_url(out, outlen,
                       "/subscriptions/%s" ROLE_DEFINITIONS_PATH "%s",
                       subscription(client), guid))
            return invalid_input("resolve role", "the output is too small", err,
                                 errlen);
        return AZIDT_OK;
    }
    if (strcasestr(role, ROLE_DEFINITIONS_PATH)) {
        if (!azidt_arm_scope_is_valid(role) ||
            format_url(out, outlen, "%s", role))
            return invalid_input("resolve role",
                                 "the role definition id is not a valid id",
                                 err, errlen);
        return AZIDT_OK;
    }
    return lookup_role_by_name(client, role, deadline_ms, out, outlen, err,
                               errlen);
}

/* ---- role assignments ---- */

static void fill_assignment(const cJSON *obj,
                            struct azidt_arm_role_assignment *out)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(obj, "properties");

    memset(out, 0, sizeof(*out));
    copy_json_string(obj, "id", out->id, sizeof(out->id));
    copy_json_string(obj, "name", out->name, sizeof(out->name));
    copy_json_string(props, "scope", out->scope, sizeof(out->scope));
    copy_json_string(props, "roleDefinitionId", out->role_definition_id,
                     sizeof(out->role_definition_id));
    copy_json_string(props, "principalId", out->principal_id,
                     sizeof(out->principal_id));
    copy_json_string(props, "principalType", out->principal_type,
                     sizeof(out->principal_type));
}

static azidt_err append_assignments(const cJSON *page,
                                    struct azidt_arm_role_assignment **items,
                                    size_t *count)
{
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(page, "value");
    const cJSON *item;
    size_t extra = (size_t)cJSON_GetArraySize(value);
    struct azidt_arm_role_assignment *grown;

    if (!cJSON_IsArray(value))
        return AZIDT_ERR_REMOTE;
    if (extra == 0)
        return AZIDT_OK;
    grown = realloc(*items, (*count + extra) * sizeof(**items));
    if (!grown)
        return AZIDT_ERR_NOMEM;
    *items = grown;
    cJSON_ArrayForEach(item, value) fill_assignment(item, &grown[(*count)++]);
    return AZIDT_OK;
}

azidt_err
azidt_arm_role_assignment_list(struct azidt_azure_client *client,
                               const char *scope, const char *principal_id,
                               int64_t deadline_ms,
                               struct azidt_arm_role_assignment **items,
                               size_t *count, char *err, size_t errlen)
{
    struct azidt_azure_response resp = {0};
    char filter[200], encoded[600], operation[400];
    char *url = NULL;
    azidt_err rc = AZIDT_OK;
    size_t url_len;

    *items = NULL;
    *count = 0;
    snprintf(operation, sizeof(operation),
             "list role assignments of principal %.64s at %.200s", principal_id,
             scope);
    if (!azidt_arm_scope_is_valid(scope))
        return invalid_input(operation, "the scope is not a valid ARM scope",
                             err, errlen);
    url_len = strlen(arm_endpoint(client)) + strlen(scope) + 1024;
    url = malloc(url_len);
    if (!url)
        return AZIDT_ERR_NOMEM;
    if (format_url(filter, sizeof(filter), "principalId eq '%s'",
                   principal_id) ||
        azidt_azure_url_escape(filter, encoded, sizeof(encoded)) >=
            sizeof(encoded) ||
        format_url(url, url_len,
                   "%s%s/providers/Microsoft.Authorization/roleAssignments"
                   "?$filter=%s&api-version=%s",
                   arm_endpoint(client), scope, encoded,
                   AZIDT_ARM_AUTHORIZATION_API_VERSION)) {
        free(url);
        return invalid_input(operation, "the principal id is too long", err,
                             errlen);
    }

    for (int page = 0; url && page < MAX_PAGES; page++) {
        const cJSON *next;
        struct azidt_azure_request req = {
            .operation = operation,
            .method = "GET",
            .url = url,
            .idempotent = true,
            .deadline_ms = deadline_ms,
        };

        rc = send_arm(client, &req, &resp, err, errlen);
        if (rc)
            goto out;
        rc = append_assignments(resp.json, items, count);
        if (rc) {
            snprintf(err, errlen,
                     "%s failed: a page has no value array; retrying will "
                     "not help",
                     operation);
            goto out;
        }
        next = cJSON_GetObjectItemCaseSensitive(resp.json, "nextLink");
        free(url);
        url = NULL;
        if (cJSON_IsString(next)) {
            if (!azidt_azure_link_is_under(next->valuestring,
                                           arm_endpoint(client))) {
                rc = AZIDT_ERR_REMOTE;
                snprintf(err, errlen,
                         "%s failed: the next page link points outside the "
                         "ARM endpoint %s; retrying will not help",
                         operation, arm_endpoint(client));
                goto out;
            }
            url = strdup(next->valuestring);
            if (!url) {
                rc = AZIDT_ERR_NOMEM;
                goto out;
            }
        }
        azidt_azure_response_clear(&resp);
    }
out:
    azidt_azure_response_clear(&resp);
    free(url);
    if (rc) {
        free(*items);
        *items = NULL;
        *count = 0;
    }
    return rc;
}

/* A new service principal may not have replicated to ARM's directory view
 * yet; ARM then returns 400 PrincipalNotFound.
 * NOTE: ARM skips that lookup when principalType is sent, as it always is
 * here, so no test reaches this retry. */
static bool retry_principal_not_found(const struct azidt_azure_response *resp,
                                      void *ctx)
{
    (void)ctx;
    return resp->status == 400 &&
           strcasecmp(resp->error_code, "PrincipalNotFound") == 0;
}

/* After 409 RoleAssignmentExists: find the equal assignment and adopt it. */
static azidt_err adopt_existing(struct azidt_azure_client *client,
                                const char *scope,
                                const char *role_definition_id,
                                const char *principal_id, int64_t deadline_ms,
                                struct azidt_arm_role_assignment *out,
                                char *err, size_t errlen)
{
    struct azidt_arm_role_assignment *items = NULL;
    const char *role = azidt_arm_role_guid(role_definition_id);
    size_t count = 0;
    azidt_err rc;

    rc = azidt_arm_role_assignment_list(
        client, scope, principal_id, deadline_ms, &items, &count, err, errlen);
    if (rc)
        return rc;
    rc = AZIDT_ERR_CONFLICT;
    for (size_t i = 0; i < count; i++) {
        if (scopes_equal(items[i].scope, scope) &&
            strcasecmp(azidt_arm_role_guid(items[i].role_definition_id),
                       role) == 0) {
            *out = items[i];
            rc = AZIDT_OK;
            break;
        }
    }
    free(items);
    if (rc)
        snprintf(err, errlen,
                 "assign role %.64s to principal %.64s at %.300s failed: ARM "
                 "reports RoleAssignmentExists but lists no such assignment; "
                 "retrying later may help",
                 role, principal_id, scope);
    else
        AZIDT_LOG_INFO("role assignment exists, adopting it", "scope", scope,
                       "principalId", principal_id, "name", out->name);
    return rc;
}

static cJSON *assignment_body(const char *role_definition_id,
                              const char *principal_id)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *props = cJSON_AddObjectToObject(body, "properties");

    /* principalType lets ARM skip the directory lookup that fails while
     * a new principal is still replicating. */
    if (!props ||
        !cJSON_AddStringToObject(props, "roleDefinitionId",
                                 role_definition_id) ||
        !cJSON_AddStringToObject(props, "principalId", principal_id) ||
        !cJSON_AddStringToObject(props, "principalType", "ServicePrincipal")) {
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

azidt_err azidt_arm_role_assignment_create(
    struct azidt_azure_client *client, const char *scope,
    const char *role_definition_id, const char *principal_id,
    int64_t deadline_ms, struct azidt_arm_role_assignment *out, bool *created,
    char *err, size_t errlen)
{
    struct azidt_azure_response resp = {0};
    char name[AZIDT_UUID_TEXT_LEN], operation[600];
    char *url = NULL;
    cJSON *body = NULL;
    size_t url_len;
    azidt_err rc;

    memset(out, 0, sizeof(*out));
    *created = false;
    snprintf(operation, sizeof(operation),
             "assign role %.64s to principal %.64s at %.300s",
             azidt_arm_role_guid(role_definition_id), principal_id, scope);
    if (!azidt_arm_scope_is_valid(scope))
        return invalid_input(operation, "the scope is not a valid ARM scope",
                             err, errlen);

    azidt_arm_role_assignment_name(scope, role_definition_id, principal_id,
                                   name);
    url_len = strlen(arm_endpoint(client)) + strlen(scope) + 256;
    url = malloc(url_len);
    body = assignment_body(role_definition_id, principal_id);
    if (!url || !body) {
        rc = AZIDT_ERR_NOMEM;
        snprintf(err, errlen, "%s failed: out of memory", operation);
        goto out;
    }
    snprintf(url, url_len,
             "%s%s/providers/Microsoft.Authorization/roleAssignments/%s"
             "?api-version=%s",
             arm_endpoint(client), scope, name,
             AZIDT_ARM_AUTHORIZATION_API_VERSION);

    struct azidt_azure_request req = {
        .operation = operation,
        .method = "PUT",
        .url = url,
        .json = body,
        .idempotent = true,
        .retryable = retry_principal_not_found,
        .deadline_ms = deadline_ms,
    };
    rc = send_arm(client, &req, &resp, err, errlen);
    if (rc == AZIDT_OK) {
        fill_assignment(resp.json, out);
        *created = resp.status == 201;
        if (!out->id[0])
            rc = AZIDT_ERR_REMOTE;
    } else if (rc == AZIDT_ERR_CONFLICT &&
               strcasecmp(resp.error_code, "RoleAssignmentExists") == 0) {
        rc = adopt_existing(client, scope, role_definition_id, principal_id,
                            deadline_ms, out, err, errlen);
    }
    if (rc == AZIDT_ERR_REMOTE && !err[0])
        snprintf(err, errlen,
                 "%s failed: ARM answered without an id; retrying will not "
                 "help",
                 operation);
out:
    azidt_azure_response_clear(&resp);
    cJSON_Delete(body);
    free(url);
    return rc;
}

azidt_err azidt_arm_role_assignment_delete(struct azidt_azure_client *client,
                                           const char *id, int64_t deadline_ms,
                                           char *err, size_t errlen)
{
    struct azidt_azure_response resp;
    char operation[AZIDT_ARM_ID_MAX + 64];
    char *url = NULL;
    size_t url_len;
    azidt_err rc;

    snprintf(operation, sizeof(operation), "delete role assignment %s", id);
    if (!azidt_arm_scope_is_valid(id))
        return invalid_input(operation, "the id is not a valid ARM id", err,
                             errlen);
    url_len = strlen(arm_endpoint(client)) + strlen(id) + 64;
    url = malloc(url_len);
    if (!url)
        return AZIDT_ERR_NOMEM;
    snprintf(url, url_len, "%s%s?api-version=%s", arm_endpoint(client), id,
             AZIDT_ARM_AUTHORIZATION_API_VERSION);

    struct azidt_azure_request req = {
        .operation = operation,
        .method = "DELETE",
        .url = url,
        .idempotent = true,
        .deadline_ms = deadline_ms,
    };
    rc = send_arm(client, &req, &resp, err, errlen);
    if (rc == AZIDT_ERR_NOT_FOUND) {
        rc = AZIDT_OK;
        err[0] = '\0';
    }
    azidt_azure_response_clear(&resp);
    free(url);
    return rc;
}

/* ---- resource groups ---- */

azidt_err azidt_arm_resource_group_get(struct azidt_azure_client *client,
                                       const char *name, int64_t deadline_ms,
                                       cJSON **group, char *err, size_t errlen)
{
    struct azidt_azure_response resp;
    char url[2048], encoded[800], operation[400];
    azidt_err rc;

    if (group)
        *group = NULL;
    snprintf(operation, sizeof(operation), "read resource group '%.200s'",
             name);
    if (!name[0] ||
        azidt_azure_url_escape(name, encoded, sizeof(encoded)) >=
            sizeof(encoded) ||
        format_url(url, sizeof(url),
                   "%s/subscriptions/%s/resourcegroups/%s?api-version=%s",
                   arm_endpoint(client), subscription(client), encoded,
                   AZIDT_ARM_RESOURCES_API_VERSION))
        return invalid_input(operation, "the name is empty or too long", err,
                             errlen);

    struct azidt_azure_request req = {
        .operation = operation,
        .method = "GET",
        .url = url,
        .idempotent = true,
        .deadline_ms = deadline_ms,
    };
    rc = send_arm(client, &req, &resp, err, errlen);
    if (rc == AZIDT_ERR_NOT_FOUND) {
        snprintf(err, errlen,
                 "resource group '%.200s' does not exist in subscription %s "
                 "(%s); name an existing resource group; retrying will not "
                 "help",
                 name, subscription(client),
                 resp.error_code[0] ? resp.error_code : "HTTP 404");
    } else if (rc == AZIDT_OK && group) {
        *group = resp.json;
        resp.json = NULL;
    }
    azidt_azure_response_clear(&resp);
    return rc;
}
