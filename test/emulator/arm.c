/*
 * Azure Resource Manager: the subscription, resource groups, built-in role
 * definitions and role assignments (Microsoft.Authorization). Callers are
 * authorised by their own role assignments, as ARM does: an action is
 * allowed when an assignment at or above the scope grants a role whose
 * actions match it.
 */
#include "emulator.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTHZ "/providers/Microsoft.Authorization/"

/* The parts of an ARM path. */
struct apath {
    enum {
        ARM_UNKNOWN,
        ARM_SUBSCRIPTION,
        ARM_GROUPS,
        ARM_GROUP,
        ARM_ASSIGNMENTS,
        ARM_ASSIGNMENT,
        ARM_DEFINITIONS,
        ARM_DEFINITION,
    } kind;
    char scope[512]; /* without a trailing slash; "" for the root */
    char name[256];  /* assignment name, definition GUID or group */
};

static const char *json_str(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(obj, key));
}

void emu_arm_error(struct emu_request *req, int status, const char *code,
                   const char *message)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(body, "error");

    cJSON_AddStringToObject(err, "code", code);
    cJSON_AddStringToObject(err, "message", message);
    emu_reply_json(req, status, body);
}

static void arm_errorf(struct emu_request *req, int status, const char *code,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void arm_errorf(struct emu_request *req, int status, const char *code,
                       const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    emu_arm_error(req, status, code, msg ? msg : code);
    free(msg);
}

static bool parse_authz(const char *path, const char *at, struct apath *ap)
{
    const char *rest = at + strlen(AUTHZ);
    const char *slash = strchr(rest, '/');
    size_t type_len = slash ? (size_t)(slash - rest) : strlen(rest);
    bool has_name = slash && slash[1] != '\0';

    snprintf(ap->scope, sizeof(ap->scope), "%.*s", (int)(at - path), path);
    if (has_name) {
        if (strchr(slash + 1, '/'))
            return false;
        snprintf(ap->name, sizeof(ap->name), "%s", slash + 1);
    }
    if (type_len == strlen("roleAssignments") &&
        strncasecmp(rest, "roleAssignments", type_len) == 0)
        ap->kind = has_name ? ARM_ASSIGNMENT : ARM_ASSIGNMENTS;
    else if (type_len == strlen("roleDefinitions") &&
             strncasecmp(rest, "roleDefinitions", type_len) == 0)
        ap->kind = has_name ? ARM_DEFINITION : ARM_DEFINITIONS;
    else
        return false;
    return true;
}

static bool apath_parse(const char *path, struct apath *ap)
{
    const char *at = strcasestr(path, AUTHZ);
    const char *rest, *slash;
    size_t sub_len;

    memset(ap, 0, sizeof(*ap));
    if (at)
        return parse_authz(path, at, ap);
    if (strncasecmp(path, "/subscriptions/", 15) != 0)
        return false;
    rest = path + 15;
    slash = strchr(rest, '/');
    sub_len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (sub_len == 0 || sub_len >= 64)
        return false;
    snprintf(ap->scope, sizeof(ap->scope), "/subscriptions/%.*s", (int)sub_len,
             rest);
    rest += sub_len;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        ap->kind = ARM_SUBSCRIPTION;
        return true;
    }
    if (strcasecmp(rest, "/resourcegroups") == 0) {
        ap->kind = ARM_GROUPS;
        return true;
    }
    if (strncasecmp(rest, "/resourcegroups/", 16) == 0 && rest[16] &&
        !strchr(rest + 16, '/') && strlen(rest + 16) < sizeof(ap->name)) {
        ap->kind = ARM_GROUP;
        snprintf(ap->name, sizeof(ap->name), "%s", rest + 16);
        return true;
    }
    return false;
}

static const char *arm_template(const struct apath *ap)
{
    switch (ap->kind) {
    case ARM_SUBSCRIPTION:
        return "/subscriptions/{subscriptionId}";
    case ARM_GROUPS:
        return "/subscriptions/{subscriptionId}/resourcegroups";
    case ARM_GROUP:
        return "/subscriptions/{subscriptionId}/resourcegroups/"
               "{resourceGroupName}";
    case ARM_ASSIGNMENTS:
        return "{scope}/providers/Microsoft.Authorization/roleAssignments";
    case ARM_ASSIGNMENT:
        return "{scope}/providers/Microsoft.Authorization/roleAssignments/"
               "{roleAssignmentName}";
    case ARM_DEFINITIONS:
        return "{scope}/providers/Microsoft.Authorization/roleDefinitions";
    case ARM_DEFINITION:
        return "{scope}/providers/Microsoft.Authorization/roleDefinitions/"
               "{roleDefinitionId}";
    default:
        return NULL;
    }
}

bool emu_arm_route(struct emu_request *req)
{
    struct apath ap;
    const char *tmpl = apath_parse(req->path, &ap) ? arm_template(&ap) : NULL;

    snprintf(req->route, sizeof(req->route), "%s %s", req->method,
             tmpl ? tmpl : req->path);
    return tmpl != NULL;
}

/* ---- scopes and authorisation ---- */

/* True when outer is the same scope as inner or one of its ancestors. */
static bool scope_covers(const char *outer, const char *inner)
{
    size_t len = strlen(outer);

    if (len == 0 || strcmp(outer, "/") == 0)
        return true;
    return strncasecmp(outer, inner, len) == 0 &&
           (inner[len] == '\0' || inner[len] == '/');
}

static const cJSON *props_of(const struct emu_assignment *ra)
{
    return cJSON_GetObjectItem(ra->obj, "properties");
}

static const char *role_guid(const char *role_id)
{
    const char *slash = role_id ? strrchr(role_id, '/') : NULL;

    return slash ? slash + 1 : role_id;
}

static bool authorized(const char *oid, const char *scope, const char *action)
{
    const struct emu_assignment *ra;

    for (ra = emu.assignments; ra; ra = ra->next) {
        const cJSON *props = props_of(ra);
        const cJSON *def;

        if (!emu_strcaseeq(json_str(props, "principalId"), oid) ||
            !scope_covers(json_str(props, "scope"), scope))
            continue;
        def = emu_role_definition_find(
            role_guid(json_str(props, "roleDefinitionId")));
        if (def && emu_role_allows(def, action))
            return true;
    }
    return false;
}

/* Check the subscription, the caller's access and the resource group in
 * the order ARM does. Sets the error response and returns false on failure. */
static bool check_scope(struct emu_request *req, const cJSON *claims,
                        const char *scope, const char *action)
{
    char sub[64] = "", group[256] = "";
    const char *oid = json_str(claims, "oid");

    if (strncasecmp(scope, "/subscriptions/", 15) == 0) {
        sscanf(scope, "/subscriptions/%63[^/]/%*[^/]/%255[^/]", sub, group);
        if (!emu_strcaseeq(sub, emu.subscription)) {
            arm_errorf(req, 404, "SubscriptionNotFound",
                       "The subscription '%s' could not be found.", sub);
            return false;
        }
        if (strncasecmp(scope + 15 + strlen(sub), "/resourceGroups/", 16) != 0)
            group[0] = '\0';
    } else if (scope[0] != '\0') {
        arm_errorf(req, 400, "InvalidScope",
                   "The scope '%s' is not valid for this operation.", scope);
        return false;
    }
    if (!authorized(oid, scope[0] ? scope : "/", action)) {
        char *msg = emu_printf(
            "The client '%s' with object id '%s' does not have "
            "authorization or an ABAC condition not fulfilled to perform "
            "action '%s' over scope '%s' or the scope is invalid. If access "
            "was recently granted, please refresh your credentials.",
            json_str(claims, "appid"), oid, action, scope[0] ? scope : "/");

        emu_arm_error(req, 403, "AuthorizationFailed", msg);
        free(msg);
        return false;
    }
    if (group[0]) {
        const cJSON *rg;

        cJSON_ArrayForEach(rg, emu.resource_groups)
        {
            if (emu_strcaseeq(json_str(rg, "name"), group))
                return true;
        }
        arm_errorf(req, 404, "ResourceGroupNotFound",
                   "Resource group '%s' could not be found.", group);
        return false;
    }
    return true;
}

/* ---- api-version ---- */

static bool check_api_version(struct emu_request *req, const struct apath *ap)
{
    static const char *const resources[] = {
        "2019-10-01", "2020-06-01", "2020-10-01", "2021-01-01",
        "2021-04-01", "2022-09-01", "2022-12-01", NULL};
    static const char *const authz[] = {
        "2015-07-01",         "2018-01-01-preview",
        "2018-09-01-preview", "2020-04-01-preview",
        "2020-10-01-preview", "2021-04-01-preview",
        "2022-01-01-preview", "2022-04-01",
        "2022-05-01-preview", NULL};
    const char *version = emu_query(req, "api-version");
    bool is_authz = ap->kind >= ARM_ASSIGNMENTS;
    const char *const *list = is_authz ? authz : resources;
    char supported[512] = "";
    size_t i;

    if (!version) {
        emu_arm_error(req, 400, "MissingApiVersionParameter",
                      "The api-version query parameter (?api-version=) is "
                      "required for all requests.");
        return false;
    }
    for (i = 0; list[i]; i++) {
        if (strcmp(list[i], version) == 0)
            return true;
        snprintf(supported + strlen(supported),
                 sizeof(supported) - strlen(supported), "%s%s", i ? ", " : "",
                 list[i]);
    }
    if (is_authz)
        arm_errorf(req, 400, "NoRegisteredProviderFound",
                   "No registered resource provider found for location "
                   "'global' and API version '%s' for type '%s'. The "
                   "supported api-versions are '%s'.",
                   version,
                   ap->kind <= ARM_ASSIGNMENT ? "roleAssignments"
                                              : "roleDefinitions",
                   supported);
    else
        arm_errorf(req, 400, "InvalidApiVersionParameter",
                   "The api-version '%s' is invalid. The supported versions "
                   "are '%s'.",
                   version, supported);
    return false;
}

/* ---- paging ---- */

static void reply_list(struct emu_request *req, cJSON *items)
{
    const char *skip = emu_query(req, "$skiptoken");
    int offset = skip ? atoi(skip) : 0;
    int total = cJSON_GetArraySize(items), i;
    int size = emu.arm_page_size;
    cJSON *body = cJSON_CreateObject();
    cJSON *value = cJSON_AddArrayToObject(body, "value");

    if (offset < 0)
        offset = 0;
    for (i = offset; i < total && i < offset + size; i++)
        cJSON_AddItemToArray(
            value, cJSON_Duplicate(cJSON_GetArrayItem(items, i), true));
    if (offset + size < total) {
        const char *filter = emu_query(req, "$filter");
        char *enc_filter = filter ? emu_url_encode(filter) : NULL;
        char *enc_version = emu_url_encode(emu_query(req, "api-version"));
        char *link = emu_printf(
            "%s%s?%s%s%sapi-version=%s&$skiptoken=%d", emu.urls[EMU_ARM],
            req->path, filter ? "$filter=" : "", filter ? enc_filter : "",
            filter ? "&" : "", enc_version, offset + size);

        cJSON_AddStringToObject(body, "nextLink", link);
        free(link);
        free(enc_filter);
        free(enc_version);
    }
    cJSON_Delete(items);
    emu_reply_json(req, 200, body);
}

/* ---- role assignments ---- */

static struct emu_assignment *find_assignment_name(const char *name)
{
    struct emu_assignment *ra;

    for (ra = emu.assignments; ra; ra = ra->next) {
        if (emu_strcaseeq(json_str(ra->obj, "name"), name))
            return ra;
    }
    return NULL;
}

static struct emu_assignment *find_assignment(const char *scope,
                                              const char *name)
{
    struct emu_assignment *ra = find_assignment_name(name);

    if (ra && emu_strcaseeq(json_str(props_of(ra), "scope"), scope))
        return ra;
    return NULL;
}

/* Parse the role assignment list filter; sets the error response and returns
 * false when it is not supported. */
static bool parse_ra_filter(struct emu_request *req, bool *at_scope,
                            char *principal, size_t size)
{
    const char *filter = emu_query(req, "$filter");
    const char *p;
    char value[64];

    *at_scope = false;
    principal[0] = '\0';
    if (!filter || !*filter)
        return true;
    p = filter;
    while (*p == ' ')
        p++;
    if (strncasecmp(p, "atScope()", 9) == 0) {
        *at_scope = true;
        p += 9;
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return true;
        if (strncasecmp(p, "and ", 4) != 0)
            goto bad;
        p += 4;
        while (*p == ' ')
            p++;
    }
    if (sscanf(p, "principalId eq '%63[^']'", value) == 1 ||
        sscanf(p, "assignedTo('%63[^']')", value) == 1) {
        snprintf(principal, size, "%s", value);
        return true;
    }
bad:
    arm_errorf(req, 400, "UnsupportedQuery",
               "The filter '%s' is not supported. Supported filters are "
               "atScope(), principalId eq '{value}' and "
               "assignedTo('{value}').",
               filter);
    return false;
}

static void list_assignments(struct emu_request *req, const struct apath *ap)
{
    const struct emu_assignment *ra;
    char principal[64];
    bool at_scope;
    cJSON *items;

    if (!parse_ra_filter(req, &at_scope, principal, sizeof(principal)))
        return;
    items = cJSON_CreateArray();
    for (ra = emu.assignments; ra; ra = ra->next) {
        const cJSON *props = props_of(ra);
        const char *scope = json_str(props, "scope");
        bool above = scope_covers(scope, ap->scope);
        bool below = scope_covers(ap->scope, scope);

        if (principal[0] &&
            !emu_strcaseeq(json_str(props, "principalId"), principal))
            continue;
        if (at_scope ? !above : !(above || below))
            continue;
        cJSON_AddItemToArray(items, cJSON_Duplicate(ra->obj, true));
    }
    reply_list(req, items);
}

static void principal_not_found(struct emu_request *req, const char *id)
{
    char compact[40];
    size_t i, n = 0;
    char *msg;

    /* ARM prints the principal id without dashes in this message. */
    for (i = 0; id[i] && n < sizeof(compact) - 1; i++) {
        if (id[i] != '-')
            compact[n++] = id[i];
    }
    compact[n] = '\0';
    msg = emu_printf("Principal %s does not exist in the directory %s. Check "
                     "that you have the correct principal ID. If you are "
                     "creating this principal and then immediately assigning "
                     "a role, this error might be related to a replication "
                     "delay. In this case, set the role assignment "
                     "principalType property to a value, such as "
                     "ServicePrincipal, User, or Group.  See "
                     "https://aka.ms/docs-principaltype",
                     compact, emu.tenant);
    emu_arm_error(req, 400, "PrincipalNotFound", msg);
    free(msg);
}

/* Validate a PUT body; sets the error response and returns false on error. */
static bool check_assignment_body(struct emu_request *req, const cJSON *props,
                                  const char **guid)
{
    const char *role_id = json_str(props, "roleDefinitionId");
    const char *principal = json_str(props, "principalId");
    const char *type = json_str(props, "principalType");
    const char *prefix;
    char expect[64];
    struct emu_sp *sp;

    if (!role_id || !principal) {
        emu_arm_error(req, 400, "InvalidRequestContent",
                      "The request content was invalid and could not be "
                      "deserialized: properties.roleDefinitionId and "
                      "properties.principalId are required.");
        return false;
    }
    *guid = role_guid(role_id);
    /* The id may carry the subscription prefix or none. */
    snprintf(expect, sizeof(expect), "/subscriptions/%s", emu.subscription);
    prefix = strcasestr(role_id, AUTHZ "roleDefinitions/");
    if (!prefix || !emu_role_definition_find(*guid) ||
        (prefix != role_id &&
         ((size_t)(prefix - role_id) != strlen(expect) ||
          strncasecmp(role_id, expect, strlen(expect)) != 0))) {
        arm_errorf(req, 400, "RoleDefinitionDoesNotExist",
                   "The specified role definition with ID '%s' does not "
                   "exist.",
                   *guid);
        return false;
    }
    if (!emu_is_guid(principal)) {
        emu_arm_error(req, 400, "InvalidPrincipalId",
                      "A valid principal ID must be provided for role "
                      "assignment.");
        return false;
    }
    if (type && strcmp(type, "User") != 0 && strcmp(type, "Group") != 0 &&
        strcmp(type, "ServicePrincipal") != 0 &&
        strcmp(type, "ForeignGroup") != 0 && strcmp(type, "Device") != 0) {
        arm_errorf(req, 400, "InvalidRequestContent",
                   "The request content was invalid and could not be "
                   "deserialized: the principal type '%s' is not one of "
                   "User, Group, ServicePrincipal, ForeignGroup, Device.",
                   type);
        return false;
    }
    /* ARM looks the principal up in the directory unless principalType is
     * given; a new service principal may not have replicated there yet. */
    sp = emu_sp_find_id(principal, false);
    if (!sp || (!type && emu_replicating(sp->created_ms))) {
        principal_not_found(req, principal);
        return false;
    }
    if (type && strcmp(type, "ServicePrincipal") != 0) {
        char *msg = emu_printf("The PrincipalId '%s' has type "
                               "'ServicePrincipal', which is different from "
                               "specified PrincipalType '%s'.",
                               principal, type);

        emu_arm_error(req, 400, "UnmatchedPrincipalType", msg);
        free(msg);
        return false;
    }
    return true;
}

static void put_assignment(struct emu_request *req, const cJSON *claims,
                           const struct apath *ap)
{
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *props = cJSON_GetObjectItem(body, "properties");
    struct emu_assignment *ra;
    const char *guid = NULL, *principal;
    const cJSON *desc;

    if (!emu_is_guid(ap->name)) {
        arm_errorf(req, 400, "InvalidRoleAssignmentId",
                   "The role assignment ID '%s' is not valid. The role "
                   "assignment ID must be a GUID.",
                   ap->name);
        goto out;
    }
    if (!cJSON_IsObject(props)) {
        emu_arm_error(req, 400, "InvalidRequestContent",
                      "The request content was invalid and could not be "
                      "deserialized: 'properties' is required.");
        goto out;
    }
    if (!check_assignment_body(req, props, &guid))
        goto out;
    principal = json_str(props, "principalId");
    ra = find_assignment_name(ap->name);
    if (ra) {
        const cJSON *old = props_of(ra);

        if (!emu_strcaseeq(json_str(old, "scope"), ap->scope) ||
            !emu_strcaseeq(json_str(old, "principalId"), principal) ||
            !emu_strcaseeq(role_guid(json_str(old, "roleDefinitionId")),
                           guid)) {
            emu_arm_error(req, 400, "RoleAssignmentUpdateNotPermitted",
                          "Tenant ID, application ID, principal ID, and "
                          "scope are not allowed to be updated.");
            goto out;
        }
        emu_reply_json(req, 200, cJSON_Duplicate(ra->obj, true));
        goto out;
    }
    for (ra = emu.assignments; ra; ra = ra->next) {
        const cJSON *old = props_of(ra);

        if (emu_strcaseeq(json_str(old, "scope"), ap->scope) &&
            emu_strcaseeq(json_str(old, "principalId"), principal) &&
            emu_strcaseeq(role_guid(json_str(old, "roleDefinitionId")), guid)) {
            emu_arm_error(req, 409, "RoleAssignmentExists",
                          "The role assignment already exists.");
            goto out;
        }
    }
    ra = emu_assignment_add(ap->scope, ap->name, guid, principal,
                            json_str(props, "principalType")
                                ? json_str(props, "principalType")
                                : "ServicePrincipal",
                            json_str(claims, "oid"));
    desc = cJSON_GetObjectItem(props, "description");
    if (cJSON_IsString(desc))
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(ra->obj, "properties"),
                                  "description",
                                  cJSON_CreateString(desc->valuestring));
    emu_reply_json(req, 201, cJSON_Duplicate(ra->obj, true));
out:
    cJSON_Delete(body);
}

static void handle_assignment(struct emu_request *req, const cJSON *claims,
                              const struct apath *ap)
{
    const char *m = req->method;
    struct emu_assignment *ra, **link;

    if (strcmp(m, "PUT") == 0) {
        if (check_scope(req, claims, ap->scope,
                        "Microsoft.Authorization/roleAssignments/write"))
            put_assignment(req, claims, ap);
        return;
    }
    if (strcmp(m, "GET") == 0) {
        if (!check_scope(req, claims, ap->scope,
                         "Microsoft.Authorization/roleAssignments/read"))
            return;
        ra = find_assignment(ap->scope, ap->name);
        if (ra)
            emu_reply_json(req, 200, cJSON_Duplicate(ra->obj, true));
        else
            arm_errorf(req, 404, "RoleAssignmentNotFound",
                       "The role assignment '%s' is not found.", ap->name);
        return;
    }
    if (strcmp(m, "DELETE") == 0) {
        if (!check_scope(req, claims, ap->scope,
                         "Microsoft.Authorization/roleAssignments/delete"))
            return;
        ra = find_assignment(ap->scope, ap->name);
        if (!ra) {
            emu_reply_empty(req, 204);
            return;
        }
        for (link = &emu.assignments; *link != ra; link = &(*link)->next)
            ;
        *link = ra->next;
        emu_reply_json(req, 200, ra->obj);
        free(ra);
        return;
    }
    arm_errorf(req, 405, "MethodNotAllowed",
               "The requested method '%s' is not allowed.", m);
}

/* ---- role definitions ---- */

static cJSON *definition_at(const cJSON *def, const char *scope)
{
    cJSON *copy = cJSON_Duplicate(def, true);
    char *id = emu_printf("%s" AUTHZ "roleDefinitions/%s", scope,
                          json_str(def, "name"));

    cJSON_ReplaceItemInObject(copy, "id", cJSON_CreateString(id));
    free(id);
    return copy;
}

static void list_definitions(struct emu_request *req, const struct apath *ap)
{
    const char *filter = emu_query(req, "$filter");
    const cJSON *def;
    char value[128] = "";
    bool by_name = false, by_type = false;
    cJSON *items;

    if (filter && *filter && strcasecmp(filter, "atScopeAndBelow()") != 0) {
        if (sscanf(filter, "roleName eq '%127[^']'", value) == 1)
            by_name = true;
        else if (sscanf(filter, "type eq '%127[^']'", value) == 1)
            by_type = true;
        else {
            arm_errorf(req, 400, "UnsupportedQuery",
                       "The filter '%s' is not supported. Supported filters "
                       "are roleName eq '{value}', type eq '{value}' and "
                       "atScopeAndBelow().",
                       filter);
            return;
        }
    }
    items = cJSON_CreateArray();
    cJSON_ArrayForEach(def, emu_role_definitions())
    {
        const cJSON *props = cJSON_GetObjectItem(def, "properties");

        if (by_name && !emu_strcaseeq(json_str(props, "roleName"), value))
            continue;
        if (by_type && !emu_strcaseeq(json_str(props, "type"), value))
            continue;
        cJSON_AddItemToArray(items, definition_at(def, ap->scope));
    }
    reply_list(req, items);
}

/* ---- subscription and resource groups ---- */

static void get_subscription(struct emu_request *req)
{
    cJSON *sub = cJSON_CreateObject();
    cJSON *policies;
    char *id = emu_printf("/subscriptions/%s", emu.subscription);
    const char *name = json_str(emu.config, "subscriptionDisplayName");

    cJSON_AddStringToObject(sub, "id", id);
    cJSON_AddStringToObject(sub, "subscriptionId", emu.subscription);
    cJSON_AddStringToObject(sub, "tenantId", emu.tenant);
    cJSON_AddStringToObject(sub, "displayName",
                            name ? name : "Azure emulator subscription");
    cJSON_AddStringToObject(sub, "state", "Enabled");
    policies = cJSON_AddObjectToObject(sub, "subscriptionPolicies");
    cJSON_AddStringToObject(policies, "locationPlacementId",
                            "Public_2014-09-01");
    cJSON_AddStringToObject(policies, "quotaId", "PayAsYouGo_2014-09-01");
    cJSON_AddStringToObject(policies, "spendingLimit", "Off");
    cJSON_AddStringToObject(sub, "authorizationSource", "RoleBased");
    free(id);
    emu_reply_json(req, 200, sub);
}

static void get_group(struct emu_request *req, const struct apath *ap)
{
    const cJSON *rg;

    cJSON_ArrayForEach(rg, emu.resource_groups)
    {
        if (emu_strcaseeq(json_str(rg, "name"), ap->name)) {
            emu_reply_json(req, 200, cJSON_Duplicate(rg, true));
            return;
        }
    }
    arm_errorf(req, 404, "ResourceGroupNotFound",
               "Resource group '%s' could not be found.", ap->name);
}

static void add_rate_headers(struct emu_request *req)
{
    if (strcmp(req->method, "GET") == 0)
        emu_add_header(req, "x-ms-ratelimit-remaining-subscription-reads",
                       "11999");
    else if (strcmp(req->method, "DELETE") == 0)
        emu_add_header(req, "x-ms-ratelimit-remaining-subscription-deletes",
                       "14999");
    else
        emu_add_header(req, "x-ms-ratelimit-remaining-subscription-writes",
                       "1199");
}

static void dispatch(struct emu_request *req, const cJSON *claims,
                     const struct apath *ap)
{
    bool get = strcmp(req->method, "GET") == 0;

    if (!get && ap->kind != ARM_ASSIGNMENT) {
        arm_errorf(req, 405, "MethodNotAllowed",
                   "The requested method '%s' is not allowed.", req->method);
        return;
    }
    switch (ap->kind) {
    case ARM_SUBSCRIPTION:
        if (check_scope(req, claims, ap->scope,
                        "Microsoft.Resources/subscriptions/read"))
            get_subscription(req);
        break;
    case ARM_GROUPS:
        if (check_scope(req, claims, ap->scope,
                        "Microsoft.Resources/subscriptions/resourceGroups/"
                        "read"))
            reply_list(req, cJSON_Duplicate(emu.resource_groups, true));
        break;
    case ARM_GROUP:
        /* Authorised at the subscription, so a missing group gives 404
         * to a caller who may read the subscription. */
        if (check_scope(req, claims, ap->scope,
                        "Microsoft.Resources/subscriptions/resourceGroups/"
                        "read"))
            get_group(req, ap);
        break;
    case ARM_ASSIGNMENTS:
        if (check_scope(req, claims, ap->scope,
                        "Microsoft.Authorization/roleAssignments/read"))
            list_assignments(req, ap);
        break;
    case ARM_ASSIGNMENT:
        handle_assignment(req, claims, ap);
        break;
    case ARM_DEFINITIONS:
        /* Built-in definitions at the root scope are readable by every
         * signed-in caller. */
        if (!ap->scope[0] ||
            check_scope(req, claims, ap->scope,
                        "Microsoft.Authorization/roleDefinitions/read"))
            list_definitions(req, ap);
        break;
    case ARM_DEFINITION: {
        const cJSON *def = emu_role_definition_find(ap->name);

        if (ap->scope[0] &&
            !check_scope(req, claims, ap->scope,
                         "Microsoft.Authorization/roleDefinitions/read"))
            break;
        if (def)
            emu_reply_json(req, 200, definition_at(def, ap->scope));
        else
            arm_errorf(req, 404, "RoleDefinitionDoesNotExist",
                       "The role definition '%s' could not be found.",
                       ap->name);
        break;
    }
    default:
        break;
    }
}

void emu_arm_handle(struct emu_request *req)
{
    struct apath ap;
    cJSON *claims;

    req->content_type = "application/json; charset=utf-8";
    add_rate_headers(req);
    if (!apath_parse(req->path, &ap) || !arm_template(&ap)) {
        arm_errorf(req, 404, "InvalidResourceType",
                   "The resource type could not be found for the path "
                   "'%s'.",
                   req->path);
        return;
    }
    if (!check_api_version(req, &ap))
        return;
    claims = emu_authenticate(req, EMU_ARM);
    if (claims)
        dispatch(req, claims, &ap);
    cJSON_Delete(claims);
}
